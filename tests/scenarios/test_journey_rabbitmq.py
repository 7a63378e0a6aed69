"""A saga's journey on real RabbitMQ with a real Celery worker: a chain whose middle task fails,
is dead-lettered by the broker, requeued by an operator and then succeeds reads as one story,
with the chain's other tasks as its parent and child. A poison message stays in the DLQ on a
requeue of all unless included. A task published twice under one id is counted as a duplicate."""

from __future__ import annotations

import importlib.util
import textwrap
import uuid

import pytest

from tests.scenarios.rabbitmq_team import (  # noqa: F401  (fixtures)
    Console,
    celery_project,
    console,
    ready_count,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.scenarios, pytest.mark.celery]

APP = """
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

LEDGER = Path({ledger!r})

app = Celery("saga", broker={url!r})
app.conf.update(
    accept_content=["json"],
    task_serializer="json",
    task_ignore_result=True,
    task_acks_late=True,
    task_acks_on_failure_or_timeout=False,  # a failure rejects: RabbitMQ dead-letters it
    worker_prefetch_multiplier=1,
    worker_send_task_events=True,
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.conf.task_queues = [
    Queue(
        "orders",
        Exchange("orders", type="direct"),
        routing_key="orders",
        queue_arguments={{"x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "orders.dlq"}},
    ),
    Queue("orders.dlq", Exchange("orders.dlx", type="direct"), routing_key="orders.dlq"),
]
app.conf.task_default_queue = "orders"


@app.task(name="saga.reserve")
def reserve(order):
    return order


@app.task(bind=True, name="saga.charge")
def charge(self, order):
    ledger = LEDGER / self.request.id
    first = not ledger.exists()
    ledger.write_text("charged")
    if first:
        raise RuntimeError("payment service down")
    return order


@app.task(name="saga.ship")
def ship(order):
    return order


@app.task(name="saga.refund")
def refund(order):
    raise RuntimeError("refunds are broken")
"""


def write_app(project):
    path = project.directory / "scenario_app.py"
    path.write_text(textwrap.dedent(APP.format(ledger=str(project.ledger), url=project.url)))
    spec = importlib.util.spec_from_file_location(f"saga_app_{uuid.uuid4().hex[:8]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    project.app_module = module
    project.declare_queues()
    return module


def journey(console: Console, task_id: str, token: str | None = None) -> dict:
    response = console.live.api(f"/api/v1/journeys/{task_id}", token or console.operator_token)
    assert response.status_code == 200, response.text
    return response.json()


def kinds(found: dict) -> list[str]:
    return [step["kind"] for step in found["steps"]]


def test_a_chain_whose_middle_task_dies_and_is_requeued_reads_as_one_journey(
    celery_project, console, rabbit_vhost, make_user
):
    from celery import chain

    app = write_app(celery_project)
    celery_project.start_worker(["orders"])
    result = chain(app.reserve.s(7), app.charge.s(), app.ship.s()).apply_async()
    reserve_id = result.parent.parent.id
    charge_id = result.parent.id

    wait_for(lambda: ready_count(rabbit_vhost, "orders.dlq") == 1, timeout=30, message="charge dead-lettered")
    wait_for(lambda: "failed" in kinds(journey(console, charge_id)), timeout=30, message="the failure seen")

    row = console.discovered_dlq("orders.dlq", "orders", 1)
    browsed = console.live.api(f"/api/v1/queues/{row['id']}/messages?limit=10", console.operator_token)
    assert browsed.status_code == 200 and browsed.json()["results"][0]["task_id"] == charge_id
    response = console.act(row, "requeue", {"ids": [charge_id]})
    assert response.status_code == 202, response.text
    action = console.finished(response.json()["id"])
    assert action["state"] == "succeeded" and action["done"] == 1

    def story():
        found = journey(console, charge_id)
        return found if found["state"] == "SUCCESS" and found["children"] else None

    found = wait_for(story, timeout=30, message="the requeued charge to succeed and ship to be sent")
    assert kinds(found) == [
        "sent", "received", "started", "failed", "dead_lettered", "browsed", "requeued", "received", "started",
        "succeeded",
    ], [(s["kind"], s["at"][11:]) for s in found["steps"]]  # fmt: skip
    by_kind = {step["kind"]: step for step in found["steps"]}
    operator = action["user"]
    assert by_kind["requeued"]["by"] == operator and by_kind["requeued"]["detail"]["action"] == action["id"]
    assert by_kind["requeued"]["detail"]["to"] == "orders"
    assert by_kind["browsed"]["by"] == operator and by_kind["browsed"]["detail"]["took_and_requeued"] is True
    assert by_kind["dead_lettered"]["place"] == "orders.dlq"
    assert by_kind["dead_lettered"]["detail"]["from"] == "orders"
    assert by_kind["dead_lettered"]["detail"]["reason"] == "rejected"
    assert "payment service down" in by_kind["failed"]["detail"]["exception"]
    assert by_kind["started"]["by"].startswith("scenario-")
    assert found["parent"]["task_id"] == reserve_id and found["parent"]["name"] == "saga.reserve"
    assert [(c["task_id"], c["name"]) for c in found["children"]] == [(result.id, "saga.ship")]
    assert found["saga"]["task_id"] == reserve_id
    assert found["duplicate_deliveries"] == 0

    _, viewer = make_user("viewer")
    seen = journey(console, charge_id, viewer)
    failed = next(step for step in seen["steps"] if step["kind"] == "failed")
    assert failed["detail"]["exception"] == "RuntimeError"
    assert console.live.api(f"/api/v1/journeys/{uuid.uuid4()}", viewer).status_code == 404


def test_a_poison_message_is_left_in_the_dlq_by_requeue_all_unless_included(
    celery_project, console, rabbit_vhost, settings
):
    """``refund`` always fails: requeued once it dies a second time (x-death count 2), which is
    poison at SWITCHYARD_POISON_DEATHS=2. A requeue of all takes the fresh dead letter only."""
    settings.SWITCHYARD_POISON_DEATHS = 2
    app = write_app(celery_project)
    celery_project.start_worker(["orders"])
    poisoned = app.refund.delay(1).id
    wait_for(lambda: ready_count(rabbit_vhost, "orders.dlq") == 1, timeout=30, message="refund dead-lettered")
    first = console.act(console.discovered_dlq("orders.dlq", "orders", 1), "requeue", {"all": True})
    assert console.finished(first.json()["id"])["done"] == 1
    fresh = app.refund.delay(2).id
    wait_for(lambda: ready_count(rabbit_vhost, "orders.dlq") == 2, timeout=30, message="both dead-lettered")

    row = console.discovered_dlq("orders.dlq", "orders", 2)
    action = console.finished(console.act(row, "requeue", {"all": True}).json()["id"])
    assert (action["state"], action["done"]) == ("succeeded", 1)
    marks = [s for s in journey(console, fresh)["steps"] if s["kind"] == "requeued"]
    assert [m["detail"]["action"] for m in marks] == [action["id"]]
    assert not [s for s in journey(console, poisoned)["steps"] if s["detail"].get("action") == action["id"]]
    wait_for(lambda: ready_count(rabbit_vhost, "orders.dlq") == 2, timeout=30, message="the fresh one back again")

    included = console.act(
        console.discovered_dlq("orders.dlq", "orders", 2), "requeue", {"all": True, "include_poison": True}
    )
    assert console.finished(included.json()["id"])["done"] == 2


def test_a_task_published_twice_under_one_id_is_a_duplicate_delivery(celery_project, console, rabbit_vhost):
    app = write_app(celery_project)
    celery_project.start_worker(["orders"])
    task_id = f"dup-{uuid.uuid4()}"
    app.reserve.apply_async((1,), task_id=task_id)
    app.reserve.apply_async((1,), task_id=task_id)

    def counted():
        found = journey_or_none(console, task_id)
        return found if found and found["duplicate_deliveries"] == 1 else None

    found = wait_for(counted, timeout=30, message="the second delivery counted")
    assert [s["kind"] for s in found["steps"] if s["detail"].get("duplicate")] == ["received", "started"]
    task = console.live.api(f"/api/v1/tasks/{task_id}", console.operator_token).json()
    assert task["duplicate_deliveries"] == 1


def journey_or_none(console: Console, task_id: str) -> dict | None:
    response = console.live.api(f"/api/v1/journeys/{task_id}", console.operator_token)
    return response.json() if response.status_code == 200 else None

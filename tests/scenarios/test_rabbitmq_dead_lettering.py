"""Requeue on RabbitMQ the ways teams dead-letter Celery tasks there: queue arguments, a policy, a
quorum queue's delivery limit, a queue's message TTL, a priority queue. The broker dead-letters for real (``x-death`` is
the broker's), the monitor discovers the queues and their link, an operator requeues through the
REST API, and the same worker then processes every message successfully."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.brokers.http import path_segment
from tests.scenarios.rabbitmq_team import (  # noqa: F401  (fixtures)
    CeleryProject,
    Console,
    celery_project,
    console,
    consumer_count,
    death_records,
    ready_count,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.scenarios, pytest.mark.celery]

SOURCE, DLQ = "orders", "orders.dlq"

DEAD_LETTERING_ARGUMENTS = """
app.conf.task_queues = [
    Queue(
        "orders",
        Exchange("orders", type="direct"),
        routing_key="orders",
        queue_arguments={"x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "orders.dlq"},
    ),
    Queue("orders.dlq", Exchange("orders.dlx", type="direct"), routing_key="orders.dlq"),
]
app.conf.task_default_queue = "orders"
"""

PLAIN_QUEUES_FOR_A_POLICY = """
app.conf.task_queues = [
    Queue("orders", Exchange("orders", type="direct"), routing_key="orders"),
    Queue("orders.dlq", Exchange("orders.dlx", type="fanout"), routing_key="orders.dlq"),
]
app.conf.task_default_queue = "orders"
"""

QUORUM_WITH_A_DELIVERY_LIMIT = """
app.conf.task_queues = [
    Queue(
        "orders",
        Exchange("orders", type="direct"),
        routing_key="orders",
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": 1,
            "x-dead-letter-exchange": "orders.dlx",
            "x-dead-letter-routing-key": "orders.dlq",
        },
    ),
    Queue(
        "orders.dlq",
        Exchange("orders.dlx", type="direct"),
        routing_key="orders.dlq",
        queue_arguments={"x-queue-type": "quorum"},
    ),
]
app.conf.task_default_queue = "orders"
"""

TIME_LIMITED_QUEUE = """
app.conf.task_queues = [
    Queue(
        "orders",
        Exchange("orders", type="direct"),
        routing_key="orders",
        queue_arguments={
            "x-message-ttl": 4000,
            "x-dead-letter-exchange": "orders.dlx",
            "x-dead-letter-routing-key": "orders.dlq",
        },
    ),
    Queue("orders.dlq", Exchange("orders.dlx", type="direct"), routing_key="orders.dlq"),
]
app.conf.task_default_queue = "orders"
"""

PRIORITY_QUEUE = """
app.conf.task_queues = [
    Queue(
        "orders",
        Exchange("orders", type="direct"),
        routing_key="orders",
        queue_arguments={
            "x-max-priority": 10,
            "x-dead-letter-exchange": "orders.dlx",
            "x-dead-letter-routing-key": "orders.dlq",
        },
    ),
    Queue("orders.dlq", Exchange("orders.dlx", type="direct"), routing_key="orders.dlq"),
]
app.conf.task_default_queue = "orders"
"""


def dead_letter(project: CeleryProject, vhost, ids: list[str], failures: int, timeout: float = 60.0) -> None:
    """Until the broker has dead-lettered every task into the DLQ after ``failures`` deliveries."""
    wait_for(
        lambda: ready_count(vhost, DLQ) == len(ids) and all(project.deliveries(i) == failures for i in ids),
        timeout=timeout,
        message=f"{len(ids)} tasks dead-lettered after {failures} deliveries each",
        diagnose=lambda: f"deliveries {[project.deliveries(i) for i in ids]}\n{project.worker_log()}",
    )
    assert ready_count(vhost, SOURCE) == 0


def requeue_all(console: Console, count: int) -> dict[str, Any]:
    """The operator's requeue of the whole DLQ through the API, once the monitor has linked it
    to its source; the finished action."""
    row = console.discovered_dlq(DLQ, SOURCE, count)
    response = console.act(row, "requeue", {"all": True})
    assert response.status_code == 202, response.text
    return console.finished(response.json()["id"])


def processed_after_requeue(project: CeleryProject, vhost, ids: list[str], failures: int) -> list[dict[str, Any]]:
    done = wait_for(
        lambda: all(project.done(i) for i in ids) and [project.done(i) for i in ids],
        timeout=60,
        message="the worker to process every requeued task",
        diagnose=project.worker_log,
    )
    assert [d["deliveries"] for d in done] == [failures + 1] * len(ids)
    assert all(d["requeued_by"] and d["x_death"] for d in done)
    assert ready_count(vhost, DLQ) == 0 and ready_count(vhost, SOURCE) == 0
    return done


def assert_requeued(action: dict[str, Any], count: int) -> None:
    assert action["state"] == "succeeded", action["error"]
    assert (action["done"], action["failed"], action["target"]) == (count, 0, SOURCE)


def test_requeue_into_a_source_that_dead_letters_through_its_arguments(celery_project, console, rabbit_vhost):
    """The common setup: ``orders`` declared by Celery with x-dead-letter-exchange/routing-key,
    a task rejected without requeue (acks_late) dead-lettered by the broker. Requeueing must not
    re-declare ``orders`` (that fails with PRECONDITION_FAILED, inequivalent arguments)."""
    celery_project.write(DEAD_LETTERING_ARGUMENTS, failures=1, failing_by="reject")
    celery_project.declare_queues()
    celery_project.start_worker([SOURCE])
    ids = celery_project.send(5, queue=SOURCE)
    dead_letter(celery_project, rabbit_vhost, ids, failures=1)

    assert death_records(rabbit_vhost, DLQ) == [("rejected", SOURCE)] * 5

    action = requeue_all(console, 5)

    assert_requeued(action, 5)
    processed_after_requeue(celery_project, rabbit_vhost, ids, failures=1)


def test_requeue_into_a_source_that_dead_letters_through_a_policy(celery_project, console, rabbit_vhost):
    """Dead-lettering set by an operator policy on the vhost, the queues declared plainly by Celery."""
    rabbit_vhost.http.put_json(
        f"/api/policies/{path_segment(rabbit_vhost.name)}/orders-dead-letters",
        {"pattern": "^orders$", "definition": {"dead-letter-exchange": "orders.dlx"}, "apply-to": "queues"},
    )
    celery_project.write(PLAIN_QUEUES_FOR_A_POLICY, failures=1, failing_by="reject")
    celery_project.declare_queues()
    wait_for(
        lambda: rabbit_vhost.http.get_json(f"/api/queues/{path_segment(rabbit_vhost.name)}/orders").get("policy"),
        timeout=15,
        message="the policy to apply to orders",
    )
    celery_project.start_worker([SOURCE])
    ids = celery_project.send(5, queue=SOURCE)
    dead_letter(celery_project, rabbit_vhost, ids, failures=1)

    assert death_records(rabbit_vhost, DLQ) == [("rejected", SOURCE)] * 5

    action = requeue_all(console, 5)

    assert_requeued(action, 5)
    processed_after_requeue(celery_project, rabbit_vhost, ids, failures=1)


def test_requeue_into_a_quorum_queue_whose_delivery_limit_dead_lettered_them(celery_project, console, rabbit_vhost):
    """A quorum queue with ``x-delivery-limit``, acks_late and reject_on_worker_lost: the pool
    process dies on the task twice (the worker requeues it each time), the queue's delivery limit
    dead-letters it. The requeue goes back into the quorum queue, which a classic re-declare
    cannot match (inequivalent x-queue-type)."""
    celery_project.write(QUORUM_WITH_A_DELIVERY_LIMIT, failures=2, failing_by="worker-lost")
    celery_project.declare_queues()
    celery_project.start_worker([SOURCE], pool="prefork", concurrency=1)
    ids = celery_project.send(3, queue=SOURCE)
    dead_letter(celery_project, rabbit_vhost, ids, failures=2, timeout=90)

    assert death_records(rabbit_vhost, DLQ) == [("delivery_limit", SOURCE)] * 3

    action = requeue_all(console, 3)

    assert_requeued(action, 3)
    processed_after_requeue(celery_project, rabbit_vhost, ids, failures=2)


def test_requeue_into_a_priority_queue_keeps_each_message_priority(celery_project, console, rabbit_vhost):
    """Celery's priority queues carry ``x-max-priority``: the requeue neither re-declares the
    queue nor loses the priority each task was sent with."""
    celery_project.write(PRIORITY_QUEUE, failures=1, failing_by="reject")
    celery_project.declare_queues()
    celery_project.start_worker([SOURCE])
    ids = celery_project.send(4, queue=SOURCE, priority=7)
    dead_letter(celery_project, rabbit_vhost, ids, failures=1)

    action = requeue_all(console, 4)

    assert_requeued(action, 4)
    done = processed_after_requeue(celery_project, rabbit_vhost, ids, failures=1)
    assert [d["priority"] for d in done] == [7] * 4


def test_requeue_into_a_queue_whose_message_ttl_dead_lettered_them(celery_project, console, rabbit_vhost):
    """Time-limited work: ``orders`` has ``x-message-ttl``; while no worker runs, the tasks expire
    into the DLQ. Once a worker is back, the operator requeues them (the TTL applies again: the
    worker, consuming before the requeue, takes them well within it)."""
    celery_project.write(TIME_LIMITED_QUEUE, failures=0, failing_by="none")
    celery_project.declare_queues()
    ids = celery_project.send(5, queue=SOURCE)
    wait_for(lambda: ready_count(rabbit_vhost, DLQ) == 5, timeout=30, message="the tasks to expire into the DLQ")
    assert death_records(rabbit_vhost, DLQ) == [("expired", SOURCE)] * 5
    celery_project.start_worker([SOURCE])
    wait_for(lambda: consumer_count(rabbit_vhost, SOURCE) == 1, timeout=60, message="the worker to consume orders")

    action = requeue_all(console, 5)

    assert_requeued(action, 5)
    processed_after_requeue(celery_project, rabbit_vhost, ids, failures=0)

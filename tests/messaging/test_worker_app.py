"""Switchyard's own Celery app: actions enqueue a task when created, the task claims before it moves
anything (two at once: one runs, the other touches nothing), a redelivered task leaves a beating
run alone and resumes a stale one, the sweeper re-enqueues stale runs. Real Redis throughout."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging import actions
from messaging.actions import worker_app
from messaging.models import Action
from tests.action_helpers import (
    REDIS_URL,
    celery_envelope,
    death_record,
    make_queue,
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
    unique_name,
)


@pytest.fixture
def task_broker(settings, redis_broker):
    """The task broker on the real Redis, under a key prefix and queue name of its own."""
    config, client, prefix = redis_broker
    settings.SWITCHYARD_TASK_BROKER_URL = REDIS_URL
    settings.SWITCHYARD_TASK_BROKER_KEYPREFIX = prefix + "tasks:"
    settings.SWITCHYARD_TASK_QUEUE = unique_name("sy-actions")
    worker_app.configure()
    yield client, prefix, prefix + "tasks:" + settings.SWITCHYARD_TASK_QUEUE
    settings.SWITCHYARD_TASK_BROKER_URL = None
    settings.SWITCHYARD_TASK_BROKER_KEYPREFIX = ""
    settings.SWITCHYARD_TASK_QUEUE = "switchyard.actions"
    worker_app.configure()


@pytest.fixture
def requeue_setup(redis_broker, make_user):
    config, client, prefix = redis_broker
    name = unique_name("orders")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    operator, _ = make_user("operator")

    def fill(count: int) -> list[str]:
        values = [celery_envelope(source.name, death=death_record(source.name)) for _ in range(count)]
        push(client, prefix + dlq.name, values)
        return [json.loads(v)["headers"]["id"] for v in values]

    return client, prefix, source, dlq, operator, fill


def queued_tasks(client, key: str) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(key, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_creating_an_action_enqueues_one_json_task_after_commit(task_broker, requeue_setup):
    client, _, task_queue = task_broker
    _, _, _, dlq, operator, fill = requeue_setup
    fill(10)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    tasks = queued_tasks(client, task_queue)
    assert len(tasks) == 1
    assert tasks[0]["headers"]["task"] == worker_app.TASK_NAME
    assert tasks[0]["content-type"] == "application/json"
    assert json.loads(base64.b64decode(tasks[0]["body"]))[0] == [action.pk]
    # Nothing ran in this process: the action waits for a worker.
    action.refresh_from_db()
    assert action.state == Action.PENDING


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_one_moves_everything_the_other_nothing(requeue_setup):
    client, prefix, source, dlq, operator, fill = requeue_setup
    ids = fill(5_000)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True, rate=10_000)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def run() -> None:
        barrier.wait()
        results.append(worker_app.run_action(action.pk))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.split(":")[0] for r in results) == ["not claimed", "succeeded"], results
    action.refresh_from_db()
    assert (action.state, action.done, action.runs) == (Action.SUCCEEDED, 5_000, 1)
    moved = task_ids_in(client, prefix + source.name)
    assert len(moved) == 5_000 and set(moved) == set(ids)
    assert client.llen(prefix + dlq.name) == 0


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_task_leaves_a_beating_run_alone_and_resumes_a_stale_one(requeue_setup):
    client, prefix, source, dlq, operator, fill = requeue_setup
    ids = fill(2_000)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    # Another worker holds it and beats.
    Action.objects.filter(pk=action.pk).update(
        state=Action.RUNNING, claim_token="elsewhere", heartbeat_at=timezone.now(), runs=1
    )
    assert worker_app.run_action(action.pk).startswith("not claimed")
    assert client.llen(prefix + dlq.name) == 2_000
    assert Action.objects.get(pk=action.pk).claim_token == "elsewhere"
    # That worker died: its heartbeat is older than SWITCHYARD_ACTION_STALE_S.
    Action.objects.filter(pk=action.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    assert worker_app.run_action(action.pk).startswith("resumed and succeeded")
    action.refresh_from_db()
    assert (action.state, action.done, action.runs) == (Action.SUCCEEDED, 2_000, 2)
    assert sorted(task_ids_in(client, prefix + source.name)) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_reenqueues_stale_runs_only(task_broker, requeue_setup):
    client, _, task_queue = task_broker
    _, _, _, dlq, operator, fill = requeue_setup
    fill(10)
    stale = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    beating = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    client.delete(task_queue)
    Action.objects.filter(pk=stale.pk).update(
        state=Action.RUNNING, claim_token="dead", heartbeat_at=timezone.now() - timedelta(seconds=120)
    )
    Action.objects.filter(pk=beating.pk).update(state=Action.RUNNING, claim_token="alive", heartbeat_at=timezone.now())
    assert worker_app.sweep() == [stale.pk]
    assert worker_app.sweep() == []  # already pending again: once
    assert Action.objects.get(pk=stale.pk).state == Action.PENDING
    assert Action.objects.get(pk=beating.pk).claim_token == "alive"
    assert len(queued_tasks(client, task_queue)) == 1


@pytest.mark.django_db(transaction=True)
def test_an_action_whose_task_could_not_be_sent_is_sent_by_a_later_sweep(task_broker, requeue_setup, settings):
    client, _, task_queue = task_broker
    _, _, _, dlq, operator, fill = requeue_setup
    fill(10)
    settings.SWITCHYARD_TASK_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    worker_app.configure()
    unsent = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert Action.objects.get(pk=unsent.pk).enqueued_at is None

    settings.SWITCHYARD_TASK_BROKER_URL = REDIS_URL  # the task broker is back
    worker_app.configure()
    sent = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert Action.objects.get(pk=sent.pk).enqueued_at is not None
    assert worker_app.enqueue_unsent(grace_s=60) == []  # just created: its creator's to send
    assert worker_app.enqueue_unsent(grace_s=0) == [unsent.pk]
    assert worker_app.enqueue_unsent(grace_s=0) == []  # sent once
    assert Action.objects.get(pk=unsent.pk).enqueued_at is not None
    assert sorted(json.loads(base64.b64decode(t["body"]))[0][0] for t in queued_tasks(client, task_queue)) == [
        unsent.pk,
        sent.pk,
    ]


def test_the_app_redelivers_a_lost_workers_task_and_speaks_json_only(task_broker, settings):
    conf = worker_app.app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_routes[worker_app.TASK_NAME] == {"queue": settings.SWITCHYARD_TASK_QUEUE}
    assert conf.broker_transport_options == {"global_keyprefix": settings.SWITCHYARD_TASK_BROKER_KEYPREFIX}

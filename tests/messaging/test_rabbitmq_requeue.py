"""Moves on real RabbitMQ: confirm-then-ack, a dropped connection loses nothing, duplicates are counted."""

from __future__ import annotations

import threading
import time
import uuid

import amqp
import pytest
import requests

from messaging import actions
from messaging.action_runner import run_action
from messaging.models import Action
from tests.action_helpers import MANAGEMENT_URL, make_queue, rabbit_vhost, unique_name  # noqa: F401

API = MANAGEMENT_URL.replace("guest:guest@", "")
AUTH = ("guest", "guest")


def connect(vhost):
    conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    conn.connect()
    return conn


def dead_lettered_orders(vhost, make_user, count):
    """(ids, dlq row, operator): ``count`` dead letters in orders.dlq, the source and its DLQ as the
    monitor stored them, and an operator to act."""
    ids = publish_dead_letters(vhost, "orders", "orders.dlq", count)
    source = make_queue("rabbit", "orders", vhost=vhost)
    dlq = make_queue("rabbit", "orders.dlq", dlq_of=source, vhost=vhost)
    return ids, dlq, make_user("operator")[0]


def publish_dead_letters(vhost, source, dlq, count):
    """Messages as RabbitMQ dead-letters them: Celery headers plus x-death naming the source."""
    ids = []
    conn = connect(vhost)
    try:
        ch = conn.channel()
        for name in (source, dlq):
            ch.queue_declare(name, durable=True, auto_delete=False)
        for _ in range(count):
            task_id = str(uuid.uuid4())
            ids.append(task_id)
            headers = {
                "task": "app.work",
                "id": task_id,
                "x-death": [
                    {"queue": source, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [source]}
                ],
                "x-first-death-queue": source,
            }
            ch.basic_publish(
                amqp.Message(b"[[1], {}, {}]", content_type="application/json", application_headers=headers),
                exchange="",
                routing_key=dlq,
            )
        ch.queue_declare(dlq, passive=True)  # a round trip: everything published has arrived
    finally:
        conn.close()
    return ids


def drain_ids(vhost, queue):
    conn = connect(vhost)
    ids = []
    try:
        ch = conn.channel()
        while True:
            message = ch.basic_get(queue, no_ack=True)
            if message is None:
                return ids
            ids.append(message.properties["application_headers"]["id"])
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_forced_connection_close_mid_move_loses_nothing_and_counts_duplicates(rabbit_vhost, make_user):
    """The broker dropping the action's connection (what a restart does to it) interrupts the
    action; resuming finishes it. A real broker restart is for the isolated-environment suite."""
    config, vhost = rabbit_vhost
    source, dlq_name = "orders", "orders.dlq"
    ids, dlq, operator = dead_lettered_orders(vhost, make_user, 3000)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True, rate=400)
    assert action.budget == 3000

    runner = threading.Thread(target=run_action, args=(action.pk,))
    runner.start()
    try:
        # The management API lists a connection once its stats are emitted (every few seconds).
        name = f"switchyard-action {action.progress_key}"
        deadline = time.monotonic() + 15
        mine: list[str] = []
        while not mine:
            assert time.monotonic() < deadline, "the action's connection never showed up"
            connections = requests.get(f"{API}/api/connections?columns=name,client_properties", auth=AUTH, timeout=10)
            mine = [c["name"] for c in connections.json() if c["client_properties"].get("connection_name") == name]
            time.sleep(0.2)
        assert 0 < Action.objects.get(pk=action.pk).done < 3000
        requests.delete(f"{API}/api/connections/{requests.utils.quote(mine[0], safe='')}", auth=AUTH, timeout=10)
    finally:
        runner.join(60)
    interrupted = Action.objects.get(pk=action.pk)
    assert interrupted.state == Action.FAILED and interrupted.interrupted, interrupted.error
    assert 0 < interrupted.done < 3000

    actions.resume(operator, interrupted)
    final = run_action(action.pk)
    assert final.state == Action.SUCCEEDED, final.error
    moved = drain_ids(vhost, source)
    assert set(moved) == set(ids), "a message was lost"
    assert drain_ids(vhost, dlq_name) == []
    duplicates = len(moved) - len(set(moved))
    assert duplicates <= 250 and final.duplicated >= duplicates
    assert final.done + interrupted.done >= 3000


@pytest.mark.django_db(transaction=True)
def test_selected_ids_and_dry_run_on_rabbitmq(rabbit_vhost, make_user):
    config, vhost = rabbit_vhost
    source, dlq_name = unique_name("q"), None
    dlq_name = source + ".dlq"
    ids = publish_dead_letters(vhost, source, dlq_name, 40)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")
    dry = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True, dry_run=True).pk)
    assert dry.state == Action.SUCCEEDED and dry.done == 40
    chosen = [ids[0], ids[20], ids[39]]
    done = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, ids=chosen).pk)
    assert done.state == Action.SUCCEEDED and done.done == 3, done.error
    assert sorted(drain_ids(vhost, source)) == sorted(chosen)
    left = drain_ids(vhost, dlq_name)
    assert len(left) == 37 and set(left) == set(ids) - set(chosen)


@pytest.mark.django_db(transaction=True)
def test_batch_recorded_but_not_acked_is_recognised_on_resume_not_moved_twice(rabbit_vhost, make_user, monkeypatch):
    """The run dies right after a batch's identities were stored, before its source acks: the
    broker hands the batch back (redelivered); the resumed run acknowledges it without publishing
    it again and reports it as ``already_moved``; the target holds every id, twice only for the
    batch published after it (in doubt, and reported)."""
    from messaging import move_memory

    config, vhost = rabbit_vhost
    source, dlq_name = "orders", "orders.dlq"
    ids, dlq, operator = dead_lettered_orders(vhost, make_user, 3000)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    real_recorder = move_memory.recorder

    def dying_after_the_second_record(action, token):
        record, calls = real_recorder(action, token), []

        def record_then_die(identities, **kwargs):
            record(identities, **kwargs)
            calls.append(len(identities))
            if len(calls) == 2:
                raise OSError("connection lost before the acks")

        return record_then_die

    monkeypatch.setattr(move_memory, "recorder", dying_after_the_second_record)
    interrupted = run_action(action.pk)
    assert interrupted.state == Action.FAILED and interrupted.interrupted, interrupted.error
    # Batches of 500, pipelined: the third was published before the second was recorded.
    assert interrupted.done == 1000 and interrupted.in_doubt == 500

    monkeypatch.setattr(move_memory, "recorder", real_recorder)
    actions.resume(operator, interrupted)
    final = run_action(action.pk)
    assert final.state == Action.SUCCEEDED, final.error
    moved = drain_ids(vhost, source)
    assert set(moved) == set(ids), "a message was lost"
    assert drain_ids(vhost, dlq_name) == []
    # The recorded batch came back and was recognised; only the batch in doubt could double, and
    # it is reported.
    assert final.already_moved == 500 and final.duplicated == 500
    assert len(moved) - len(set(moved)) <= final.duplicated
    assert final.done >= 3000

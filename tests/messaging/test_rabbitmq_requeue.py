"""Moves on real RabbitMQ: confirm-then-ack, a dropped connection loses nothing, duplicates are counted;
the target is only checked, never re-declared, and created only when asked (create_target)."""

from __future__ import annotations

import html
import threading
import time
import uuid

import amqp
import pytest
import requests
from django.test import Client
from django.urls import reverse

from messaging import actions
from messaging.actions.runner import run_action
from messaging.brokers.rabbitmq.broker import RabbitMQBroker
from messaging.models import Action, AuditEntry
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


def declare_dead_lettering(channel, source, dlq):
    """``source`` as applications declare it: it dead-letters into ``dlq`` through its arguments
    (so a declare of ``source`` without them is refused), ``dlq`` a plain durable queue."""
    channel.queue_declare(dlq, durable=True, auto_delete=False)
    channel.queue_declare(
        source,
        durable=True,
        auto_delete=False,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq},
    )


def publish_dead_letters(vhost, source, dlq, count):
    """Messages as RabbitMQ dead-letters them: Celery headers plus x-death naming the source."""
    ids = []
    conn = connect(vhost)
    try:
        ch = conn.channel()
        declare_dead_lettering(ch, source, dlq)
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
    # A paced action settles each batch before it waits, so one batch (the rate caps it at 400) is
    # the most that can be published and not yet recorded when the connection drops.
    one_batch = min(RabbitMQBroker.capabilities.move_batch_size, int(action.rate))
    assert duplicates <= final.duplicated <= one_batch
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
    from messaging.actions import move_memory

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


def queue_properties(vhost, name):
    """The queue as the management API describes it, or None when it does not exist."""
    response = requests.get(f"{API}/api/queues/{vhost}/{requests.utils.quote(name, safe='')}", auth=AUTH, timeout=10)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def ready(vhost, name):
    conn = connect(vhost)
    try:
        return conn.channel().queue_declare(name, passive=True).message_count
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_move_to_a_missing_target_is_refused_and_nothing_is_taken(rabbit_vhost, make_user):
    """Without create_target a missing target is refused when asked, and again when the action
    runs (the queue went away meanwhile): the action fails for good with the reason, the target
    is not created, and every message is still in the DLQ."""
    config, vhost = rabbit_vhost
    source, target = unique_name("q"), unique_name("elsewhere")
    dlq_name = source + ".dlq"
    ids = publish_dead_letters(vhost, source, dlq_name, 20)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")

    with pytest.raises(actions.ActionRefused) as refused:
        actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target=target)
    assert "does not exist" in str(refused.value.detail["target"])

    conn = connect(vhost)
    try:
        conn.channel().queue_declare(target, durable=True, auto_delete=False)
        action = actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target=target)
        conn.channel().queue_delete(target)  # gone before the action runs
    finally:
        conn.close()
    final = run_action(action.pk)

    assert final.state == Action.FAILED and not final.interrupted
    assert f"target queue {target!r} does not exist" in final.error and "nothing was taken" in final.error
    assert final.done == 0 and queue_properties(vhost, target) is None
    assert sorted(drain_ids(vhost, dlq_name)) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_move_with_create_target_creates_a_durable_classic_queue_and_says_so(rabbit_vhost, make_user):
    config, vhost = rabbit_vhost
    source, target = unique_name("q"), unique_name("new")
    dlq_name = source + ".dlq"
    ids = publish_dead_letters(vhost, source, dlq_name, 20)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")

    action = actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target=target, create_target=True)
    final = run_action(action.pk)

    assert final.state == Action.SUCCEEDED and final.done == 20, final.error
    created = queue_properties(vhost, target)
    assert (created["durable"], created["auto_delete"], created["type"]) == (True, False, "classic")
    assert created["arguments"] == {"x-queue-type": "classic"}
    said = actions.action_dict(final)["target_created"]
    assert said.startswith(f"created {target!r} as a durable classic queue")
    entries = {e.action: e.outcome for e in AuditEntry.objects.filter(queue=dlq_name)}
    assert entries["move.target_created"] == said and said in entries["move.finished"]
    client = Client()
    client.force_login(operator)
    page = client.get(reverse("queue-actions", args=[dlq.pk])).content.decode()
    assert html.escape(said) in page
    assert sorted(drain_ids(vhost, target)) == sorted(ids)


EXISTING_TARGETS = {
    "dead-lettering": {"arguments": {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "parking"}},
    "priority": {"arguments": {"x-max-priority": 10}},
    "quorum": {"arguments": {"x-queue-type": "quorum", "x-delivery-limit": 5}},
    "ttl-and-length": {"arguments": {"x-message-ttl": 3_600_000, "x-max-length": 10_000}},
    "auto-delete": {"auto_delete": True},
    "transient": {"durable": False},
}


@pytest.mark.parametrize("kind", sorted(EXISTING_TARGETS))
@pytest.mark.django_db(transaction=True)
def test_move_into_an_existing_target_keeps_its_arguments_and_flags(rabbit_vhost, make_user, kind):
    """Whatever an application declared its queue with, a move uses it as it is (no declare that
    could be refused as inequivalent, nothing changed), and with create_target too."""
    config, vhost = rabbit_vhost
    source, target = unique_name("q"), unique_name("target")
    dlq_name = source + ".dlq"
    ids = publish_dead_letters(vhost, source, dlq_name, 10)
    declared = {"durable": True, "auto_delete": False, "arguments": None, **EXISTING_TARGETS[kind]}
    conn = connect(vhost)
    try:
        conn.channel().queue_declare(target, **declared)
    finally:
        conn.close()
    before = queue_properties(vhost, target)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")

    action = actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target=target, create_target=True)
    final = run_action(action.pk)

    assert final.state == Action.SUCCEEDED and final.done == 10, final.error
    assert actions.action_dict(final)["target_created"] is None
    after = queue_properties(vhost, target)
    kept = ("durable", "auto_delete", "arguments", "type")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert ready(vhost, target) == 10 and ready(vhost, dlq_name) == 0
    assert sorted(drain_ids(vhost, target)) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_dry_run_with_create_target_says_it_would_create_and_creates_nothing(rabbit_vhost, make_user):
    config, vhost = rabbit_vhost
    source, target = unique_name("q"), unique_name("new")
    dlq_name = source + ".dlq"
    publish_dead_letters(vhost, source, dlq_name, 5)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")

    action = actions.request_move(
        operator, dlq, kind=Action.MOVE, all=True, target=target, create_target=True, dry_run=True
    )
    final = run_action(action.pk)

    assert final.state == Action.SUCCEEDED and final.done == 5, final.error
    assert actions.action_dict(final)["target_created"].startswith(f"would create {target!r} as a durable classic")
    assert queue_properties(vhost, target) is None and ready(vhost, dlq_name) == 5


@pytest.mark.django_db(transaction=True)
def test_dry_run_to_a_missing_target_fails_with_the_reason(rabbit_vhost, make_user):
    config, vhost = rabbit_vhost
    source, target = unique_name("q"), unique_name("missing")
    dlq_name = source + ".dlq"
    publish_dead_letters(vhost, source, dlq_name, 3)
    src = make_queue("rabbit", source, vhost=vhost)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src, vhost=vhost)
    operator, _ = make_user("operator")

    final = run_action(actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target=target, dry_run=True).pk)

    assert final.state == Action.FAILED and f"target queue {target!r} does not exist" in final.error
    assert queue_properties(vhost, target) is None and ready(vhost, dlq_name) == 3

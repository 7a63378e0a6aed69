"""Faults during a requeue of 50,000 messages: the broker restarts mid-move (a private Redis with
AOF fsync-always, a private RabbitMQ node stopped or SIGKILLed), and nothing is lost; Redis
doubles nothing, RabbitMQ at most one batch, which the action reports. (SIGKILL of the process running the action:
test_action_crash_resume.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import amqp
import pytest
import redis

from messaging import actions
from messaging.actions.runner import run_action
from messaging.brokers.rabbitmq import RabbitMQBroker
from messaging.models import Action
from tests.action_helpers import celery_envelope, death_record, make_queue, push, task_ids_in
from tests.brokers import PrivateRabbit, PrivateRedis
from tests.messaging.test_action_crash_resume import ROOT, SETUP, manage

COUNT = 50_000

pytestmark = pytest.mark.faults


@pytest.fixture
def persistent_redis(tmp_path):
    server = PrivateRedis(directory=tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    yield server
    server.kill()


def start_runner(env, action_id):
    return subprocess.Popen(
        [sys.executable, "manage.py", "runaction", str(action_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_redis_killed_mid_requeue_then_resumed_loses_and_doubles_nothing(persistent_redis, tmp_path):
    """SIGKILL the Redis server (AOF, fsync always) while 50,000 messages move; the action stops
    as interrupted; Redis comes back on the same port and data; the resumed action finishes with
    every id exactly once in the target."""
    prefix = "sy-fault:"
    client = redis.Redis(port=persistent_redis.port)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'actions.sqlite3'}",
        "SWITCHYARD_BROKER_URL": f"{persistent_redis.url}?global_keyprefix={prefix}",
        "SWITCHYARD_ACTION_RUNNER": "false",
    }
    env.pop("SWITCHYARD_CONFIG", None)
    done = manage(env, "migrate", "--noinput", timeout=120)
    assert done.returncode == 0, done.stderr
    name = "orders"
    values = [celery_envelope(name, death=death_record(name)) for _ in range(COUNT)]
    ids = {json.loads(v)["headers"]["id"] for v in values}
    push(client, prefix + name + ".dlq", values)
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, name, "25000"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert setup.returncode == 0, setup.stderr
    action_id = int(setup.stdout.strip().splitlines()[-1])
    progress_key = f"{prefix}switchyard.action.{action_id}.progress"

    runner = start_runner(env, action_id)
    try:
        deadline = time.monotonic() + 60
        while int(client.hget(progress_key, "moved") or 0) < 15_000:
            assert runner.poll() is None, "the runner ended before Redis could be killed"
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.02)
        persistent_redis.kill()
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    interrupted = json.loads(out.strip().splitlines()[-1])
    assert interrupted["state"] == "failed" and interrupted["interrupted"], interrupted
    assert 15_000 <= interrupted["done"] < COUNT

    persistent_redis.start()  # same port, same AOF
    client = redis.Redis(port=persistent_redis.port)
    assert client.llen(prefix + name) + client.llen(prefix + name + ".dlq") == COUNT, "the restart lost messages"

    resumed = manage(env, "runaction", str(action_id), "--resume", "--stale-after", "0", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert final["state"] == "succeeded" and final["done"] == COUNT and final["failed"] == 0, final
    assert final["duplicated"] == 0
    moved = task_ids_in(client, prefix + name)
    assert len(moved) == COUNT and set(moved) == ids, "lost or doubled"
    assert client.llen(prefix + name + ".dlq") == 0
    client.close()


# --- RabbitMQ: a private node, SIGKILLed mid-move and booted again on its data ---------------


def rabbit_connect(node: PrivateRabbit) -> amqp.Connection:
    conn = amqp.Connection(host=f"127.0.0.1:{node.port}", userid="guest", password="guest", virtual_host="/")
    conn.connect()
    return conn


def publish_persistent_dead_letters(node: PrivateRabbit, source: str, dlq: str, count: int) -> set[str]:
    """Persistent messages with publisher confirms, so every one is on disk before the crash.
    ``source`` dead-letters into ``dlq`` through its arguments, as applications declare it."""
    import uuid

    from tests.messaging.test_rabbitmq_requeue import declare_dead_lettering

    ids = set()
    conn = rabbit_connect(node)
    try:
        ch = conn.channel()
        declare_dead_lettering(ch, source, dlq)
        ch.confirm_select()
        death = [{"queue": source, "reason": "rejected", "count": 1, "exchange": "", "routing-keys": [source]}]
        for i in range(count):
            task_id = str(uuid.uuid4())
            ids.add(task_id)
            headers = {"task": "app.work", "id": task_id, "x-death": death, "x-first-death-queue": source}
            message = amqp.Message(
                b"[[1], {}, {}]", content_type="application/json", application_headers=headers, delivery_mode=2
            )
            # One confirm round trip per 1,000 publishes (py-amqp waits for each confirm otherwise).
            ch.basic_publish(message, exchange="", routing_key=dlq, confirm_timeout=30 if i % 1000 == 999 else None)
        ch.queue_declare(dlq, passive=True)
    finally:
        conn.close()
    return ids


def ready(node: PrivateRabbit, queue: str, recovery_s: float = 30.0) -> int:
    """Messages ready in ``queue``. A node that just booted answers before it has recovered every
    durable queue from disk: until then the queue is not found, so that is waited out."""
    deadline = time.monotonic() + recovery_s
    while True:
        conn = rabbit_connect(node)
        try:
            return conn.channel().queue_declare(queue, passive=True)[1]
        except amqp.exceptions.NotFound:
            if time.monotonic() > deadline:
                raise
        finally:
            conn.close()
        time.sleep(0.2)


def drain(node: PrivateRabbit, queue: str) -> list[str]:
    conn = rabbit_connect(node)
    ids = []
    try:
        ch = conn.channel()
        ch.basic_qos(0, 2000, False)
        while True:
            message = ch.basic_get(queue, no_ack=True)
            if message is None:
                return ids
            ids.append(message.properties["application_headers"]["id"])
    finally:
        conn.close()


@pytest.fixture
def private_rabbit(settings, monkeypatch):
    from messaging.brokers import registry
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config
    from tests.action_helpers import rabbit_adapter_path

    settings.SWITCHYARD_ACTION_RUNNER = False
    monkeypatch.setitem(registry.ADAPTERS, "amqp", rabbit_adapter_path())
    node = PrivateRabbit()
    try:
        node.start()
        config = BrokerConfig(name="rabbit", url=node.amqp_url, management_url=node.management_url)
        set_config(SwitchyardConfig(brokers=(config,)))
        yield node
    finally:
        set_config(None)
        node.stop()


def run_until(action: Action, done: int, stop_node) -> Action:
    """Run the action in a thread, call ``stop_node`` once ``done`` messages are moved, and return
    the row as the interrupted run left it."""
    runner = threading.Thread(target=run_action, args=(action.pk,))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while Action.objects.get(pk=action.pk).done < done:
            assert runner.is_alive(), Action.objects.get(pk=action.pk).error
            assert time.monotonic() < deadline, "the action made no progress"
            time.sleep(0.02)
        stop_node()
    finally:
        runner.join(90)
    assert not runner.is_alive()
    interrupted = Action.objects.get(pk=action.pk)
    assert interrupted.state == Action.FAILED and interrupted.interrupted, interrupted.error
    return interrupted


@pytest.mark.django_db(transaction=True)
def test_rabbitmq_node_restarted_mid_requeue_loses_nothing_and_reports_duplicates(private_rabbit, make_user):
    """Stop the node (SIGTERM to its Erlang VM, as a service restart does) while 50,000 persistent
    messages move (confirm-then-ack); the action stops as interrupted; the node boots again on its
    data; the resumed action finishes; every id is in the target, duplicates (a batch published
    but not yet acknowledged at the stop) are at most one batch and reported in ``duplicated``.

    A SIGKILLed node also hands back messages whose acknowledgements it had not yet written to
    disk (thousands, not a batch): the next test."""
    node = private_rabbit
    source, dlq_name = "orders", "orders.dlq"
    ids = publish_persistent_dead_letters(node, source, dlq_name, COUNT)
    src = make_queue("rabbit", source)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src)
    operator, _ = make_user("operator")
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert action.budget == COUNT

    interrupted = run_until(action, 10_000, node.shutdown)
    assert 10_000 <= interrupted.done < COUNT

    boot = node.start()
    ready(node, dlq_name)  # recovered from disk
    actions.resume(operator, interrupted)
    final = run_action(action.pk)
    assert final.state == Action.SUCCEEDED, final.error
    moved = drain(node, source)
    left = drain(node, dlq_name)
    assert left == []
    assert set(moved) == ids, f"{len(ids - set(moved))} messages lost"
    duplicates = len(moved) - len(set(moved))
    print(
        f"\nrabbitmq restart: moved {len(moved)}, duplicates {duplicates}, reported {final.duplicated}, "
        f"stopped at {interrupted.done}, node boot {boot:.1f}s"
    )
    assert duplicates <= RabbitMQBroker.capabilities.move_duplicate_bound  # two pipelined batches at most
    assert final.duplicated >= duplicates


KILLED_COUNT = 8_000


@pytest.mark.django_db(transaction=True)
def test_rabbitmq_node_killed_mid_requeue_hands_back_moved_messages_that_are_not_moved_twice(private_rabbit, make_user):
    """SIGKILL the node while 8,000 persistent messages move. It comes back with messages whose
    source acks it had not written to disk (it re-delivers them: they are in the target already).
    The resumed action recognises them (``already_moved``) instead of moving them again or counting
    them against its budget: afterwards source plus target hold every id, the target each at most
    twice for two batches at most (reported), and nothing is left in the DLQ."""
    node = private_rabbit
    source, dlq_name = "orders", "orders.dlq"
    ids = publish_persistent_dead_letters(node, source, dlq_name, KILLED_COUNT)
    # Let both queues go idle once (a classic queue writes its index to disk then), as a DLQ has
    # before anyone requeues it: two fresh-clone runs lost the whole just-filled DLQ when the kill
    # came within a second of its last publish (RabbitMQ 3.10's recovery, not a move's doing).
    time.sleep(3)
    src = make_queue("rabbit", source)
    dlq = make_queue("rabbit", dlq_name, dlq_of=src)
    operator, _ = make_user("operator")
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)

    interrupted = run_until(action, 3_000, node.kill)
    assert 3_000 <= interrupted.done < KILLED_COUNT

    node.start()
    # Messages now in both queues: moved ones whose source ack the crash lost, and copies of a
    # batch published but not yet recorded as moved.
    handed_back = ready(node, source) + ready(node, dlq_name) - KILLED_COUNT
    actions.resume(operator, interrupted)
    final = run_action(action.pk)
    assert final.state == Action.SUCCEEDED, final.error
    moved = drain(node, source)
    left = drain(node, dlq_name)
    duplicates = len(moved) - len(set(moved))
    print(
        f"\nrabbitmq kill: moved {len(moved)}, duplicates {duplicates}, reported {final.duplicated}, "
        f"already moved {final.already_moved}, killed at {interrupted.done}"
    )
    assert left == [], f"{len(left)} messages left in the DLQ"
    assert set(moved) == ids, f"{len(ids - set(moved))} messages lost"
    # Batches are pipelined: two can be in doubt.
    assert duplicates <= RabbitMQBroker.capabilities.move_duplicate_bound and final.duplicated >= duplicates
    assert final.done == KILLED_COUNT and final.failed == 0
    # The case under test happened (with under 32,768 journal entries a classic queue hands back
    # every ack since its last idle moment), and each copy handed back was either recognised or,
    # only for the batch in doubt, moved again.
    assert final.already_moved > 0
    assert final.already_moved + duplicates == handed_back

"""Bulk requeue on real Redis (one server-side script per chunk): the same messages, the same
bytes and the same targets as the per-message path; odd shapes left to that path untouched."""

from __future__ import annotations

import dataclasses
import json

import pytest

from messaging import actions
from messaging.actions.plan import build_plan
from messaging.actions.runner import claim, run_action
from messaging.brokers.base import BrokerError
from messaging.brokers.moves import BulkMove
from messaging.brokers.redis import RedisBroker
from messaging.brokers.redis.splice import with_headers
from messaging.models import Action
from messaging.process_config import open_broker
from tests.action_helpers import (
    celery_envelope,
    death_record,
    dlq_setup,  # noqa: F401  (fixture)
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
)

SEP = "\x06\x16"


def dead_letter(queue: str, priority: int = 0, **kwargs) -> bytes:
    return celery_envelope(queue, death=death_record(queue), priority=priority, **kwargs)


def sub_queue(name: str, priority: int) -> str:
    """Kombu's key for a priority (steps 0, 3, 6, 9; step 0 is the bare name)."""
    step = max(s for s in (0, 3, 6, 9) if s <= priority)
    return f"{name}{SEP}{step}" if step else name


def keys_of(name: str) -> list[str]:
    return [sub_queue(name, p) for p in (0, 3, 6, 9)]


def odd_shapes(origin: str) -> list[bytes]:
    """Values the bulk script must leave to the per-message path, each for its own reason."""
    plain = dead_letter(origin)
    envelope = json.loads(plain)
    died_twice = json.loads(plain)
    died_twice["headers"]["x-switchyard-requeued-by"] = "someone"  # an added header already there
    other_origin = dead_letter("elsewhere")  # goes back to another queue
    first_elsewhere = json.loads(plain)
    first_elsewhere["headers"]["x-first-death-queue"] = "elsewhere"  # newest death still `origin`
    escaped = json.loads(plain)
    del escaped["headers"]["x-death"]
    escaped["headers"]["x-first-death-queue"] = "elsewhere"
    hidden_key = json.dumps(escaped).replace('"x-first-death-queue"', '"x-first-death-q\\u0075eue"')
    spaced_key = json.dumps(escaped).replace('"x-first-death-queue":', '"x-first-death-queue" :')
    no_headers = {k: v for k, v in envelope.items() if k != "headers"}
    text_body = dict(envelope, body='{"headers": {"a": 1}}')  # escaped quotes inside the body
    return [
        b"\x80\x04\x95pickled, never decoded",
        b"not json at all",
        json.dumps(no_headers).encode(),
        json.dumps(died_twice).encode(),
        other_origin,
        json.dumps(first_elsewhere).encode(),
        hidden_key.encode(),
        spaced_key.encode(),
        json.dumps(envelope, separators=(",", ":")).encode(),
        json.dumps(text_body).encode(),
        json.dumps(dict(envelope, headers={})).encode(),
    ]


def key_text_in_body(origin: str) -> bytes:
    """A dead letter whose (unencoded) body holds what the bulk script searches for in keys: an
    added header's name, ``queue`` and a ``\\u00`` escape. Keys never sit in the body, so the
    script takes it in bulk like any other."""
    envelope = json.loads(dead_letter(origin))
    envelope["body"] = "x-switchyard-requeued-by x-switchyard-action queue \x00 end"
    envelope["content-encoding"] = "utf-8"
    return json.dumps(envelope).encode()


def fill(client, prefix: str, dlq: str, values: list[tuple[int, bytes]]) -> None:
    """LPUSH each (step, value) into the sub-queue of that step, in order (the first is the
    oldest). The DLQ integration writes every dead letter to the bare list (step 0), whatever its
    priority; a DLQ filled by a move from a live queue has them in their sub-queues."""
    for priority, value in values:
        client.lpush(prefix + sub_queue(dlq, priority), value)


def snapshot(client, prefix: str, names: list[str]) -> dict[str, list[bytes]]:
    return {key: client.lrange(prefix + key, 0, -1) for name in names for key in keys_of(name)}


def run_plan(broker, plan, batch: int = 37) -> tuple[int, int]:
    """Drive a session to its end; (messages moved by bulk scripts, by per-message scripts)."""
    counted = {"bulk": 0, "move": 0}
    bulk_script, move_script = broker._bulk_move_script, broker._move_script

    def bulk(keys, args):
        reply = bulk_script(keys=keys, args=args)
        counted["bulk"] += int(reply[4])
        return reply

    def move(keys, args):
        before = int(broker.client.hget(keys[0], "moved") or 0)
        reply = move_script(keys=keys, args=args)
        counted["move"] += int(reply[1]) - before
        return reply

    broker._bulk_move_script, broker._move_script = bulk, move
    session = broker.open_move(plan)
    while not session.step(batch).finished:
        pass
    return counted["bulk"], counted["move"]


def test_bulk_and_per_message_paths_write_the_same_bytes_to_the_same_queues(dlq_setup):
    """The same DLQ (every priority step, odd shapes in between) requeued by the bulk plan and by
    the same plan without bulk: every sub-queue of every queue holds the same bytes after."""
    client, prefix, source, dlq, operator = dlq_setup
    # Most where the DLQ integration puts them (the bare list), every fourth in its own step.
    values = [
        (0 if n % 4 else p, dead_letter(source.name, priority=p))
        for n, p in enumerate((0, 3, 5, 6, 9, 0, 9, 2, 7) * 25)
    ]
    odd = odd_shapes(source.name)
    for i, value in enumerate(odd):
        values.insert(7 + 19 * i, (0, value))
    values.append((9, odd[0]))
    values.insert(3, (0, key_text_in_body(source.name)))
    fill(client, prefix, dlq.name, values)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert action.budget == len(values)
    token = claim(action.pk)
    action = Action.objects.get(pk=action.pk)
    names = [dlq.name, source.name, "elsewhere"]
    results, counts = {}, {}
    for path in ("bulk", "per-message"):
        if path != "bulk":
            fill(client, prefix, dlq.name, values)
        plan = build_plan(action, token, RedisBroker.capabilities)
        assert plan.bulk is not None and plan.bulk.by_origin
        if path == "per-message":
            plan = dataclasses.replace(plan, bulk=None)
        with open_broker("main") as broker:
            counts[path] = run_plan(broker, plan)
        results[path] = snapshot(client, prefix, names)
        client.delete(*(prefix + k for name in names for k in keys_of(name)), prefix + action.progress_key)
    assert counts["per-message"] == (0, len(values))
    bulk, per_message = counts["bulk"]
    # Each odd message costs one short per-message batch; bulk takes the rest.
    assert bulk + per_message == len(values) and bulk > len(values) // 3, counts["bulk"]
    assert results["bulk"] == results["per-message"]

    after = results["bulk"]
    assert all(not after[key] for key in keys_of(dlq.name))
    # Values that are not envelopes moved unchanged, byte for byte, in their priority step.
    assert after[source.name].count(odd[0]) == 1 and after[source.name].count(odd[1]) == 1
    assert odd[0] in after[sub_queue(source.name, 9)]
    returned = [json.loads(v) for v in after["elsewhere"]]
    assert len(returned) == 3  # another origin, and the same hidden behind an escape or a space
    moved = [json.loads(v) for key in keys_of(source.name) for v in after[key] if v not in odd[:2]]
    assert len(moved) == len(values) - 3 - 3
    for envelope in moved + returned:
        assert envelope["headers"]["x-switchyard-requeued-from"] == dlq.name
        assert envelope["headers"]["x-switchyard-action"] == action.pk
    # Each message is filed under its own priority's step, as Kombu would publish it (a value
    # with no priority keeps its step), in the order consumers read the DLQ.
    in_consumer_order = [
        (step, v) for step in (0, 3, 6, 9) for p, v in values if sub_queue(dlq.name, p) == sub_queue(dlq.name, step)
    ]
    for step in (0, 3, 6, 9):
        expected = [
            task_id(v)
            for at, v in in_consumer_order
            if v not in (odd[4], odd[6], odd[7]) and filed_under(v, at) == step
        ]
        assert [task_id(v) for v in reversed(after[sub_queue(source.name, step)])] == expected


def test_key_like_text_in_a_body_does_not_stop_the_bulk_script(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    values = [key_text_in_body(source.name) for _ in range(5)]
    assert b"\\u0000" in values[0]
    push(client, prefix + dlq.name, values)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    with open_broker("main") as broker:
        session = broker.open_move(build_plan(Action.objects.get(pk=action.pk), claim(action.pk), broker.capabilities))
        assert session._bulk(source.name, 100) == "empty"
    assert session.progress.moved == 5
    moved = [json.loads(v) for v in client.lrange(prefix + source.name, 0, -1)]
    assert {m["body"] for m in moved} == {json.loads(values[0])["body"]}
    assert all(m["headers"]["x-switchyard-action"] == action.pk for m in moved)


def filed_under(value: bytes, step: int) -> int:
    """The step Kombu files ``value`` under (steps 0, 3, 6, 9); ``step`` when it has no priority."""
    try:
        priority = json.loads(value)["properties"]["priority"]
    except (ValueError, KeyError, TypeError):
        return step
    return max(s for s in (0, 3, 6, 9) if s <= priority)


def task_id(value: bytes) -> str | None:
    try:
        return json.loads(value).get("headers", {}).get("id")
    except ValueError:
        return value.decode("latin-1")


@pytest.mark.parametrize("index", range(11))
def test_bulk_script_leaves_an_odd_message_first_in_line_untouched(dlq_setup, index):
    client, prefix, source, dlq, operator = dlq_setup
    odd = odd_shapes(source.name)[index]
    before, after = [dead_letter(source.name) for _ in range(3)], [dead_letter(source.name) for _ in range(2)]
    push(client, prefix + dlq.name, [*before, odd, *after])
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    with open_broker("main") as broker:
        session = broker.open_move(build_plan(Action.objects.get(pk=action.pk), claim(action.pk), broker.capabilities))
        assert session._bulk(source.name, 100) == "other"
    assert session.progress.scanned == session.progress.moved == 3
    assert client.lrange(prefix + dlq.name, 0, -1) == [*after[::-1], odd]
    assert task_ids_in(client, prefix + source.name) == [json.loads(v)["headers"]["id"] for v in before[::-1]]


def test_bulk_moves_only_the_messages_counted_at_confirmation(dlq_setup):
    """New dead letters arrive before the run and between its chunks: exactly the confirmed ones
    move, in chunks, and the later ones stay."""
    client, prefix, source, dlq, operator = dlq_setup
    confirmed = [dead_letter(source.name) for _ in range(120)]
    push(client, prefix + dlq.name, confirmed)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert action.budget == 120
    later = [dead_letter(source.name) for _ in range(15)]
    push(client, prefix + dlq.name, later[:5])
    with open_broker("main") as broker:
        session = broker.open_move(build_plan(Action.objects.get(pk=action.pk), claim(action.pk), broker.capabilities))
        steps = 0
        while not session.step(25).finished:
            steps += 1
            push(client, prefix + dlq.name, later[4 + steps : 5 + steps])
    assert steps == 4 and (session.progress.scanned, session.progress.moved) == (120, 120)
    ids = [json.loads(v)["headers"]["id"] for v in confirmed]
    assert task_ids_in(client, prefix + source.name) == ids[::-1]
    pushed = later[: 5 + steps]
    assert task_ids_in(client, prefix + dlq.name) == [json.loads(v)["headers"]["id"] for v in pushed[::-1]]


def test_a_runner_that_lost_its_claim_is_fenced_off_the_bulk_script(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    push(client, prefix + dlq.name, [dead_letter(source.name) for _ in range(10)])
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    with open_broker("main") as broker:
        session = broker.open_move(build_plan(Action.objects.get(pk=action.pk), claim(action.pk), broker.capabilities))
        client.hset(prefix + action.progress_key, "owner", "another runner")
        with pytest.raises(BrokerError, match="another runner took over") as raised:
            session.step(5)
    assert raised.value.permanent
    assert client.llen(prefix + dlq.name) == 10 and client.llen(prefix + source.name) == 0


def test_requeue_through_the_runner_keeps_priority_steps_and_every_id_once(dlq_setup):
    """Dead letters of every priority in the bare DLQ list, as the DLQ integration writes them:
    each goes back under its own priority's step, in order, once."""
    client, prefix, source, dlq, operator = dlq_setup
    values = [(p, dead_letter(source.name, priority=p)) for p in (9, 0, 4, 6, 1, 3) * 2000]
    push(client, prefix + dlq.name, [v for _, v in values])
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True).pk)
    assert action.state == Action.SUCCEEDED, action.error
    assert (action.done, action.failed, action.scanned) == (12_000, 0, 12_000)
    for priority in (0, 3, 6, 9):
        dead = [json.loads(v)["headers"]["id"] for p, v in values if sub_queue(source.name, p) == sub_queue(
            source.name, priority)]  # fmt: skip
        assert task_ids_in(client, prefix + sub_queue(source.name, priority)) == dead[::-1]
        assert client.llen(prefix + sub_queue(dlq.name, priority)) == 0


def test_bulk_splice_writes_headers_with_lua_pattern_characters_literally(dlq_setup):
    """A requeuer named with ``%`` and quotes (gsub replacement syntax, JSON escapes): the script
    writes exactly what the client splice writes."""
    client, prefix, source, dlq, operator = dlq_setup
    values = [dead_letter(source.name) for _ in range(3)]
    push(client, prefix + dlq.name, values)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    stamp = {"x-switchyard-requeued-by": 'ann %1 %0 %% "é" \\', "x-switchyard-action": 7}
    plan = build_plan(Action.objects.get(pk=action.pk), claim(action.pk), RedisBroker.capabilities)
    plan = dataclasses.replace(plan, bulk=BulkMove(headers=stamp, by_origin=True))
    with open_broker("main") as broker:
        assert broker.open_move(plan)._bulk(source.name, 10) == "empty"
    assert client.lrange(prefix + source.name, 0, -1) == [with_headers(v, stamp) for v in values[::-1]]
    assert (
        json.loads(client.lindex(prefix + source.name, 0))["headers"]["x-switchyard-requeued-by"]
        == stamp["x-switchyard-requeued-by"]
    )


@pytest.mark.parametrize(
    "shape",
    ["null priority", "priority header too", "priority only in headers"],
)
def test_a_priority_the_text_does_not_settle_goes_to_the_per_message_path(dlq_setup, shape):
    """The bulk script reads a priority only where the text proves it is the properties' one;
    otherwise it leaves the message first in line, and the per-message path files it by the
    decoded properties (no readable priority: it keeps the step it sits in)."""
    client, prefix, source, dlq, operator = dlq_setup
    envelope = json.loads(dead_letter(source.name, priority=7))
    if shape == "null priority":
        envelope["properties"]["priority"] = None
        step = 0
    elif shape == "priority header too":
        envelope["headers"]["priority"] = 1
        step = 6
    else:
        envelope["headers"]["priority"] = 9
        del envelope["properties"]["priority"]
        step = 0
    odd = json.dumps(envelope).encode()
    before, after = [dead_letter(source.name, priority=9)], [dead_letter(source.name, priority=3)]
    push(client, prefix + dlq.name, [*before, odd, *after])
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    with open_broker("main") as broker:
        plan = build_plan(Action.objects.get(pk=action.pk), claim(action.pk), broker.capabilities)
        session = broker.open_move(plan)
        assert session._bulk(source.name, 100) == "other"
        assert client.lrange(prefix + dlq.name, 0, -1) == [*after, odd]
        while not session.step(10).finished:
            pass
    assert session.progress.moved == 3
    assert task_ids_in(client, prefix + sub_queue(source.name, step)) == [envelope["headers"]["id"]]
    assert task_ids_in(client, prefix + sub_queue(source.name, 9)) == [json.loads(before[0])["headers"]["id"]]
    assert task_ids_in(client, prefix + sub_queue(source.name, 3)) == [json.loads(after[0])["headers"]["id"]]


def test_bulk_requeue_all_moves_dead_letters_and_leaves_poison_behind(dlq_setup, settings):
    """Requeue all stays server-side for messages that died fewer than SWITCHYARD_POISON_DEATHS
    times (their x-death is read in the script) and leaves a poison message where it is."""
    settings.SWITCHYARD_POISON_DEATHS = 3
    client, prefix, source, dlq, operator = dlq_setup
    poison = {**death_record(source.name), "count": 4}
    values = [(0, dead_letter(source.name)) for _ in range(60)]
    values.insert(40, (0, celery_envelope(source.name, task_id="poison-1", death=poison)))
    fill(client, prefix, dlq.name, values)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    token = claim(action.pk)
    plan = build_plan(Action.objects.get(pk=action.pk), token, RedisBroker.capabilities)
    assert plan.bulk is not None and plan.bulk.poison_deaths == 3
    with open_broker("main") as broker:
        bulk, per_message = run_plan(broker, plan, batch=25)
    assert bulk >= 40, (bulk, per_message)  # everything older than the poison went server-side
    assert bulk + per_message == 60
    assert task_ids_in(client, prefix + dlq.name) == ["poison-1"]
    assert len(task_ids_in(client, prefix + source.name)) == 60

"""Folding Celery events: order, retries, timings, hostile input, bounded memory."""

from __future__ import annotations

import time

import pytest

from messaging.celery.ingest import (
    MAX_TEXT,
    MalformedEvent,
    fold_task,
    fold_worker,
    merge_stored,
    normalize,
)
from messaging.celery.lru import LRU


def ev(kind: str, at: float, **fields) -> dict:
    return normalize({"type": kind, "timestamp": at, "utcoffset": 0, **fields}, local_received=at)


def fold_all(events):
    state = None
    for event in events:
        state = fold_task(state, event, "b")
    return state


def test_sent_event_arriving_after_success_does_not_reopen_the_task():
    state = fold_all(
        [
            ev("task-received", 10.0, uuid="t1", name="add", hostname="w1"),
            ev("task-started", 10.5, uuid="t1", hostname="w1"),
            ev("task-succeeded", 11.0, uuid="t1", hostname="w1", result="3", runtime=0.5),
            ev("task-sent", 11.2, uuid="t1", name="add", queue="q1"),
        ]
    )
    assert state.state == "SUCCESS"
    assert state.queue == "q1"
    assert state.runtime_s == 0.5
    # stamped as started before it was sent (clients stamp task-sent after publishing): the wait
    # counts from the worker's receipt instead
    assert state.wait_s == pytest.approx(0.5)
    skewed = fold_all([ev("task-received", 5.0, uuid="s"), ev("task-started", 4.0, uuid="s")])
    assert skewed.wait_s is None


def test_wait_is_started_minus_sent_else_received():
    sent = fold_all(
        [
            ev("task-sent", 1.0, uuid="a", queue="q"),
            ev("task-received", 3.0, uuid="a"),
            ev("task-started", 4.0, uuid="a"),
        ]
    )
    assert sent.wait_s == pytest.approx(3.0)
    received = fold_all([ev("task-received", 3.0, uuid="b"), ev("task-started", 4.5, uuid="b")])
    assert received.wait_s == pytest.approx(1.5)
    eta = fold_all([ev("task-received", 3.0, uuid="c", eta="2030-01-01T00:00:00"), ev("task-started", 9.0, uuid="c")])
    assert eta.wait_s is None


def test_retry_cycle_follows_the_clock_and_ends_failed():
    state = fold_all(
        [
            ev("task-received", 1, uuid="r"),
            ev("task-started", 2, uuid="r"),
            ev("task-retried", 3, uuid="r", exception="Boom()"),
            ev("task-received", 5, uuid="r", retries=1),
            ev("task-started", 6, uuid="r", retries=1),
        ]
    )
    assert (state.state, state.retries) == ("STARTED", 1)
    state = fold_task(state, ev("task-failed", 7, uuid="r", exception="Boom()", traceback="Traceback..."), "b")
    assert state.state == "FAILURE" and state.exception == "Boom()"
    assert [e["type"] for e in state.events] == ["received", "started", "retried", "received", "started", "failed"]


@pytest.mark.parametrize(
    "body",
    [[1, 2], "text", {"no": "type"}, {"type": 5}, {"type": "task-succeeded"}, {"type": "worker-heartbeat"}],
)
def test_malformed_events_are_rejected(body):
    with pytest.raises(MalformedEvent):
        normalize(body, local_received=time.time())


def test_hostile_fields_are_cut_and_coerced():
    state = fold_all([ev("task-received", 1, uuid="h", args="x" * (MAX_TEXT + 10), kwargs={"a": [1]}, retries="many")])
    assert len(state.args) == MAX_TEXT
    assert state.kwargs == '{"a": [1]}'
    assert state.retries == 0


def test_numbers_beyond_a_float_are_ignored_not_raised():
    # json.loads gives ints of any size; float() of one past 1e308 raises OverflowError, which
    # used to fail the writer's whole batch.
    huge = 10**400
    event = normalize({"type": "task-succeeded", "uuid": "n", "timestamp": huge, "utcoffset": huge,
                       "runtime": huge, "retries": huge, "clock": huge}, local_received=5.0)  # fmt: skip
    assert event["timestamp"] == 5.0
    state = fold_task(None, event, "b")
    assert (state.retries, state.runtime_s, state.state) == (0, None, "SUCCESS")
    assert "clock" not in state.events[0] and "runtime" not in state.events[0]


def test_merge_with_stored_record_keeps_what_memory_forgot():
    stored = fold_all(
        [ev("task-sent", 1, uuid="m", name="add", queue="q", args="(1, 2)"), ev("task-received", 2, uuid="m")]
    )
    later = fold_task(None, ev("task-succeeded", 4, uuid="m", result="3"), "b")
    merged = merge_stored(later, stored)
    assert (merged.state, merged.name, merged.queue, merged.args, merged.result) == (
        "SUCCESS",
        "add",
        "q",
        "(1, 2)",
        "3",
    )
    assert [e["type"] for e in merged.events] == ["sent", "received", "succeeded"]


def test_worker_goes_offline_after_missing_heartbeats_and_counts_them():
    state, changed = fold_worker(None, ev("worker-online", 0, hostname="w", freq=2.0), "b")
    assert changed == "online"
    state, changed = fold_worker(state, ev("worker-heartbeat", 2, hostname="w", freq=2.0, active=1, processed=5), "b")
    assert changed is None and state.processed == 5
    state, _ = fold_worker(state, ev("worker-heartbeat", 8, hostname="w", freq=2.0), "b")
    assert state.heartbeats_missed == 2
    assert not state.expired(now_local=12.0)
    assert state.expired(now_local=13.1)


def test_lru_stays_bounded():
    lru: LRU[int, int] = LRU(100)
    for i in range(10_000):
        lru.put(i, i)
    assert len(lru) == 100 and lru.get(9_999) == 9_999 and lru.get(0) is None


def test_a_retried_task_is_not_its_own_parent_and_keeps_a_real_parent():
    """Celery's retry re-sends the task under its own id with ``parent_id`` = that id."""
    retried = fold_all(
        [
            ev("task-received", 10.0, uuid="t1", name="flaky", hostname="w1", parent_id="t1", root_id="t1"),
            ev("task-retried", 10.5, uuid="t1", hostname="w1", exception="ValueError()"),
        ]
    )
    assert retried.parent_id == ""
    child = fold_all([ev("task-received", 10.0, uuid="t2", name="step", hostname="w1", parent_id="t1")])
    assert child.parent_id == "t1"

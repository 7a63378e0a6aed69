"""The writer's raw upsert stores exactly what the model's bulk upsert would (every field)."""

import time

import pytest

from messaging.celery.ingest import fold_task, normalize
from messaging.celery.records import TASK_FIELDS, record_from_state, upsert_tasks
from messaging.models import TaskRecord


def events(task_id, now):
    return [
        {"type": "task-received", "uuid": task_id, "name": "app.<b>add</b>", "args": "[1, 'ü']", "kwargs": "{}",
         "timestamp": now, "utcoffset": 0, "clock": 2, "hostname": "w@h", "pid": 1, "retries": 2,
         "eta": "2026-11-21T12:00:00", "root_id": "r", "parent_id": "p"},
        {"type": "task-started", "uuid": task_id, "timestamp": now + 0.5, "utcoffset": 0, "hostname": "w@h"},
        {"type": "task-failed", "uuid": task_id, "exception": "ValueError('x')", "traceback": "Traceback ...",
         "timestamp": now + 1.25, "utcoffset": 0, "hostname": "w@h"},
    ]  # fmt: skip


@pytest.mark.django_db
def test_upsert_inserts_then_updates_every_field():
    now = time.time()
    state = None
    for n, raw in enumerate(events("t-1", now)):
        state = fold_task(state, normalize(raw, now + n), "b")
        upsert_tasks([state])
        stored = TaskRecord.objects.get(task_id="t-1")
        expected = record_from_state(state)
        for name in TASK_FIELDS:
            assert getattr(stored, name) == getattr(expected, name), name
    assert TaskRecord.objects.count() == 1 and stored.state == "FAILURE" and len(stored.events) == 3


@pytest.mark.django_db
def test_timelines_orjson_cannot_write_are_stored_too():
    now = time.time()
    state = fold_task(None, normalize(events("t-2", now)[2], now), "b")
    state.events.append({"type": "imported", "at": now, "big": 2**70})  # beyond 64 bits
    upsert_tasks([state])
    assert TaskRecord.objects.get(task_id="t-2").events == state.events


@pytest.mark.django_db
def test_nul_characters_and_lone_surrogates_from_a_publisher_are_stored_as_replacement_characters():
    """JSON allows "\\u0000" and a lone "\\ud800"; no database stores them as they are, and left in
    they failed the writer's whole batch (the other tasks' updates with it)."""
    now = time.time()
    hostile = "a\x00b \ud800 c"
    raw = {**events("t-3\x00", now)[2], "exception": hostile, "traceback": hostile, "hostname": "w\udfff@h"}
    state = fold_task(None, normalize(raw, now), "b")
    neighbour = fold_task(None, normalize(events("t-4", now)[0], now), "b")
    upsert_tasks([state, neighbour])
    stored = TaskRecord.objects.get(task_id="t-3\ufffd")
    assert stored.exception == stored.traceback == "a\ufffdb \ufffd c"
    assert stored.worker == "w\ufffd@h" and stored.events[0]["hostname"] == "w\ufffd@h"
    assert stored.events[0]["exception"] == "a\ufffdb \ufffd c"
    assert TaskRecord.objects.filter(task_id="t-4").exists()

"""Duplicate deliveries from a task's events: the pure count, and the writer storing it."""

from __future__ import annotations

import time
import uuid

import pytest

from messaging.celery.writer import Activity, EventCounters, EventWriter
from messaging.duplicates import duplicate_deliveries
from messaging.models import TaskRecord


def timeline(*kinds: str) -> list[dict]:
    return [{"type": kind, "at": 100.0 + n} for n, kind in enumerate(kinds)]


def test_one_delivery_is_no_duplicate():
    assert duplicate_deliveries(timeline("sent", "received", "started", "succeeded")) == 0


def test_a_second_start_after_success_is_a_duplicate():
    assert duplicate_deliveries(timeline("received", "started", "succeeded", "received", "started", "succeeded")) == 1


def test_a_redelivery_seen_only_as_a_second_start_counts_once():
    assert duplicate_deliveries(timeline("received", "started", "started", "succeeded")) == 1


def test_retries_and_reruns_after_failure_are_not_duplicates():
    assert duplicate_deliveries(timeline("received", "started", "retried", "received", "started", "succeeded")) == 0
    assert duplicate_deliveries(timeline("received", "started", "failed", "received", "started", "succeeded")) == 0
    assert duplicate_deliveries(timeline("received", "rejected", "received", "started")) == 0


def test_order_comes_from_the_times_not_the_list():
    entries = timeline("received", "started", "failed", "received")
    assert duplicate_deliveries(list(reversed(entries))) == 0
    assert duplicate_deliveries([{"type": "started"}, {"type": "started", "at": "x"}]) == 1


def _write(writer: EventWriter, events: list[dict]) -> None:
    """What ``run_once`` does with a batch, without its connection handling (the test's database)."""
    dirty_tasks, dirty_workers, _ = writer.fold(events)
    writer.write(dirty_tasks, dirty_workers)


def _event(kind: str, task_id: str, at: float, hostname: str) -> dict:
    return {"type": kind, "uuid": task_id, "timestamp": at, "utcoffset": 0, "hostname": hostname, "name": "t.dup"}


@pytest.mark.django_db
def test_the_writer_stores_a_duplicate_start_seen_across_batches_and_restarts():
    """The first delivery is written by one writer, the second comes to a new one (a monitor
    restart): the stored timeline is merged in before counting."""
    task_id, now = uuid.uuid4().hex, time.time()
    first = EventWriter("b", EventCounters(), Activity())
    _write(first, [_event(k, task_id, now + n, "w1") for n, k in enumerate(("task-received", "task-started"))])
    assert TaskRecord.objects.get(task_id=task_id).duplicate_deliveries == 0

    second = EventWriter("b", EventCounters(), Activity())
    _write(second, [_event(k, task_id, now + 5 + n, "w2") for n, k in enumerate(("task-received", "task-started"))])

    assert TaskRecord.objects.get(task_id=task_id).duplicate_deliveries == 1


@pytest.mark.django_db
def test_duplicates_are_counted_per_task_name_and_as_an_alert_figure(client, make_user):
    from django.utils import timezone

    from messaging.celery.figures import task_figures
    from messaging.models import Worker

    now = timezone.now()
    name = f"t.{uuid.uuid4().hex[:8]}"
    for count in (1, 2, 0):
        TaskRecord.objects.create(
            task_id=uuid.uuid4().hex, broker="b", name=name, state="SUCCESS", created_at=now, updated_at=now,
            duplicate_deliveries=count,
        )  # fmt: skip
    Worker.objects.create(broker="b", hostname="w1")
    _, token = make_user("viewer")
    rows = client.get("/api/v1/tasks/duplicates", HTTP_AUTHORIZATION=f"Token {token}").json()["results"]
    mine = [r for r in rows if r["name"] == name]
    assert [(r["tasks"], r["deliveries"]) for r in mine] == [(2, 3)]
    assert task_figures().duplicate_deliveries >= 3
    bad = client.get("/api/v1/tasks/duplicates?since=yesterday", HTTP_AUTHORIZATION=f"Token {token}")
    assert bad.status_code == 400

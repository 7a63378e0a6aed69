"""The SQL the monitor relies on gives the same answers on SQLite and PostgreSQL (the suite's
database tests run on both: ``make test`` runs them again with ``DATABASE_URL=postgres://...``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messaging.audit import record
from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.history import enforce_retention
from messaging.models import AuditEntry, Queue, QueueSample
from messaging.sample_recorder import BrokerMemory, record_sample

pytestmark = pytest.mark.django_db(transaction=True)


def test_history_folds_old_raw_points_into_minutes_and_expires_the_oldest(settings):
    settings.SWITCHYARD_HISTORY_RAW_HOURS = 1
    settings.SWITCHYARD_HISTORY_ROLLUP_DAYS = 1
    now = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    queue = Queue.objects.create(broker="main", name="emails")
    old_minute = now - timedelta(hours=2)  # 10:00:30 -> folded into 10:00
    for second, depth, consumers in ((0, 10, 3), (20, 30, 1), (40, 20, 2)):
        at = old_minute.replace(second=second)
        QueueSample.objects.create(queue=queue, at=at, depth=depth, depth_max=depth, unacked=2, consumers=consumers)
    QueueSample.objects.create(queue=queue, at=now - timedelta(minutes=5), depth=7, depth_max=7)  # recent: kept raw
    QueueSample.objects.create(queue=queue, at=now - timedelta(days=3), span_s=60, depth=1)  # past rollup window

    counts = enforce_retention(now)

    assert counts == {"folded": 3, "rollups": 1, "expired": 1}
    rollup = QueueSample.objects.get(span_s=60)
    assert rollup.at == old_minute.replace(second=0)
    assert (rollup.depth, rollup.depth_max, rollup.unacked, rollup.consumers) == (20, 30, 2, 1)
    assert list(QueueSample.objects.filter(span_s=0).values_list("depth", flat=True)) == [7]
    # Running it again folds nothing twice.
    assert enforce_retention(now)["rollups"] == 0


def test_new_queues_are_created_once_even_when_already_present():
    config = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0")
    Queue.objects.create(broker="main", name="b")  # known to the database, not to this monitor's memory
    sample = BrokerSample(queues=[QueueStats(name=n, depth=d, unacked=0) for n, d in (("a", 1), ("b", 2))])
    # A memory that does not know "b" yet (as if another process created it meanwhile).
    events = record_sample(config, BrokerMemory(loaded=True), sample, 0.01).all_events
    assert sorted(Queue.objects.filter(broker="main").values_list("name", "depth")) == [("a", 1), ("b", 2)]
    assert {e["data"]["name"] for e in events if e["type"] == "queue.sample"} == {"a", "b"}


def test_audit_parameters_round_trip_as_json():
    params = {"count": 3, "ids": ["é-1", "<script>"], "nested": {"dry_run": False, "ratio": 0.5}}
    entry = record(None, "queue.purge", broker="main", queue="emails", params=params, outcome="ok")
    assert AuditEntry.objects.get(pk=entry.pk).params == params
    assert AuditEntry.objects.filter(params__count=3, params__nested__dry_run=False).count() == 1

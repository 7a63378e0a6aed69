"""A queue's JSON is built in one place (messaging.queue_shape, QueueSerializer.to_representation):
its fields must stay exactly the ones the schema declares (docs/api.md), in that order, with
unknown figures null."""

from datetime import UTC, datetime

import pytest

from console.api.serializers import QueueDetailSerializer, QueueSerializer
from messaging import queue_queries
from messaging.models import BrokerState, Queue
from messaging.sample_recorder import queue_event


@pytest.mark.django_db
def test_queue_rows_carry_exactly_the_declared_fields():
    now = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
    BrokerState.objects.create(name="r", status=BrokerState.UP, last_sampled_at=now)
    BrokerState.objects.create(name="other", status=BrokerState.DOWN, error="connection refused")
    dead = Queue.objects.create(broker="r", name="orders.dlq", depth=3, is_dlq=True, sampled_at=now)
    Queue.objects.create(broker="r", name="orders", depth=10, unacked=2, consumers=1, publish_rate=1.5,
                         consume_rate=0.25, oldest_age_s=9.0, oldest_age_exact=True, time_to_drain_s=40.0,
                         trend="rising", dlq=dead, queue_type="classic", sampled_at=now)  # fmt: skip
    Queue.objects.create(broker="other", vhost="v/1", name="<b>x</b> ☃", sampled_at=None)
    Queue.objects.create(broker="other", name="gone", present=False, sampled_at=now)
    rows = {q.name: q for chunk in queue_queries.each(queue_queries.queues(include_absent=True)) for q in chunk}
    assert len(rows) == 4
    data = {row["name"]: row for row in QueueSerializer(list(rows.values()), many=True).data}
    declared = list(QueueSerializer().fields)
    assert all(list(row) == declared for row in data.values())
    assert data["orders"] | {"id": None} == {
        "id": None, "broker": "r", "vhost": "", "name": "orders", "depth": 10, "unacked": 2, "consumers": 1,
        "publish_rate": 1.5, "consume_rate": 0.25, "oldest_age_s": 9.0, "oldest_age_exact": True,
        "time_to_drain_s": 40.0, "trend": "rising", "is_dlq": False, "dlq": "orders.dlq", "dead_letter_source": None,
        "queue_type": "classic", "present": True, "system": False, "sampled_at": data["orders"]["sampled_at"],
        "broker_status": "up", "broker_error": None, "kind": "queue", "topic": None, "group": None, "status": None,
    }  # fmt: skip
    assert data["orders"]["sampled_at"].startswith("2026-11-21T12:00:00")
    assert data["orders.dlq"]["dead_letter_source"] == "orders"
    assert (data["gone"]["broker_status"], data["gone"]["broker_error"]) == ("down", "connection refused")
    assert data["<b>x</b> ☃"]["depth"] is None and data["<b>x</b> ☃"]["sampled_at"] is None

    detail = QueueDetailSerializer(queue_queries.queue_by_id(data["orders"]["id"]), context={"history": []}).data
    assert list(detail) == [*declared, "history", "partitions", "details"] and detail["history"] == []
    assert detail["partitions"] is None
    # The stream's queue.sample event carries the same core fields, the DLQ's id and epoch time.
    event = queue_event(rows["orders"])["data"]
    assert {k: event[k] for k in declared if k in event and k != "sampled_at"} == {
        k: data["orders"][k] for k in event if k in declared and k != "sampled_at"
    }
    assert event["dlq_id"] == str(dead.pk) and event["sampled_at"] == now.timestamp()

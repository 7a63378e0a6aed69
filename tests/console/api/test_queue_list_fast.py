"""GET /api/v1/queues serialises without DRF's per-field machinery: the output must stay exactly
what QueueSerializer gives (the documented schema)."""

from datetime import UTC, datetime

import pytest

from console.api.serializers import QueueSerializer, queue_list_data
from messaging import queue_queries
from messaging.models import BrokerState, Queue


@pytest.mark.django_db
def test_fast_list_equals_the_serializer():
    now = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
    BrokerState.objects.create(name="r", status=BrokerState.UP, last_sampled_at=now)
    dead = Queue.objects.create(broker="r", name="orders.dlq", depth=3, is_dlq=True, sampled_at=now)
    Queue.objects.create(broker="r", name="orders", depth=10, unacked=2, consumers=1, publish_rate=1.5,
                         consume_rate=0.25, oldest_age_s=9.0, oldest_age_exact=True, time_to_drain_s=40.0,
                         trend="rising", dlq=dead, queue_type="classic", sampled_at=now)  # fmt: skip
    Queue.objects.create(broker="other", vhost="v/1", name="<b>x</b> ☃", sampled_at=None)
    Queue.objects.create(broker="other", name="gone", present=False, sampled_at=now)
    rows = list(queue_queries.queues(include_absent=True))
    assert len(rows) == 4
    assert queue_list_data(rows) == QueueSerializer(rows, many=True).data

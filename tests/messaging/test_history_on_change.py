"""Queue history is written only when a queue's figures change (plus a rare keep-alive), and the
chart's points carry the flat segments back in (issue 18 item 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messaging import queue_queries
from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.history import chart_points
from messaging.models import BrokerState, Queue, QueueSample
from messaging.queue_sampling import HISTORY_KEEPALIVE_S, history_row
from messaging.sample_recorder import BrokerMemory, record_sample

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def sample(**depths: int) -> BrokerSample:
    return BrokerSample(queues=[QueueStats(name=name, depth=depth, unacked=0) for name, depth in depths.items()])


def depths_stored(name: str) -> list[int | None]:
    return list(QueueSample.objects.filter(queue__name=name).order_by("at", "id").values_list("depth", flat=True))


def test_rounds_that_change_nothing_write_no_history_row():
    config = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0")
    memory = BrokerMemory()
    for depths in ({"quiet": 5, "busy": 1}, {"quiet": 5, "busy": 2}, {"quiet": 5, "busy": 2}, {"quiet": 5, "busy": 3}):
        record_sample(config, memory, sample(**depths), 0.01)

    assert depths_stored("quiet") == [5]
    assert depths_stored("busy") == [1, 2, 3]


def test_a_round_is_stamped_when_the_broker_was_asked_not_when_it_reached_the_database():
    """Rounds start one interval apart; their writes can wait behind other writes. Stamped at
    write time, a slow round then a quick one read as two points closer than an interval."""
    config = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0")
    memory = BrokerMemory()
    asked = [NOW.timestamp(), NOW.timestamp() + 2.0]
    record_sample(config, memory, sample(busy=1), 0.01, taken_at=asked[0])
    record_sample(config, memory, sample(busy=2), 0.01, taken_at=asked[1])

    stamps = list(QueueSample.objects.filter(queue__name="busy").order_by("at").values_list("at", flat=True))
    assert [at.timestamp() for at in stamps] == asked
    assert Queue.objects.get(name="busy").sampled_at.timestamp() == asked[1]


def test_an_unchanged_queue_gets_a_keepalive_point_only_after_the_keepalive_interval():
    queue = Queue.objects.create(broker="main", name="quiet", depth=4, unacked=0, consumers=1)
    last_written: dict = {}
    start = NOW.timestamp()

    assert history_row(last_written, queue, start) is not None
    assert history_row(last_written, queue, start + 2) is None
    assert history_row(last_written, queue, start + HISTORY_KEEPALIVE_S - 1) is None
    assert history_row(last_written, queue, start + HISTORY_KEEPALIVE_S) is not None
    queue.depth = 5
    assert history_row(last_written, queue, start + HISTORY_KEEPALIVE_S + 2).depth == 5


def point(queue: Queue, minutes_ago: float, depth: int | None) -> None:
    QueueSample.objects.create(
        queue=queue, at=NOW - timedelta(minutes=minutes_ago), depth=depth, depth_max=depth, unacked=0, consumers=1
    )


def test_chart_carries_the_last_point_before_the_window_to_its_start_and_the_last_point_to_now():
    queue = Queue.objects.create(broker="main", name="quiet", depth=7, unacked=0, consumers=1, sampled_at=NOW)
    point(queue, 90, 3)  # before the 1 h window
    point(queue, 30, 7)  # the last change

    points = chart_points(queue, 3600, now=NOW)

    assert [(p.at, p.depth) for p in points] == [
        (NOW - timedelta(hours=1), 3),
        (NOW - timedelta(minutes=30), 7),
        (NOW, 7),
    ]
    assert [p.pk for p in points] == [None, points[1].pk, None]  # carried points are not stored
    assert QueueSample.objects.count() == 2


def test_a_queue_quiet_for_longer_than_the_window_charts_a_flat_line():
    queue = Queue.objects.create(broker="main", name="quiet", depth=3, unacked=0, consumers=1, sampled_at=NOW)
    point(queue, 50, 3)

    points = chart_points(queue, 900, now=NOW)

    assert [(p.at, p.depth) for p in points] == [(NOW - timedelta(minutes=15), 3), (NOW, 3)]


def test_a_null_point_is_never_carried_so_an_outage_stays_a_gap():
    queue = Queue.objects.create(broker="main", name="down", sampled_at=NOW)  # figures unknown
    point(queue, 90, 3)
    point(queue, 80, None)  # the broker went down

    assert chart_points(queue, 3600, now=NOW) == []


def test_the_api_history_of_a_quiet_queue_ends_at_its_brokers_last_sample():
    BrokerState.objects.create(name="main", status=BrokerState.UP, last_sampled_at=NOW)
    queue = Queue.objects.create(
        broker="main", name="quiet", depth=2, unacked=0, consumers=1, sampled_at=NOW - timedelta(minutes=40)
    )
    point(queue, 40, 2)

    row = queue_queries.queue_by_id(str(queue.pk))
    points = chart_points(row, 3600, now=NOW + timedelta(seconds=1))

    assert [(p.at, p.depth) for p in points] == [(NOW - timedelta(minutes=40), 2), (NOW, 2)]


def test_a_dead_letter_link_is_stored_when_it_appears_and_when_it_goes():
    config = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0")
    memory = BrokerMemory()

    def dlq_of_orders() -> int | None:
        return Queue.objects.get(broker="main", name="orders").dlq_id

    record_sample(config, memory, sample(orders=1), 0.01)
    assert dlq_of_orders() is None
    record_sample(config, memory, sample(orders=1, **{"orders.dlq": 2}), 0.01)
    assert dlq_of_orders() == Queue.objects.get(name="orders.dlq").pk
    record_sample(config, memory, sample(orders=1, **{"orders.dlq": 3}), 0.01)
    assert dlq_of_orders() == Queue.objects.get(name="orders.dlq").pk
    record_sample(config, memory, sample(orders=1), 0.01)
    assert dlq_of_orders() is None

"""Which topics' newest records a sampling round reads for dead-letter headers (pure: the reads
themselves are covered against Tansu in test_kafka_dead_letters.py)."""

from __future__ import annotations

from messaging.brokers.kafka.heads import Head, _batches
from messaging.brokers.kafka.origins import RECHECK_EVERY_S, DeadLetterOrigins
from messaging.brokers.kafka.sampling import Partition


def topic(name: str, *marks: tuple[int, int]) -> dict[str, list[Partition]]:
    return {name: [Partition(name, index, low, high) for index, (low, high) in enumerate(marks)]}


def test_the_newest_record_of_the_fullest_partition_is_read_once():
    origins = DeadLetterOrigins()
    topics = topic("pay.DLT", (0, 3), (2, 9))
    assert origins.due(topics, 0.0) == [("pay.DLT", 1, 8)]
    assert origins.settle({("pay.DLT", 1, 8): Head(1.0, "pay")}) == {"pay.DLT": "pay"}
    # New records alone: the frameworks write the same headers on every record.
    assert origins.due(topic("pay.DLT", (0, 5), (2, 20)), 1.0) == []
    assert origins.settle({}) == {"pay.DLT": "pay"}


def test_an_empty_topic_is_checked_again_once_it_has_a_record():
    origins = DeadLetterOrigins()
    assert origins.due(topic("late", (0, 0)), 0.0) == []
    assert origins.settle({}) == {}
    assert origins.due(topic("late", (0, 0)), 1.0) == []
    assert origins.due(topic("late", (0, 1)), 2.0) == [("late", 0, 0)]
    assert origins.settle({("late", 0, 0): Head(1.0, "orders")}) == {"late": "orders"}


def test_a_moved_start_offset_is_checked_again_but_at_most_every_ten_minutes():
    origins = DeadLetterOrigins()
    origins.due(topic("rows", (0, 4)), 0.0)
    origins.settle({("rows", 0, 3): Head(1.0, None)})
    assert origins.due(topic("rows", (2, 6)), 60.0) == []
    assert origins.due(topic("rows", (2, 6)), RECHECK_EVERY_S) == [("rows", 0, 5)]


def test_a_record_not_read_stays_due_and_a_deleted_topic_is_forgotten():
    origins = DeadLetterOrigins()
    assert origins.due(topic("a.DLT", (0, 1)), 0.0) == [("a.DLT", 0, 0)]
    assert origins.settle({}) == {}
    assert origins.due(topic("a.DLT", (0, 1)), 1.0) == [("a.DLT", 0, 0)]
    origins.settle({("a.DLT", 0, 0): Head(None, "a")})
    origins.due({}, 2.0)
    assert origins.settle({}) == {}


def test_dead_letter_names_are_checked_first():
    origins = DeadLetterOrigins()
    topics = {**topic("a-topic", (0, 1)), **topic("b.DLT", (0, 1)), **topic("dlq.c", (0, 1))}
    assert [key[0] for key in origins.due(topics, 0.0)] == ["b.DLT", "dlq.c", "a-topic"]


def test_an_assignment_holds_one_offset_per_partition():
    keys = [("t", 0, 5), ("t", 0, 7), ("t", 1, 2), ("u", 0, 1)]
    assert _batches(keys, 1_000) == [{("t", 0): 5, ("t", 1): 2, ("u", 0): 1}, {("t", 0): 7}]
    assert _batches(keys, 2) == [{("t", 0): 5, ("t", 1): 2}, {("t", 0): 7, ("u", 0): 1}]

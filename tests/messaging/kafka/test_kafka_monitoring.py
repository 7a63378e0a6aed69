"""Kafka monitoring against the real Tansu broker: lag per partition after a real consumer group
consumed and committed part of a topic, lag as time, status transitions driven by real commits,
internal topics marked system, and a dead broker answering with an error, not a hang."""

from __future__ import annotations

import time

import pytest

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.brokers.kafka import KafkaBroker
from messaging.brokers.kafka.rows import group_rows, lagging_heads, shortest_logs_first
from messaging.brokers.kafka.sampling import read_cluster
from tests.conftest import free_port
from tests.messaging.kafka.monitoring_helpers import KAFKA, Group, create_topic, delete_created_topics, name, produce
from tests.waiting import wait_for


@pytest.fixture(autouse=True)
def _delete_topics():
    yield
    delete_created_topics()


@pytest.fixture
def broker():
    # Statuses judged over 3 samples (the default 5 would only make the test longer).
    adapter = KafkaBroker(BrokerConfig(name="events", url=f"kafka://{KAFKA}", options={"status_window": 3}))
    yield adapter
    adapter.close()


def rows_of(broker: KafkaBroker) -> dict[str, object]:
    return {row.name: row for row in broker.sample().queues}


def group_rows_of(broker: KafkaBroker) -> dict[str, object]:
    """The adapter's consumer-group rows of one round, without the dead-letter header reads a full
    sample adds (seconds per round while other tests keep creating topics)."""
    view = read_cluster(broker.admin, 10)
    heads = broker._heads.lookup(shortest_logs_first(view, lagging_heads(view)))
    return {row.name: row for row in group_rows(view, broker._rows, heads, broker.status_window)}


def test_lag_per_partition_and_as_time_after_a_group_consumed_part_of_a_topic(broker):
    topic, group_id = name(), name("g")
    create_topic(topic, partitions=3)
    base_ms = int(time.time() * 1000) - 600_000
    stamps = {p: [base_ms + p * 10_000 + i * 1_000 for i in range(5)] for p in range(3)}
    for partition in range(3):
        produce(topic, partition, 5, stamps[partition])
    group = Group(group_id, topic)
    try:
        taken = group.consume(7)
    finally:
        group.close()
    committed = {}
    for message in taken:
        committed[message.partition()] = max(committed.get(message.partition(), 0), message.offset() + 1)

    rows = rows_of(broker)
    topic_row = rows[topic]
    assert (topic_row.kind, topic_row.topic, topic_row.group, topic_row.depth) == ("topic", topic, None, 15)
    assert [(p["partition"], p["low"], p["high"]) for p in topic_row.partitions] == [(0, 0, 5), (1, 0, 5), (2, 0, 5)]

    row = rows[f"{group_id}@{topic}"]
    assert (row.kind, row.topic, row.group) == ("consumer-group", topic, group_id)
    by_partition = {p["partition"]: p for p in row.partitions}
    for partition in range(3):
        part = by_partition[partition]
        assert part["high"] == 5
        assert part["committed"] == committed.get(partition)
        assert part["lag"] == (None if partition not in committed else 5 - committed[partition])
    assert (
        row.depth == sum(5 - c for c in committed.values()) == 15 - 7 - sum(5 for p in range(3) if p not in committed)
    )
    # Lag as time: the timestamp of the record at each lagging partition's committed offset; the
    # row's is the oldest of them. Heads are read within a time budget per round, so a busy
    # cluster may need another round.
    heads = {p: stamps[p][c] / 1000 for p, c in committed.items() if c < 5}
    if heads:
        row = wait_for(
            # .get: a round under load may miss a group (ListConsumerGroups answered in part).
            lambda: (r := group_rows_of(broker).get(f"{group_id}@{topic}")) and r.head_published_at is not None and r,
            timeout=30,
            message="lag as time to be read",
            diagnose=lambda: repr({k: v for k, v in broker._heads._unread.items() if k[0] == topic}),
        )
        by_partition = {p["partition"]: p for p in row.partitions}
        assert row.head_published_at == pytest.approx(min(heads.values()), abs=0.001)
    for partition, stamp in heads.items():
        assert by_partition[partition]["lag_timestamp"] == pytest.approx(stamp, abs=0.001)
    assert row.consumers == 0 and row.status == "no members"  # the member left
    # Reading those timestamps committed nothing for anyone: no group of Switchyard's has offsets.
    assert not [r for r in rows.values() if r.group and r.group.startswith("switchyard.lag")]


def test_status_goes_growing_stalled_stopped_then_ok_and_no_members(broker):
    topic, group_id = name(), name("g")
    create_topic(topic)
    produce(topic, 0, 10)
    group = Group(group_id, topic)
    key = f"{group_id}@{topic}"
    try:
        group.consume(1)  # joined and committed offset 1
        offset = 1

        def step(produced: int, advance: int) -> str | None:
            nonlocal offset
            if produced:
                produce(topic, 0, produced)
            if advance:
                offset += advance
                group.commit(0, offset)
            return group_rows_of(broker)[key].status

        statuses = [step(3, 1) for _ in range(3)]  # lag rises while committing
        assert statuses[-1] == "growing", statuses
        # The window (3 samples) starts at the last sample of the phase before: 2 more turn it.
        statuses = [step(1, 1) for _ in range(2)]  # committing, lag flat: not catching up
        assert statuses[-1] == "stalled", statuses
        statuses = [step(1, 0) for _ in range(2)]  # not committing while lag > 0
        assert statuses[-1] == "stopped", statuses
        end = group_rows_of(broker)[key].partitions[0]["high"]
        group.commit(0, end)
        assert group_rows_of(broker)[key].status == "ok"
    finally:
        group.close()
    assert rows_of(broker)[key].status == "no members"


def test_internal_topics_and_own_groups_are_system_rows(broker):
    internal, plain = f"__{name()}", name()
    create_topic(internal)
    create_topic(plain)
    rows = rows_of(broker)
    assert rows[internal].system is True
    assert rows[plain].system is False


def test_dead_broker_fails_the_round_with_a_reason_quickly():
    dead = KafkaBroker(BrokerConfig(name="gone", url=f"kafka://127.0.0.1:{free_port()}"))
    started = time.monotonic()
    try:
        with pytest.raises(BrokerError) as failure:
            dead.sample()
    finally:
        dead.close()
    assert time.monotonic() - started < 15
    assert "kafka" in str(failure.value)

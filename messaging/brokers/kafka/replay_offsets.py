"""Offsets a Kafka replay looks up and commits through the admin client: a topic's start and end
offsets and the committed offsets of several groups, each set of requests sent at once and then
awaited (a replay's setup is a few round trips, not one per group and partition), and the
position commits of a running replay (:mod:`replay_pipeline`)."""

from __future__ import annotations

from concurrent.futures import Future

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from messaging.brokers.kafka.connection import CALL_TIMEOUT_S

#: Partition -> offset.
Offsets = dict[int, int]


def watermarks(admin: AdminClient, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
    """Partition -> (start offset, end offset) of ``topic``. Raises ``KafkaException``."""
    asked = {
        spec: admin.list_offsets(
            {TopicPartition(topic, p): getattr(OffsetSpec, spec)() for p in partitions},
            request_timeout=CALL_TIMEOUT_S,
        )
        for spec in ("earliest", "latest")
    }
    found = {spec: {tp.partition: future.result(CALL_TIMEOUT_S * 2).offset for tp, future in futures.items()}
             for spec, futures in asked.items()}  # fmt: skip
    return {p: (found["earliest"][p], found["latest"][p]) for p in partitions}


def committed(admin: AdminClient, topic: str, partitions: list[int], groups: list[str]) -> dict[str, Offsets]:
    """Group -> the offsets it committed in ``topic`` (a partition without one is left out)."""
    asked = {
        group: admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])],
            request_timeout=CALL_TIMEOUT_S,
        )[group]
        for group in groups
    }
    return {
        group: {tp.partition: tp.offset for tp in answer(future, CALL_TIMEOUT_S * 2).topic_partitions if tp.offset >= 0}
        for group, future in asked.items()
    }


def commit(admin: AdminClient, topic: str, group: str, offsets: Offsets) -> Future:
    """Start committing ``offsets`` for ``group``; the future raises ``KafkaException`` on failure."""
    wanted = [TopicPartition(topic, p, offset) for p, offset in sorted(offsets.items())]
    return admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, wanted)], request_timeout=CALL_TIMEOUT_S
    )[group]


def commit_all(admin: AdminClient, topic: str, offsets_of: dict[str, Offsets]) -> None:
    """Commit each group's offsets, all at once, and wait for every answer."""
    futures = [commit(admin, topic, group, offsets) for group, offsets in offsets_of.items()]
    for future in futures:
        answer(future, CALL_TIMEOUT_S * 2)


def answer(future: Future, timeout: float | None = None) -> ConsumerGroupTopicPartitions:
    """A group request's answer; raises ``KafkaException`` when it failed, for any partition too."""
    result = future.result(timeout)
    for tp in result.topic_partitions or ():
        if tp.error is not None:
            raise KafkaException(tp.error)
    return result

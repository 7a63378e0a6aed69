"""Reading a topic's records without side effects: by partition and offset, from the oldest end,
the newest, or from a time; and the newest record's dead-letter headers.

Nothing here joins a group or commits an offset: every reader is a consumer with a fresh random
``group.id`` (never committed: auto commit and offset store off) that reads with ``assign()``.
Records come back as :class:`RawMessage`: ``position`` is the record's place in the browse,
``properties`` hold ``partition``, ``offset``, ``key``, ``record_timestamp`` (epoch seconds) and
``message_id`` = ``"<partition>:<offset>"`` (the id a replay of selected offsets names) and
``record_headers`` (the headers exactly as stored, for a replay).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, TopicPartition

from messaging.brokers.base import BrokerConfig, QueueNotFound, RawMessage
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error, consumer_settings
from messaging.dead_letter_headers import header_value

#: Prefix of the throw-away groups browsing names its readers with (never committed).
BROWSE_GROUP_PREFIX = "switchyard.browse."


@contextmanager
def reader(config: BrokerConfig) -> Iterator[Consumer]:
    """A consumer that only reads with ``assign()``: a random group that is never committed."""
    group = f"{BROWSE_GROUP_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        # A short fetch wait: a browse wants the records there are now, not a fuller batch later.
        settings = {"enable.partition.eof": False, "fetch.wait.max.ms": 10}
        consumer = Consumer(consumer_settings(config, group, **settings))
    except KafkaException as exc:
        raise broker_error(exc, config, "kafka reader refused") from None
    try:
        yield consumer
    finally:
        consumer.close()


def partitions_of(consumer: Consumer, config: BrokerConfig, topic: str) -> list[int]:
    """The topic's partitions, sorted; :class:`QueueNotFound` when it does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=CALL_TIMEOUT_S)
    except KafkaException as exc:
        raise broker_error(exc, config, f"kafka metadata of {topic!r}") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise QueueNotFound(topic)
    return sorted(found.partitions)


def watermarks(consumer: Consumer, config: BrokerConfig, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (start offset, end offset) of ``topic``."""
    marks = {}
    for partition in partitions_of(consumer, config, topic):
        try:
            marks[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise broker_error(exc, config, f"kafka offsets of {topic!r}") from None
    return marks


def record_to_raw(message: Message, position: int) -> RawMessage:
    """One record as the decoder reads it (see the module docstring for ``properties``)."""
    value = message.value() or b""
    key = message.key()
    stored = [(name, raw_value) for name, raw_value in message.headers() or () if raw_value is not None]
    kind, millis = message.timestamp()
    partition, offset = message.partition(), message.offset()
    return RawMessage(
        raw=value,
        position=position,
        queue=message.topic(),
        body=value,
        headers={name: header_value(name, raw_value) for name, raw_value in stored},
        properties={
            "partition": partition,
            "offset": offset,
            "key": key,
            "record_timestamp": None if kind == TIMESTAMP_NOT_AVAILABLE or millis < 0 else millis / 1000,
            "message_id": f"{partition}:{offset}",
            "record_headers": stored,
        },
        content_type=None,
        content_encoding=None,
        size_bytes=len(value) + len(key or b""),
    )


def read_range(
    consumer: Consumer,
    config: BrokerConfig,
    topic: str,
    partition: int,
    start: int,
    end: int,
    quiet_s: float = CALL_TIMEOUT_S,
) -> list[Message]:
    """The records of one partition from ``start`` up to (not including) ``end``, in offset order.
    Stops early, with what it has, when the broker sends nothing for ``quiet_s`` seconds (a
    compacted or truncated range has gaps: fewer records than offsets)."""
    if end <= start:
        return []
    consumer.assign([TopicPartition(topic, partition, start)])
    found: list[Message] = []
    quiet_until = time.monotonic() + quiet_s
    try:
        while time.monotonic() < quiet_until:
            batch = consumer.consume(min(end - start, 500), timeout=0.2)
            for message in batch:
                if message.error() is not None:
                    if message.error().fatal():
                        raise broker_error(KafkaException(message.error()), config, f"kafka read of {topic!r}")
                    continue
                if start <= message.offset() < end:
                    found.append(message)
                    quiet_until = time.monotonic() + quiet_s
                if message.offset() >= end - 1:
                    return found
    except KafkaException as exc:
        raise broker_error(exc, config, f"kafka read of {topic!r}") from None
    finally:
        consumer.unassign()
    return found


def peek(config: BrokerConfig, topic: str, offset: int, limit: int) -> tuple[int, list[RawMessage]]:
    """``(retained records, records)`` from the oldest end: partition 0's records first, then
    partition 1's, and so on (``offset`` counts across them in that order)."""
    with reader(config) as consumer:
        marks = watermarks(consumer, config, topic)
        count = sum(high - low for low, high in marks.values())
        messages: list[RawMessage] = []
        skip = offset
        for partition, (low, high) in sorted(marks.items()):
            if len(messages) >= limit:
                break
            size = high - low
            if skip >= size:
                skip -= size
                continue
            start = low + skip
            skip = 0
            end = min(high, start + limit - len(messages))
            for message in read_range(consumer, config, topic, partition, start, end):
                messages.append(record_to_raw(message, offset + len(messages)))
    return count, messages


def browse_partition(
    config: BrokerConfig,
    topic: str,
    partition: int,
    *,
    from_offset: int | None = None,
    from_time: float | None = None,
    limit: int = 50,
) -> list[RawMessage]:
    """Up to ``limit`` records of one partition: from ``from_offset``, else from the first record
    at or after ``from_time`` (epoch seconds, through the broker's time index), else the newest
    ``limit`` records. ``position`` is the record's offset."""
    with reader(config) as consumer:
        marks = watermarks(consumer, config, topic)
        if partition not in marks:
            raise QueueNotFound(f"{topic}[{partition}]")
        low, high = marks[partition]
        if from_offset is not None:
            start = max(low, from_offset)
        elif from_time is not None:
            start = _offset_at(consumer, config, topic, partition, from_time, high)
        else:
            start = max(low, high - limit)
        records = read_range(consumer, config, topic, partition, start, min(high, start + limit))
    found = [record_to_raw(message, message.offset()) for message in records]
    if from_time is not None:
        # A broker without a time index (Tansu) answers an offset before the time: keep the promise.
        found = [raw for raw in found if (raw.properties["record_timestamp"] or 0) >= from_time]
    return found


def _offset_at(consumer: Consumer, config: BrokerConfig, topic: str, partition: int, at: float, high: int) -> int:
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, partition, int(at * 1000))], timeout=CALL_TIMEOUT_S)
    except KafkaException as exc:
        raise broker_error(exc, config, f"kafka time index of {topic!r}") from None
    offset = found[0].offset if found else -1
    return offset if offset >= 0 else high  # no record that late: nothing to show

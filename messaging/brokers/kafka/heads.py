"""What the monitor reads from single records: the record at a given (topic, partition, offset),
by a consumer that only ``assign``s and never commits. Two facts come from each: its timestamp
(lag as time: the record at a group's committed offset) and the topic its dead-letter headers
name (the newest record of a topic). A record at an offset never changes, so each is read once
and cached by (topic, partition, offset); a round reads only offsets it has not seen.

The offsets a round has not tried yet go into one assignment (one offset per partition per
assignment): the broker serves many partitions in one fetch, where an assignment per few
partitions costs a fetch round trip each. It ends when every record is in, or :data:`QUIET_S`
after the last one came (the first may take :data:`FIRST_WAIT_S`), or at the round's deadline.
A record that did not come is asked for again with the next round's fresh ones, then alone
(Tansu answers a fetch partition after partition, about a second each for logs of some 10,000
records, and some partitions not at all: one slow partition must not hide the others), in the
caller's order, within :data:`ALONE_BUDGET_S` a round, each at most :data:`ALONE_WAIT_S`; a
record read alone in vain waits :data:`UNREAD_RETRY_S` before the next try, doubling up to
:data:`UNREAD_RETRY_MAX_S`.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, TopicPartition

from messaging.dead_letter_headers import header_value, original_topic

Key = tuple[str, int, int]

#: The most records one round reads, and how long it may spend on them.
READS_PER_ROUND = 2_000
READ_BUDGET_S = 2.0
#: Partitions of one assignment.
BATCH = 1_000
#: How long an assignment waits for its first record, then for more after the last one came.
FIRST_WAIT_S = 0.5
QUIET_S = 0.3
#: How long a record read alone may take, and all records read alone in one round.
ALONE_WAIT_S = 0.25
ALONE_BUDGET_S = 0.5
#: Seconds before a record read alone in vain is asked for again (doubling each time).
UNREAD_RETRY_S = 60.0
UNREAD_RETRY_MAX_S = 3600.0
_CACHE_LIMIT = 20_000


class Head(NamedTuple):
    """What one record says: its time (epoch seconds, None when the broker kept none) and the
    topic its dead-letter headers name (None when it carries none)."""

    stamp: float | None
    origin: str | None


class HeadRecords:
    """:class:`Head` of the records at given offsets, each read once, without committing."""

    def __init__(self, consumer_factory) -> None:  # noqa: ANN001 - a zero-argument Consumer factory
        self._factory = consumer_factory
        self._consumer: Consumer | None = None
        self._cache: dict[Key, Head] = {}
        self._unread: dict[Key, tuple[float, int]] = {}

    def lookup(self, wanted: list[Key], budget_s: float = READ_BUDGET_S) -> dict[Key, Head]:
        """The :class:`Head` of each (topic, partition, offset) read within ``budget_s`` (at most
        :data:`READ_BUDGET_S`), ``wanted`` in the order to read them; absent from the answer when
        not read (unknown)."""
        now = time.monotonic()
        deadline = now + min(budget_s, READ_BUDGET_S)
        tried: list[Key] = []
        together, alone = self._due(wanted, now)
        try:
            for batch in together:
                if time.monotonic() >= deadline:
                    break
                tried += [(t, p, o) for (t, p), o in batch.items()]
                self._read(batch, deadline, FIRST_WAIT_S)
            alone_until = min(deadline, time.monotonic() + ALONE_BUDGET_S)
            for topic, partition, offset in alone:
                if time.monotonic() >= alone_until:
                    break
                tried.append((topic, partition, offset))
                self._read({(topic, partition): offset}, alone_until, ALONE_WAIT_S)
        except KafkaException:
            self.close()  # a fresh consumer next round
        for key in tried:
            if key not in self._cache:
                self._unread[key] = (now, self._unread.get(key, (0.0, 0))[1] + 1)
        found = {key: self._cache[key] for key in wanted if key in self._cache}
        self._trim(set(wanted))
        return found

    def _due(self, wanted: list[Key], now: float) -> tuple[list[dict[tuple[str, int], int]], list[Key]]:
        """Assignments of the offsets never tried or tried once, and the offsets to read alone:
        those never read alone first (the others failed alone already)."""
        together, alone, again = [], [], []
        for key in dict.fromkeys(wanted):
            if key in self._cache:
                continue
            last, failures = self._unread.get(key, (0.0, 0))
            if failures <= 1:
                together.append(key)
            elif failures == 2:
                alone.append(key)
            elif now - last >= min(UNREAD_RETRY_S * 2 ** (failures - 3), UNREAD_RETRY_MAX_S):
                again.append(key)
        return _batches(together[:READS_PER_ROUND], BATCH), alone + again

    def _read(self, pending: dict[tuple[str, int], int], deadline: float, first_wait_s: float) -> None:
        if self._consumer is None:
            self._consumer = self._factory()
        consumer = self._consumer
        assigned = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        consumer.assign(assigned)
        quiet_until = time.monotonic() + first_wait_s
        try:
            while pending and time.monotonic() < min(deadline, quiet_until):
                for message in consumer.consume(num_messages=len(pending), timeout=0.05):
                    if message.error() is not None:
                        continue
                    key = (message.topic(), message.partition())
                    # The first record at or after the offset: the next one there is to read.
                    offset = pending.pop(key, None)
                    if offset is None:
                        continue
                    self._cache[(key[0], key[1], offset)] = _head(message)
                    quiet_until = time.monotonic() + QUIET_S
                    # The record wanted is in: the partition's later records are not.
                    consumer.pause([TopicPartition(key[0], key[1])])
        finally:
            # librdkafka keeps a partition's pause across assignments: resume before letting go.
            consumer.resume([TopicPartition(tp.topic, tp.partition) for tp in assigned])
            consumer.unassign()

    def _trim(self, keep: set[Key]) -> None:
        if len(self._cache) > _CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if k in keep}
        if len(self._unread) > _CACHE_LIMIT:
            self._unread = {k: v for k, v in self._unread.items() if k in keep}

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()


def _head(message: Message) -> Head:
    kind, millis = message.timestamp()
    stamp = None if kind == TIMESTAMP_NOT_AVAILABLE or millis < 0 else millis / 1000.0
    headers = {name: header_value(name, raw) for name, raw in message.headers() or () if raw is not None}
    return Head(stamp, original_topic(headers) if headers else None)


def _batches(keys: list[Key], size: int) -> list[dict[tuple[str, int], int]]:
    """``keys`` as assignments of at most ``size`` partitions, one offset per partition in each
    (several groups may lag on one partition at different offsets)."""
    batches: list[dict[tuple[str, int], int]] = []
    for topic, partition, offset in keys:
        for batch in batches:
            if len(batch) < size and (topic, partition) not in batch:
                batch[(topic, partition)] = offset
                break
        else:
            batches.append({(topic, partition): offset})
    return batches

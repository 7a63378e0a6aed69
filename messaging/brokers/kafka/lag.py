"""Consumer-group lag as messages and as time, and rates from offsets.

- Lag of a partition: end offset - committed offset (never below 0); a partition the group never
  committed on has no lag (null in ``partitions``) and adds nothing to the row's sum.
- Lag as time: the timestamp of the record at the committed offset (the next one the group will
  read), read by a consumer that only ``assign``s and never commits; its age is the row's
  ``oldest_age_s``. Read timestamps are cached per (topic, partition, offset), so a round reads
  only the partitions whose committed offset moved, within a time budget.
- Rates: publish from end offsets, consume from committed offsets, each over
  :data:`messaging.lag.RATE_WINDOW_S`, as the other transports' derived rates are.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, TopicPartition

from messaging.brokers.kafka.status import WINDOW, OffsetPoint
from messaging.lag import RATE_WINDOW_S

#: The most partitions whose head timestamp one round reads, and how long it may spend on them.
TIMESTAMP_READS_PER_ROUND = 500
TIMESTAMP_BUDGET_S = 2.0
_CACHE_LIMIT = 20_000


@dataclass
class RowMemory:
    """What the adapter remembers about one row between rounds: (at, end sum, committed sum)
    points of the rate window and each partition's last offsets for the status window."""

    points: deque = field(default_factory=deque)
    windows: dict[int, deque] = field(default_factory=dict)

    def rates(self, at: float, end_sum: int | None, committed_sum: int | None) -> tuple[float | None, float | None]:
        """(publish, consume) per second over the rate window, then remember this point."""
        publish = consume = None
        if self.points:
            since_at, since_end, since_committed = self.points[0]
            elapsed = at - since_at
            if elapsed > 0:
                if end_sum is not None and since_end is not None:
                    publish = max(end_sum - since_end, 0) / elapsed
                if committed_sum is not None and since_committed is not None:
                    consume = max(committed_sum - since_committed, 0) / elapsed
        self.points.append((at, end_sum, committed_sum))
        while len(self.points) > 2 and self.points[1][0] <= at - RATE_WINDOW_S:
            self.points.popleft()
        return publish, consume

    def window(self, partition: int, point: OffsetPoint) -> deque:
        kept = self.windows.setdefault(partition, deque(maxlen=WINDOW))
        kept.append(point)
        return kept


class HeadTimestamps:
    """Timestamps (epoch seconds) of the records at given offsets, read without committing."""

    def __init__(self, consumer_factory) -> None:  # noqa: ANN001 - a zero-argument Consumer factory
        self._factory = consumer_factory
        self._consumer: Consumer | None = None
        self._cache: dict[tuple[str, int, int], float | None] = {}

    def lookup(self, wanted: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], float | None]:
        """The timestamp of each (topic, partition, offset) that could be read in the budget;
        absent from the answer when not read (unknown)."""
        missing = [key for key in wanted if key not in self._cache][:TIMESTAMP_READS_PER_ROUND]
        if missing:
            self._read(missing)
        found = {key: self._cache[key] for key in wanted if key in self._cache}
        self._trim(set(wanted))
        return found

    def _read(self, keys: list[tuple[str, int, int]]) -> None:
        if self._consumer is None:
            self._consumer = self._factory()
        consumer = self._consumer
        pending = {(t, p): o for t, p, o in keys}
        consumer.assign([TopicPartition(t, p, o) for t, p, o in keys])
        deadline = time.monotonic() + TIMESTAMP_BUDGET_S
        try:
            while pending and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=len(pending), timeout=0.2):
                    if message.error() is not None:
                        continue
                    key = (message.topic(), message.partition())
                    offset = pending.pop(key, None)
                    if offset is None:
                        continue
                    kind, millis = message.timestamp()
                    stamp = None if kind == TIMESTAMP_NOT_AVAILABLE or millis < 0 else millis / 1000.0
                    self._cache[(key[0], key[1], offset)] = stamp
                    consumer.pause([TopicPartition(key[0], key[1])])
        finally:
            consumer.unassign()

    def _trim(self, keep: set[tuple[str, int, int]]) -> None:
        if len(self._cache) > _CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if k in keep}

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()

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

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, TopicPartition

from messaging.brokers.kafka.status import WINDOW, OffsetPoint
from messaging.lag import RATE_WINDOW_S

#: The most partitions whose head timestamp one round reads, and how long it may spend on them.
TIMESTAMP_READS_PER_ROUND = 500
TIMESTAMP_BUDGET_S = 2.0
#: Seconds before a head that could not be read is asked for again.
UNREAD_RETRY_S = 60.0
#: Partitions read per assignment, and how long one assignment may wait for its records.
HEAD_BATCH = 16
HEAD_BATCH_WAIT_S = 0.5
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

    def window(self, partition: int, point: OffsetPoint, size: int = WINDOW) -> deque:
        kept = self.windows.get(partition)
        if kept is None or kept.maxlen != size:
            kept = self.windows[partition] = deque(kept or (), maxlen=size)
        kept.append(point)
        return kept


class HeadTimestamps:
    """Timestamps (epoch seconds) of the records at given offsets, read without committing."""

    def __init__(self, consumer_factory) -> None:  # noqa: ANN001 - a zero-argument Consumer factory
        self._factory = consumer_factory
        self._consumer: Consumer | None = None
        self._cache: dict[tuple[str, int, int], float | None] = {}
        self._unread: dict[tuple[str, int, int], tuple[float, int]] = {}

    def lookup(
        self, wanted: list[tuple[str, int, int]], budget_s: float = TIMESTAMP_BUDGET_S
    ) -> dict[tuple[str, int, int], float | None]:
        """The timestamp of each (topic, partition, offset) that could be read within ``budget_s``
        (at most :data:`TIMESTAMP_BUDGET_S`); absent from the answer when not read (unknown)."""
        now = time.monotonic()
        fresh, retrying = [], []
        for key in wanted:
            if key in self._cache:
                continue
            last, failures = self._unread.get(key, (0.0, 0))
            if failures == 0:
                fresh.append(key)
            elif failures == 1 or now - last >= UNREAD_RETRY_S:
                retrying.append(key)
        # A head not read in a shared assignment is tried once more on its own: another partition
        # of the batch may have been the one the broker would not serve.
        batches = _batches(fresh[:TIMESTAMP_READS_PER_ROUND]) + [{(t, p): o} for t, p, o in retrying]
        tried: list[tuple[str, int, int]] = []
        deadline = now + min(budget_s, TIMESTAMP_BUDGET_S)
        try:
            for batch in batches:
                if time.monotonic() >= deadline:
                    break
                tried += [(t, p, o) for (t, p), o in batch.items()]
                # Small batches, each with its own short wait: one partition the broker will not
                # serve (Tansu, after some multi-record batches) stalls the whole fetch it is in.
                self._read(batch, min(deadline, time.monotonic() + HEAD_BATCH_WAIT_S))
        except KafkaException:
            self.close()  # a fresh consumer next round
        # A record that could not be read (deleted meanwhile, a broker that answers no fetch) is
        # not asked for again at once: one unreadable head must not cost every round its budget.
        for key in tried:
            if key not in self._cache:
                self._unread[key] = (now, self._unread.get(key, (0.0, 0))[1] + 1)
        found = {key: self._cache[key] for key in wanted if key in self._cache}
        self._trim(set(wanted))
        return found

    def _read(self, pending: dict[tuple[str, int], int], deadline: float) -> None:
        if self._consumer is None:
            self._consumer = self._factory()
        consumer = self._consumer
        assigned = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        consumer.assign(assigned)
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
            # librdkafka keeps a partition's pause across assignments: resume before letting go.
            consumer.resume([TopicPartition(tp.topic, tp.partition) for tp in assigned])
            consumer.unassign()

    def _trim(self, keep: set[tuple[str, int, int]]) -> None:
        if len(self._cache) > _CACHE_LIMIT:
            self._cache = {k: v for k, v in self._cache.items() if k in keep}
        if len(self._unread) > _CACHE_LIMIT:
            self._unread = {k: v for k, v in self._unread.items() if k in keep}

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()


def _batches(keys: list[tuple[str, int, int]]) -> list[dict[tuple[str, int], int]]:
    """``keys`` as assignments of at most :data:`HEAD_BATCH` partitions, one offset per partition
    in each (several groups may lag on one partition at different offsets)."""
    batches: list[dict[tuple[str, int], int]] = []
    for topic, partition, offset in keys:
        for batch in batches:
            if len(batch) < HEAD_BATCH and (topic, partition) not in batch:
                batch[(topic, partition)] = offset
                break
        else:
            batches.append({(topic, partition): offset})
    return batches

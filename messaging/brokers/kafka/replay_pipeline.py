"""The produce side of a Kafka replay: batches handed to the idempotent producer without waiting
for them, and the replay's position committed behind their delivery reports.

Guarantees (docs/brokers.md, "Browse and replay"):

- The position committed only ever lies past records whose every delivery report succeeded
  (``acks=all``): batches are confirmed in the order they were produced, and a commit covers a
  prefix of confirmed batches the caller has already counted (:meth:`ReplayPipeline.mark_counted`).
- One commit is outstanding at a time, carrying the newest confirmed position: commits follow
  the broker's own pace (Tansu answers one in 50-90 ms) instead of one per batch.
- Records produced past the last answered commit are *in doubt* (a crash may replay them again).
  :meth:`ReplayPipeline.make_room` waits before a batch would take them past :data:`IN_DOUBT_LIMIT`,
  so a crash replays at most that many records twice.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from messaging.brokers.base import BrokerError
from messaging.brokers.kafka import replay_offsets

#: Records a replay reads and produces per step.
REPLAY_BATCH = 1_000
#: The most records produced but not yet behind a committed position: what a crash can replay
#: twice. A batch waits for confirmations and commits rather than go past it.
IN_DOUBT_LIMIT = 5_000
#: Seconds a wait may go without a delivery report or a commit's answer before the run stops (resumable).
FLUSH_TIMEOUT_S = 30.0

#: One record to produce: (target topic, value, key, headers).
Outgoing = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]


class InFlightBatch:
    """One produced batch awaiting its delivery reports, and the position to commit after them
    (partition -> the offset after the last record read)."""

    def __init__(self, positions: dict[int, int], size: int) -> None:
        self.positions = positions
        self.size = size
        self.pending = size
        self.failures: list[str] = []
        self.counted = False

    def delivered(self, error: Any, _message: Any) -> None:
        self.pending -= 1
        if error is not None:
            self.failures.append(str(error))


class ReplayPipeline:
    """Batches in flight and the position behind them (see the module docstring). The position
    is committed for ``group`` through the admin client; its failures surface as
    ``KafkaException`` (a failed delivery as :class:`BrokerError`)."""

    def __init__(
        self, producer: Producer, admin: AdminClient, topic: str, group: str, limit: int = IN_DOUBT_LIMIT
    ) -> None:
        self.producer, self.admin, self.topic, self.group, self.limit = producer, admin, topic, group, limit
        self._batches: deque[InFlightBatch] = deque()
        self._committing: list[InFlightBatch] = []
        self._commit: Future | None = None
        #: Records produced whose position no answered commit covers yet.
        self.in_doubt = 0

    @property
    def idle(self) -> bool:
        return not self._batches and self._commit is None

    def mark_counted(self) -> None:
        """Every batch produced so far is counted in the progress the caller saved: its position
        may be committed (a crash after the commit then never loses its count)."""
        for batch in self._batches:
            batch.counted = True

    def produce(self, records: Iterable[Outgoing], positions: dict[int, int], size: int) -> None:
        """Hand one batch (``size`` records; none when the selection kept nothing) to the producer."""
        batch = InFlightBatch(positions, size)
        self._batches.append(batch)
        self.in_doubt += size
        produce, delivered = self.producer.produce, batch.delivered
        try:
            for index, (target, value, key, headers) in enumerate(records):
                produce(target, value=value, key=key, headers=headers, on_delivery=delivered)
                if index % 256 == 255:  # serve delivery reports now and then, not per record
                    self.producer.poll(0)
            self.producer.poll(0)
        except (KafkaException, BufferError) as exc:
            raise BrokerError(f"kafka replay produce: {exc}") from None
        self.advance()

    def advance(self) -> None:
        """Take the delivery reports and the commit answer that arrived; commit the newest
        confirmed position when no commit is outstanding. Raises on a failed delivery or commit
        (the position stays before the failed batch: it is in doubt)."""
        if self._commit is not None and self._commit.done():
            replay_offsets.answer(self._commit)
            self.in_doubt -= sum(batch.size for batch in self._committing)
            self._commit, self._committing = None, []
        for batch in self._batches:
            if batch.failures:
                raise BrokerError(f"kafka replay produce: {batch.failures[0]}")
        if self._commit is None:
            self._commit_confirmed()

    def _commit_confirmed(self) -> None:
        ready: list[InFlightBatch] = []
        while self._batches and self._batches[0].counted and self._batches[0].pending == 0:
            ready.append(self._batches.popleft())
        if not ready:
            return
        positions: dict[int, int] = {}
        for batch in ready:
            positions.update(batch.positions)
        self._committing = ready
        self._commit = replay_offsets.commit(self.admin, self.topic, self.group, positions)

    def make_room(self, incoming: int, meanwhile: Callable[[], bool] | None = None) -> None:
        """Wait until ``incoming`` more records keep the records in doubt within the limit (a
        batch larger than the limit waits for nothing to be in doubt). ``meanwhile()`` is called
        while waiting, between reports, until it returns False (work that needs no room, such as
        reading the next batches)."""
        self._wait_until(lambda: self.in_doubt == 0 or self.in_doubt + incoming <= self.limit, meanwhile)

    def drain(self) -> None:
        """Wait for every delivery report and commit everything produced: nothing in doubt."""
        self.mark_counted()
        self._wait_until(lambda: self.idle)

    def _wait_until(self, done: Callable[[], bool], meanwhile: Callable[[], bool] | None = None) -> None:
        """Serve reports and answers until ``done()``; raises :class:`BrokerError` once none came
        for :data:`FLUSH_TIMEOUT_S` (a slow broker that keeps confirming is waited for)."""
        self.advance()
        deadline, last = time.monotonic() + FLUSH_TIMEOUT_S, self._still_open()
        while not done():
            if self._still_open() != last:
                deadline, last = time.monotonic() + FLUSH_TIMEOUT_S, self._still_open()
            if time.monotonic() >= deadline:
                unconfirmed = sum(batch.pending for batch in self._batches)
                reason = f"{unconfirmed} record(s) unconfirmed" if unconfirmed else "no answer to a position commit"
                raise BrokerError(f"kafka replay: {reason}, nothing confirmed or committed for {FLUSH_TIMEOUT_S:.0f} s")
            if meanwhile is not None and meanwhile():
                self.producer.poll(0)
            elif any(batch.pending for batch in self._batches):
                self.producer.poll(0.005 if self._commit is not None else 0.05)
            elif self._commit is not None:
                wait([self._commit], timeout=0.05)
            else:
                time.sleep(0.005)  # nothing to wait on here: the next advance() commits
            self.advance()

    def _still_open(self) -> tuple[int, int]:
        """(records unconfirmed, records in doubt): what a wait that makes progress lowers."""
        return sum(batch.pending for batch in self._batches), self.in_doubt

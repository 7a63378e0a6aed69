"""Replaying a Kafka dead-letter topic for the requeue and move actions, and truncating it for a
purge.

Guarantees (docs/brokers.md, "Browse and replay"):

- Nothing is lost: a batch's position is committed only after every record of it was confirmed
  by its target (``acks=all``, idempotent producer, every delivery report checked). One batch is
  confirmed while the next is produced.
- The replay's position is the committed offset of a Switchyard-owned group per dead-letter topic
  and action, :func:`position_group` (``switchyard.replay.<topic>.action.<id>``); the range (the
  topic's start and end offsets when the replay started) is kept as the committed offsets of
  ``<group>.start`` and ``<group>.end``. A run that died resumes after the last committed
  offset and never repeats what was confirmed and committed; it can replay again at most the two
  batches produced but not yet committed (``Capabilities.move_duplicate_bound``, 2 x 500),
  counted through ``MovePlan.on_in_doubt`` as for RabbitMQ. ``moved`` counts a batch when it is
  produced, so after a crash it includes the copies replayed again (at most ``duplicated``).
- Records are never removed from the dead-letter topic (Kafka cannot delete one record): a
  replayed record stays, past the replay's position. A dry run reads and commits nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from messaging.brokers.base import BrokerConfig, BrokerError, RawMessage
from messaging.brokers.kafka import browse
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error, client_settings, consumer_settings
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession

REPLAY_GROUP_PREFIX = "switchyard.replay."
#: Seconds a batch may wait for its delivery reports before the run stops (resumable).
FLUSH_TIMEOUT_S = 30.0
PRODUCER_SETTINGS = {"acks": "all", "enable.idempotence": True, "linger.ms": 5, "compression.type": "none"}


def producer_settings(config: BrokerConfig) -> dict[str, Any]:
    """The replay producer's settings: the broker's ``transport_options.replay_producer`` table
    (e.g. ``batch.num.messages``), then acks=all and idempotence, which it cannot turn off."""
    tuned = config.options.get("replay_producer") or {}
    return {
        **PRODUCER_SETTINGS,
        **(tuned if isinstance(tuned, dict) else {}),
        "acks": "all",
        "enable.idempotence": True,
    }


def position_group(topic: str, progress_key: str) -> str:
    """The group whose committed offsets are this action's position in ``topic``."""
    tag = progress_key.removeprefix("switchyard.").removesuffix(".progress") or f"run.{uuid.uuid4().hex[:12]}"
    return f"{REPLAY_GROUP_PREFIX}{topic}.{tag}"


def header_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, default=str).encode()


class InFlightBatch:
    """One produced batch awaiting its delivery reports, and the position to commit after them."""

    def __init__(self, positions: list[TopicPartition], size: int) -> None:
        self.positions = positions
        self.size = size
        self.pending = size
        self.failures: list[str] = []

    def delivered(self, error: Any, _message: Any) -> None:
        self.pending -= 1
        if error is not None:
            self.failures.append(str(error))


class KafkaReplaySession(MoveSession):
    """One run of a replay (see the module docstring). Per-message targets that do not exist
    count as unroutable (never auto-created); a missing ``plan.target`` is created only with
    ``create_target``."""

    def __init__(self, config: BrokerConfig, admin: AdminClient, plan: MovePlan) -> None:
        self.config, self.admin, self.plan = config, admin, plan
        self.group = position_group(plan.source, plan.progress_key)
        self.progress = plan.resume_from or MoveProgress()
        self.progress = MoveProgress(**{**vars(self.progress), "finished": False})
        self._known_topics: dict[str, bool] = {}
        self._stamp_of: dict[str, Any] | None = None
        self._stamp: list[tuple[str, bytes]] = []
        self._in_flight: InFlightBatch | None = None
        self._moves_known = True
        self._commits_pending = 0
        self._commit_errors: list[str] = []
        self._consumer = self._open_consumer(self.group)
        self._committer: Consumer | None = None
        self._producer: Producer | None = None
        try:
            self._ranges = self._load_ranges()
            self._check_target()
            if not plan.dry_run:
                self._producer = Producer(client_settings(config, **producer_settings(config)))
                # Never assigned: it only commits the position, and its poll() only serves callbacks.
                self._committer = self._open_consumer(self.group, on_commit=self._on_commit)
            self._assign()
        except KafkaException as exc:
            self.close()
            raise broker_error(exc, config, "kafka replay could not start") from None
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open_consumer(self, group: str, **extra: Any) -> Consumer:
        try:
            return Consumer(consumer_settings(self.config, group, **{"enable.partition.eof": False, **extra}))
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka replay reader refused") from None

    def _load_ranges(self) -> dict[int, list[int]]:
        """Partition -> [position, end]: the committed position (else the start snapshot) and the
        end snapshot, both taken and committed on the first run. The totals the caller kept are
        set to what the committed position says was confirmed (the caller saves its progress
        after a batch is committed: a crash between the two must not lose a batch's count)."""
        topic = self.plan.source
        marks = browse.watermarks(self._consumer, self.config, topic)
        parts = [TopicPartition(topic, p) for p in sorted(marks)]
        if self.plan.dry_run:  # nothing was committed: a resumed dry run starts again
            self.progress.scanned = self.progress.moved = self.progress.unroutable = 0
            return {p: [low, high] for p, (low, high) in marks.items()}
        starts = self._snapshot(".start", parts, {p: low for p, (low, _) in marks.items()})
        ends = self._snapshot(".end", parts, {p: high for p, (_, high) in marks.items()})
        done = {tp.partition: tp.offset for tp in self._consumer.committed(parts, timeout=CALL_TIMEOUT_S)}
        ranges = {p: [max(done.get(p, -1), starts[p], low), ends[p]] for p, (low, _) in marks.items()}
        # Scanned is what the committed position says: the saved total also counts batches still
        # in flight when a run died, which this run reads again (and must not be cut off for).
        confirmed = sum(max(done.get(p, -1), starts[p]) - starts[p] for p in marks)
        behind = confirmed - self.progress.scanned
        # Ahead of the position: ``moved`` counts records whose delivery is unknown, so it cannot
        # say when a selection of ids is complete; this run then reads to the end.
        self._moves_known = behind >= 0
        self.progress.scanned = confirmed
        bulk = self.plan.bulk
        if behind > 0 and bulk is not None and not bulk.poison_deaths:  # every record was taken and replayed
            self.progress.moved += behind
        return ranges

    def _snapshot(self, suffix: str, parts: list[TopicPartition], now: dict[int, int]) -> dict[int, int]:
        """The offsets committed for the group ``<group><suffix>``; on the first run, ``now``,
        committed there."""
        consumer = self._open_consumer(self.group + suffix)
        try:
            found = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=CALL_TIMEOUT_S)}
            if any(found.get(p, -1) < 0 for p in now):
                found = dict(now)
                offsets = [TopicPartition(parts[0].topic, p, offset) for p, offset in found.items()]
                consumer.commit(offsets=offsets, asynchronous=False)
        finally:
            consumer.close()
        return found

    def _check_target(self) -> None:
        target = self.plan.target
        if target is None or self._exists(target):
            return
        if not self.plan.create_target:
            raise BrokerError(f"topic {target!r} does not exist", permanent=True)
        if self.plan.dry_run:
            self.target_created = f"topic {target!r} (would be created)"
            return
        partitions = max(len(self._ranges), 1)
        futures = self.admin.create_topics([NewTopic(target, partitions, 1)], request_timeout=CALL_TIMEOUT_S)
        for future in futures.values():
            future.result(CALL_TIMEOUT_S * 2)
        self._known_topics[target] = True
        self.target_created = f"topic {target!r} with {partitions} partition(s)"

    def _exists(self, topic: str) -> bool:
        if topic not in self._known_topics:
            try:
                browse.partitions_of(self._consumer, self.config, topic)
                self._known_topics[topic] = True
            except BrokerError as exc:
                if not exc.permanent:
                    raise
                self._known_topics[topic] = False
        return self._known_topics[topic]

    def _assign(self) -> None:
        pending = [TopicPartition(self.plan.source, p, pos) for p, (pos, end) in self._ranges.items() if pos < end]
        self._consumer.assign(pending)

    # -- batches -------------------------------------------------------------------------------

    def step(self, batch_size: int) -> MoveProgress:
        """Read and produce one batch, then wait for the previous batch's delivery reports and
        commit its position: one batch is confirmed while the next is produced. A batch is counted
        in the step that produces it and committed in a later one, so the caller's saved totals
        never fall behind the committed position (a crash re-reads only counted batches)."""
        if self.progress.finished:
            return self.progress
        want = min(batch_size, self.plan.budget - self.progress.scanned)
        records = self._read(want) if want > 0 else []
        outgoing = self._choose(records)
        current = None
        if not self.plan.dry_run:
            self._await_commits()
        if records and not self.plan.dry_run:
            # In doubt from here: the batch in flight and this one (the older ones are committed).
            current = InFlightBatch(self._positions(records), len(outgoing))
            self._doubt((self._in_flight.size if self._in_flight else 0) + current.size)
            self._produce(outgoing, current)
        self._settle_in_flight()
        self._in_flight = current
        self.progress.moved += len(outgoing)
        reading_done = not records or self._exhausted() or self._budget_spent()
        if reading_done and current is None and not self.plan.dry_run:
            self._await_commits()
            self._doubt(0)
        self.progress.finished = reading_done and current is None
        return self.progress

    def settle(self) -> MoveProgress | None:
        if self._in_flight is None and not self._commits_pending:
            return None
        self._settle_in_flight()
        self._await_commits()
        self._doubt(0)
        return self.progress

    def _choose(self, records: list[RawMessage]) -> list[tuple[str, RawMessage]]:
        """The selected records with their targets; the rest counted as scanned or unroutable."""
        outgoing: list[tuple[str, RawMessage]] = []
        wanted = self.plan.max_moves if self._moves_known else None
        for raw in records:
            self.progress.scanned += 1
            if wanted is not None and self.progress.moved + len(outgoing) >= wanted:
                continue  # every selected id found: the rest of the batch is only passed over
            if not self.plan.selector(raw):
                continue
            target = self.plan.destination(raw)
            if target is None or not self._exists(target):
                self.progress.unroutable += 1
                continue
            outgoing.append((target, raw))
        return outgoing

    def _positions(self, records: list[RawMessage]) -> list[TopicPartition]:
        touched = sorted({raw.properties["partition"] for raw in records})
        return [TopicPartition(self.plan.source, p, self._ranges[p][0]) for p in touched]

    def _doubt(self, count: int) -> None:
        if self.plan.on_in_doubt:
            self.plan.on_in_doubt(count)

    def _budget_spent(self) -> bool:
        if self.progress.scanned >= self.plan.budget:
            return True
        return self._moves_known and self.plan.max_moves is not None and self.progress.moved >= self.plan.max_moves

    def _exhausted(self) -> bool:
        return all(pos >= end for pos, end in self._ranges.values())

    def _read(self, want: int) -> list[RawMessage]:
        """Up to ``want`` records below the end snapshot, in each partition's offset order."""
        found: list[RawMessage] = []
        # Never wait for records the range does not hold (consume() waits for all it asks for).
        want = min(want, sum(end - pos for pos, end in self._ranges.values()))
        idle = 0
        while len(found) < want and not self._exhausted():
            try:
                batch = self._consumer.consume(min(want - len(found), 1000), timeout=0.2)
            except KafkaException as exc:
                raise broker_error(exc, self.config, "kafka replay read") from None
            idle = 0 if batch else idle + 1
            if idle * 0.2 > CALL_TIMEOUT_S * 2:
                raise BrokerError(f"kafka replay read: no records from {self.plan.source!r} before its end offsets")
            for message in batch:
                self._take(message, found)
        return found

    def _take(self, message: Message, found: list[RawMessage]) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise broker_error(KafkaException(error), self.config, "kafka replay read")
            return
        position, end = self._ranges[message.partition()]
        if message.offset() < position or message.offset() >= end:
            if message.offset() >= end:  # past the snapshot: this partition is done
                self._ranges[message.partition()][0] = end
                self._consumer.pause([TopicPartition(self.plan.source, message.partition())])
            return
        self._ranges[message.partition()][0] = message.offset() + 1
        if self._ranges[message.partition()][0] >= end:
            self._consumer.pause([TopicPartition(self.plan.source, message.partition())])
        found.append(browse.record_to_raw(message, self.progress.scanned + len(found)))

    def _produce(self, outgoing: list[tuple[str, RawMessage]], batch: InFlightBatch) -> None:
        """Hand the batch to the producer (its delivery reports arrive in ``batch``)."""
        assert self._producer is not None
        try:
            for index, (target, raw) in enumerate(outgoing):
                self._producer.produce(
                    target,
                    value=raw.body,
                    key=raw.properties.get("key"),
                    headers=self._headers(raw),
                    on_delivery=batch.delivered,
                )
                if index % 64 == 0:  # serve delivery reports now and then, not per record
                    self._producer.poll(0)
        except (KafkaException, BufferError) as exc:
            raise broker_error(exc, self.config, "kafka replay produce") from None

    def _settle_in_flight(self) -> None:
        """Wait for every delivery report of the batch in flight, then commit its position; any
        failure stops the run with the batch in doubt (its position not committed)."""
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            return
        assert self._producer is not None
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while batch.pending > 0 and not batch.failures and time.monotonic() < deadline:
            self._producer.poll(0.05)
        if batch.failures or batch.pending > 0:
            self._in_flight = batch
            reason = batch.failures[0] if batch.failures else f"{batch.pending} record(s) unconfirmed"
            raise BrokerError(f"kafka replay produce: {reason}")
        self._commit(batch)

    def _commit(self, batch: InFlightBatch) -> None:
        """Commit a confirmed batch's position without waiting (the broker's answer is awaited
        before the next batch is produced: :meth:`_await_commits`)."""
        assert self._committer is not None
        self._commits_pending += 1
        try:
            self._committer.commit(offsets=batch.positions, asynchronous=True)
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka replay position commit") from None

    def _on_commit(self, error: Any, _partitions: Any) -> None:
        self._commits_pending -= 1
        if error is not None:
            self._commit_errors.append(str(error))

    def _await_commits(self) -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while self._commits_pending > 0 and not self._commit_errors and time.monotonic() < deadline:
            self._committer.poll(0.05)  # an unassigned consumer: poll only serves the callbacks
        if self._commit_errors or self._commits_pending > 0:
            reason = self._commit_errors[0] if self._commit_errors else "no answer"
            raise BrokerError(f"kafka replay position commit: {reason}")

    def _headers(self, raw: RawMessage) -> list[tuple[str, bytes]]:
        # The record's own headers as stored (Spring's numbers are binary), then provenance.
        headers = list(raw.properties.get("record_headers") or [])
        added = self.plan.transform(raw) if self.plan.transform else None
        if added:
            if added is not self._stamp_of:  # the same dict for every record: encode it once
                self._stamp_of = added
                self._stamp = [(name, header_bytes(value)) for name, value in added.items()]
            headers += self._stamp
        headers += [
            ("x-switchyard-replayed-from-topic", raw.queue.encode()),
            ("x-switchyard-replayed-from-partition", str(raw.properties["partition"]).encode()),
            ("x-switchyard-replayed-from-offset", str(raw.properties["offset"]).encode()),
        ]
        return headers

    def close(self) -> None:
        """Stop; a batch still in flight stays uncommitted (in doubt: a later run replays it)."""
        if self._producer is not None:
            self._producer.flush(CALL_TIMEOUT_S)
            self._producer = None
        for consumer in (self._consumer, self._committer):
            if consumer is not None:
                consumer.close()
        self._consumer = self._committer = None  # type: ignore[assignment]

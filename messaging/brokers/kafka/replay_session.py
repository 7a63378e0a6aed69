"""Replaying a Kafka dead-letter topic for the requeue and move actions, and truncating it for a
purge.

Guarantees (docs/brokers.md, "Browse and replay"):

- Nothing is lost: the replay's position is committed only past records confirmed by their
  target (``acks=all``, idempotent producer, every delivery report checked; :mod:`replay_pipeline`).
  Batches are produced without waiting for the previous ones; the position follows their
  confirmations, one commit outstanding at a time.
- The replay's position is the committed offset of a Switchyard-owned group per dead-letter topic
  and action, :func:`position_group` (``switchyard.replay.<topic>.action.<id>``); the range (the
  topic's start and end offsets when the replay started) is kept as the committed offsets of
  ``<group>.start`` and ``<group>.end``. A run that died resumes after the last committed
  offset and never repeats what was confirmed and committed; it can replay again at most the
  records produced past the committed position, which never exceed
  :data:`~replay_pipeline.IN_DOUBT_LIMIT` (``Capabilities.move_duplicate_bound``, 5,000),
  counted through ``MovePlan.on_in_doubt`` as for RabbitMQ. ``moved`` counts a batch when it is
  produced, so after a crash it includes the copies replayed again (at most ``duplicated``).
- Records are never removed from the dead-letter topic (Kafka cannot delete one record): a
  replayed record stays, past the replay's position. A dry run reads and commits nothing.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from messaging.brokers.base import BrokerConfig, BrokerError, RawMessage
from messaging.brokers.kafka import browse, replay_offsets, replay_pipeline
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error, client_settings, consumer_settings
from messaging.brokers.kafka.replay_pipeline import Outgoing, ReplayPipeline
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession

REPLAY_GROUP_PREFIX = "switchyard.replay."
#: Batches read ahead while the producer waits for room (for its producer id, for confirmations):
#: neither produced nor counted until their step, so a crash reads them again.
READ_AHEAD_BATCHES = 5
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
        self._from_partition: dict[int, tuple[str, bytes]] = {}
        self._moves_known = True
        self._reported_doubt: int | None = None
        self._low: dict[int, int] = {}
        #: Batches read ahead: (records, the position after them per partition they touch).
        self._ahead: deque[tuple[list[RawMessage], dict[int, int]]] = deque()
        self._batch_size = 0
        self._producer: Producer | None = None
        self._pipeline: ReplayPipeline | None = None
        if not plan.dry_run:
            # First: an idempotent producer waits ~0.5 s for its producer id (librdkafka retries
            # the request on a timer when no broker is up yet), which the setup and first read hide.
            self._producer = self._open_producer(plan.source)
        try:
            self._consumer = self._open_consumer(self.group)
            partitions = browse.partitions_of(self._consumer, config, plan.source)
            # A first run starts reading now, from the topic's start, while the range is looked
            # up: a fetch is the slow part on some brokers (Tansu's costs time in proportion to the
            # records after its offset). A resumed run reads from its position once it is known.
            reading_early = self.progress.scanned == 0
            if reading_early:
                self._consumer.assign([TopicPartition(plan.source, p, OFFSET_BEGINNING) for p in partitions])
            self._ranges = self._load_ranges(partitions)
            self._check_target()
            if self._producer is not None:
                limit = replay_pipeline.IN_DOUBT_LIMIT
                self._pipeline = ReplayPipeline(self._producer, admin, plan.source, self.group, limit)
            self._aim_reader(reading_early)
        except KafkaException as exc:
            self.close()
            raise broker_error(exc, config, "kafka replay could not start") from None
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open_producer(self, topic: str) -> Producer:
        """A producer already connected: its producer id is asked for on a 0.5 s timer, once a
        broker connection is up. Connecting at once (one metadata request) gets the id at the
        first tick; a producer left idle until its first batch (~0.15 s later) measured 1.0 s."""
        try:
            producer = Producer(client_settings(self.config, **producer_settings(self.config)))
            producer.list_topics(topic, timeout=CALL_TIMEOUT_S)
            return producer
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka replay producer refused") from None

    def _open_consumer(self, group: str, **extra: Any) -> Consumer:
        try:
            return Consumer(consumer_settings(self.config, group, **{"enable.partition.eof": False, **extra}))
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka replay reader refused") from None

    def _load_ranges(self, partitions: list[int]) -> dict[int, list[int]]:
        """Partition -> [position, end]: the committed position (else the start snapshot) and the
        end snapshot, both taken and committed on the first run. The totals the caller kept are
        set to what the committed position says was confirmed (the caller saves its progress
        after a batch is committed: a crash between the two must not lose a batch's count)."""
        topic = self.plan.source
        marks = replay_offsets.watermarks(self.admin, topic, partitions)
        self._low = {p: low for p, (low, _) in marks.items()}
        if self.plan.dry_run:  # nothing was committed: a resumed dry run starts again
            self.progress.scanned = self.progress.moved = self.progress.unroutable = 0
            return {p: [low, high] for p, (low, high) in marks.items()}
        found = replay_offsets.committed(
            self.admin, topic, partitions, [self.group + s for s in ("", ".start", ".end")]
        )
        done, starts, ends = found[self.group], found[self.group + ".start"], found[self.group + ".end"]
        first_run = {}
        if len(starts) < len(marks):
            starts = first_run[self.group + ".start"] = {p: low for p, (low, _) in marks.items()}
        if len(ends) < len(marks):
            ends = first_run[self.group + ".end"] = {p: high for p, (_, high) in marks.items()}
        if first_run:
            replay_offsets.commit_all(self.admin, topic, first_run)
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

    def _aim_reader(self, reading_early: bool) -> None:
        """Read from the position; a reader that started early from the topic's start keeps its
        fetch when the position is the start, with the partitions that have nothing left paused."""
        source = self.plan.source
        pending = [TopicPartition(source, p, pos) for p, (pos, end) in self._ranges.items() if pos < end]
        if not reading_early or any(tp.offset > self._low[tp.partition] for tp in pending):
            self._consumer.assign(pending)
            return
        done = [TopicPartition(source, p) for p, (pos, end) in self._ranges.items() if pos >= end]
        if done:
            self._consumer.pause(done)

    # -- batches -------------------------------------------------------------------------------

    def step(self, batch_size: int) -> MoveProgress:
        """Read one batch and hand it to the producer without waiting for it; the position follows
        the confirmations (:mod:`replay_pipeline`). A batch is counted in the step that produces it
        and committed only in a later one, so the caller's saved totals never fall behind the
        committed position (a crash re-reads only counted batches)."""
        if self.progress.finished:
            return self.progress
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.mark_counted()  # the caller saved the progress that counts them
            self._call(pipeline.advance)
        self._batch_size = batch_size
        records, positions = self._ahead.popleft() if self._ahead else self._read_batch()
        outgoing = self._choose(records)
        if records and pipeline is not None:
            self._call(pipeline.make_room, len(outgoing), self._read_ahead)
            # In doubt from here: every record produced past the committed position, and this batch.
            self._doubt(pipeline.in_doubt + len(outgoing))
            self._call(pipeline.produce, self._outgoing(outgoing), positions, len(outgoing))
        self.progress.moved += len(outgoing)
        reading_done = not records or (not self._ahead and (self._exhausted() or self._budget_spent()))
        produced_now = bool(records) and pipeline is not None
        if reading_done and not produced_now and pipeline is not None:
            self._call(pipeline.drain)
            self._doubt(0)
        self.progress.finished = reading_done and not produced_now
        return self.progress

    def settle(self) -> MoveProgress | None:
        if self._pipeline is None or self._pipeline.idle:
            return None
        self._call(self._pipeline.drain)
        self._doubt(0)
        return self.progress

    def _read_batch(self) -> tuple[list[RawMessage], dict[int, int]]:
        """The next batch within the budget (records read ahead count against it), and the
        position after it in each partition it touches: what committing it will record."""
        ahead = sum(len(records) for records, _ in self._ahead)
        want = min(self._batch_size, self.plan.budget - self.progress.scanned - ahead)
        records = self._read(want) if want > 0 else []
        return records, {p: self._ranges[p][0] for p in {raw.properties["partition"] for raw in records}}

    def _read_ahead(self) -> bool:
        """Read one more batch while the producer waits; False once enough are read or nothing is
        left. Not when ids are named: the replay stops at the last one found."""
        if len(self._ahead) >= READ_AHEAD_BATCHES or self.plan.max_moves is not None or self._exhausted():
            return False
        records, positions = self._read_batch()
        if not records:
            return False
        self._ahead.append((records, positions))
        return True

    def _call(self, operation: Any, *args: Any) -> None:
        """A pipeline operation; a librdkafka error becomes a :class:`BrokerError` with context."""
        try:
            operation(*args)
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka replay") from None

    def _choose(self, records: list[RawMessage]) -> list[tuple[str, RawMessage]]:
        """The selected records with their targets; the rest counted as scanned or unroutable."""
        outgoing: list[tuple[str, RawMessage]] = []
        room = None if not self._moves_known or self.plan.max_moves is None else self.plan.max_moves
        if room is not None:
            room -= self.progress.moved
        selector, destination, known = self.plan.selector, self.plan.destination, self._known_topics
        self.progress.scanned += len(records)
        unroutable = 0
        for raw in records:
            if room is not None and len(outgoing) >= room:
                break  # every selected id found: the rest of the batch is only passed over
            if not selector(raw):
                continue
            target = destination(raw)
            if target is None or not (known.get(target) or self._exists(target)):
                unroutable += 1
                continue
            outgoing.append((target, raw))
        self.progress.unroutable += unroutable
        return outgoing

    def _doubt(self, count: int) -> None:
        if self.plan.on_in_doubt and count != self._reported_doubt:
            self.plan.on_in_doubt(count)
            self._reported_doubt = count

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
            self._take(batch, found)
        return found

    def _take(self, batch: list[Message], found: list[RawMessage]) -> None:
        """Keep the records of ``batch`` inside the range, each partition's position moving past
        them; a partition that reached its end snapshot is paused."""
        base = self.progress.scanned + sum(len(records) for records, _ in self._ahead)
        ranges, ended = self._ranges, set()
        for message in batch:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise broker_error(KafkaException(error), self.config, "kafka replay read")
                continue
            partition, offset = message.partition(), message.offset()
            span = ranges[partition]
            if offset >= span[1]:  # past the snapshot: this partition is done
                span[0] = span[1]
                ended.add(partition)
                continue
            if offset < span[0]:
                continue
            span[0] = offset + 1
            if span[0] >= span[1]:
                ended.add(partition)
            found.append(browse.record_to_raw(message, base + len(found)))
        if ended:
            self._consumer.pause([TopicPartition(self.plan.source, p) for p in sorted(ended)])

    def _outgoing(self, outgoing: list[tuple[str, RawMessage]]) -> Iterator[Outgoing]:
        # The record's own headers as stored (Spring's numbers are binary), then provenance.
        transform, from_partition = self.plan.transform, self._from_partition
        from_topic = ("x-switchyard-replayed-from-topic", self.plan.source.encode())
        for target, raw in outgoing:
            properties = raw.properties
            partition = properties["partition"]
            if partition not in from_partition:
                from_partition[partition] = ("x-switchyard-replayed-from-partition", str(partition).encode())
            headers = [
                *(properties.get("record_headers") or ()),
                *self._stamped(transform(raw) if transform else None),
                from_topic,
                from_partition[partition],
                ("x-switchyard-replayed-from-offset", b"%d" % properties["offset"]),
            ]
            yield target, raw.body, properties.get("key"), headers

    def _stamped(self, added: dict[str, Any] | None) -> list[tuple[str, bytes]]:
        if not added:
            return []
        if added is not self._stamp_of:  # the same dict for every record: encode it once
            self._stamp_of = added
            self._stamp = [(name, header_bytes(value)) for name, value in added.items()]
        return self._stamp

    def close(self) -> None:
        """Stop; batches still in flight stay uncommitted (in doubt: a later run replays them)."""
        self._pipeline = None
        if self._producer is not None:
            self._producer.flush(CALL_TIMEOUT_S)
            self._producer = None
        consumer = getattr(self, "_consumer", None)
        if consumer is not None:
            consumer.close()
        self._consumer = None  # type: ignore[assignment]

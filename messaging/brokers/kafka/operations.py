"""The message side of the Kafka adapter (mixed into :class:`KafkaBroker`): browsing without
side effects, counting a topic's records, and opening replays and truncations for actions."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from messaging.brokers.base import (
    BrokerConfig,
    BrokerError,
    QueueNotFound,
    QueueStats,
    RawMessage,
)
from messaging.brokers.kafka import browse, dead_letters, replay
from messaging.brokers.kafka.connection import broker_error
from messaging.brokers.moves import MovePlan, MoveSession

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

#: Batch of a replay step. One batch is confirmed while the next is produced, so a crash can
#: replay at most two batches twice.
REPLAY_BATCH = 500
REPLAY_DUPLICATE_BOUND = 2 * REPLAY_BATCH
#: Topics whose newest record is read for dead-letter headers per sampling round, and how long
#: an answer is kept: a bounded cost whatever the number of topics.
HEADER_CHECKS_PER_ROUND = 10
HEADER_CHECK_EVERY_S = 600.0
HEADER_CHECK_BUDGET_S = 0.25


class KafkaMessages:
    """Needs ``config`` and ``admin`` from the adapter. Acts on topic rows (the row's name is the
    topic); consumer-group rows (``group@topic``) have no records of their own."""

    config: BrokerConfig
    admin: AdminClient
    _origins: dict[str, tuple[float, str | None]]

    def mark_dead_letter_topics(self, rows: list[QueueStats]) -> None:
        """Set ``dead_letter_queue`` on each source topic row (:mod:`dead_letters`): names and
        configuration every round; the headers of the newest record of up to
        :data:`HEADER_CHECKS_PER_ROUND` topics per round, each re-read every
        :data:`HEADER_CHECK_EVERY_S`, for at most :data:`HEADER_CHECK_BUDGET_S` per round. A
        failed header read leaves the name rules standing."""
        topics = [row for row in rows if row.kind == "topic" and not row.system]
        names = [row.name for row in topics]
        if not hasattr(self, "_origins"):
            self._origins = {}
        self._read_origins(names)
        origins = {topic: source for topic, (_, source) in self._origins.items() if source}
        mapping = dead_letters.dead_letter_topics(names, self.config.dead_letter_queues, origins)
        for row in topics:
            row.dead_letter_queue = mapping.get(row.name)

    def _read_origins(self, names: list[str]) -> None:
        now = time.monotonic()
        for gone in set(self._origins) - set(names):
            del self._origins[gone]
        due = [n for n in names if now - self._origins.get(n, (-HEADER_CHECK_EVERY_S, None))[0] >= HEADER_CHECK_EVERY_S]
        due = sorted(due, key=lambda n: (not dead_letters.looks_like_dead_letter_topic(n), n))
        due = due[:HEADER_CHECKS_PER_ROUND]
        if not due:
            return
        try:
            found = browse.newest_origins(self.config, due, within_s=HEADER_CHECK_BUDGET_S)
        except BrokerError:
            return
        for name, source in found.items():
            self._origins[name] = (now, source)

    def peek(self, queue: str, offset: int = 0, limit: int = 50) -> tuple[int, list[RawMessage]]:
        """``(retained records, records)`` oldest first across partitions, read with ``assign()``
        by a group that never commits (:mod:`browse`)."""
        return browse.peek(self.config, _topic(queue), offset, limit)

    def peek_partition(
        self,
        queue: str,
        partition: int,
        *,
        from_offset: int | None = None,
        from_time: float | None = None,
        limit: int = 50,
    ) -> list[RawMessage]:
        """One partition's records (:func:`browse.browse_partition`), read the same way as peek."""
        return browse.browse_partition(
            self.config, _topic(queue), partition, from_offset=from_offset, from_time=from_time, limit=limit
        )

    def count(self, queue: str) -> int | None:
        """Records retained in the topic (end minus start offsets, summed over partitions)."""
        with browse.reader(self.config) as consumer:
            marks = browse.watermarks(consumer, self.config, _topic(queue))
        return sum(high - low for low, high in marks.values())

    def queue_exists(self, queue: str) -> bool | None:
        if "@" in queue:
            return False
        try:
            with browse.reader(self.config) as consumer:
                browse.partitions_of(consumer, self.config, queue)
        except QueueNotFound:
            return False
        return True

    def open_move(self, plan: MovePlan) -> MoveSession:
        """A replay of ``plan.source`` (requeue or move), or its truncation (purge); see
        :mod:`replay` and :mod:`replay_session` for the guarantees."""
        _topic(plan.source)
        try:
            return replay.open_move(self.config, self.admin, plan)
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka action could not start") from None


def _topic(queue: str) -> str:
    if "@" in queue:
        raise QueueNotFound(queue)  # a consumer-group row: browse or replay its topic instead
    return queue

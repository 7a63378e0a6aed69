"""The message side of the Kafka adapter (mixed into :class:`KafkaBroker`): browsing without
side effects, counting a topic's records, and opening replays and truncations for actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from confluent_kafka import KafkaException

from messaging.brokers.base import (
    BrokerConfig,
    QueueNotFound,
    RawMessage,
)
from messaging.brokers.kafka import browse, replay, replay_pipeline
from messaging.brokers.kafka.connection import broker_error
from messaging.brokers.moves import MovePlan, MoveSession

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

#: Batch of a replay step. Batches are produced without waiting for the previous ones; the
#: position follows their confirmations, and a crash can replay at most the records produced past
#: it, which the replay keeps under :data:`replay_pipeline.IN_DOUBT_LIMIT`.
REPLAY_BATCH = replay_pipeline.REPLAY_BATCH
REPLAY_DUPLICATE_BOUND = replay_pipeline.IN_DOUBT_LIMIT


class KafkaMessages:
    """Needs ``config`` and ``admin`` from the adapter. Acts on topic rows (the row's name is the
    topic); consumer-group rows (``group@topic``) have no records of their own."""

    config: BrokerConfig
    admin: AdminClient

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

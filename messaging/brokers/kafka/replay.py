"""Operator actions on Kafka topics: replay (requeue and move, :mod:`replay_session`), purge as
truncation (``DeleteRecords``), and the refusal of what Kafka cannot do (delete one record)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from messaging.brokers.base import BrokerConfig, BrokerError, Unsupported
from messaging.brokers.kafka import browse
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error
from messaging.brokers.kafka.replay_session import KafkaReplaySession
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession

CANNOT_DELETE = (
    "Kafka cannot delete single records: a topic keeps its records until retention removes them or "
    "the topic is truncated (purge)"
)
PURGE_UNAVAILABLE = (
    "purge is unavailable on this broker: it closed the connection on DeleteRecords, the request "
    "that truncates a topic (Tansu does; Apache Kafka supports it)"
)


def open_move(config: BrokerConfig, admin: AdminClient, plan: MovePlan) -> MoveSession:
    """A replay session for a requeue or move, a truncation for a purge. Raises
    :class:`Unsupported` for a delete of selected records, :class:`BrokerError` otherwise."""
    if plan.deleting:
        # A delete names its records (``max_moves``); only a purge takes the whole topic.
        if not getattr(plan, "purge", plan.max_moves is None):
            raise Unsupported(CANNOT_DELETE)
        return KafkaPurgeSession(config, admin, plan)
    return KafkaReplaySession(config, admin, plan)


class KafkaPurgeSession(MoveSession):
    """Truncates the topic to its end offsets at the start of the run (``DeleteRecords``), in one
    step. ``moved`` counts the records removed. A broker without DeleteRecords fails the action
    with :data:`PURGE_UNAVAILABLE` (permanent), never a crash."""

    def __init__(self, config: BrokerConfig, admin: AdminClient, plan: MovePlan) -> None:
        self.config, self.admin, self.plan = config, admin, plan
        with browse.reader(config) as consumer:
            self._marks = browse.watermarks(consumer, config, plan.source)
        self._progress = MoveProgress(**{**vars(plan.resume_from or MoveProgress()), "finished": False})

    def step(self, batch_size: int) -> MoveProgress:
        to_remove = sum(high - low for low, high in self._marks.values())
        if not self.plan.dry_run and to_remove:
            self._truncate()
        self._progress.scanned += to_remove
        self._progress.moved += to_remove
        self._progress.finished = True
        return self._progress

    def _truncate(self) -> None:
        wanted = [TopicPartition(self.plan.source, p, high) for p, (low, high) in self._marks.items() if high > low]
        try:
            futures = self.admin.delete_records(wanted, request_timeout=CALL_TIMEOUT_S)
            for future in futures.values():
                future.result(CALL_TIMEOUT_S * 2)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code in (KafkaError._TRANSPORT, KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE):
                raise BrokerError(PURGE_UNAVAILABLE, permanent=True) from None
            raise broker_error(exc, self.config, "kafka truncation (DeleteRecords)") from None

    def close(self) -> None:
        """Nothing held between steps."""

"""The Kafka adapter: each topic is a row (depth = retained records) and each (group, topic)
pair a row (depth = lag). Monitoring never joins a group nor commits an offset."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from messaging.brokers.base import Broker, BrokerConfig, BrokerError, BrokerSample, QueueStats
from messaging.brokers.capabilities import Capabilities
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error, client_settings, consumer_settings
from messaging.brokers.kafka.dead_letters import dead_letter_topics
from messaging.brokers.kafka.heads import HeadRecords
from messaging.brokers.kafka.lag import RowMemory
from messaging.brokers.kafka.operations import REPLAY_BATCH, REPLAY_DUPLICATE_BOUND, KafkaMessages
from messaging.brokers.kafka.origins import DeadLetterOrigins
from messaging.brokers.kafka.rows import group_rows, is_internal_topic, lagging_heads, shortest_logs_first, topic_rows
from messaging.brokers.kafka.sampling import OWN_GROUP_PREFIX, ClusterView, read_cluster
from messaging.brokers.kafka.status import MIN_POINTS, WINDOW

#: How long one sampling round may take before the broker counts as down (the monitor's own
#: limit is longer: the adapter answers first, with the reason).
SAMPLE_TIMEOUT_S = 8.0


class KafkaBroker(KafkaMessages, Broker):
    transport = "kafka"
    capabilities = Capabilities(
        browse_consumes=False,
        consumer_groups=True,
        # Celery has no Kafka transport with broadcast: no event capture, no worker control.
        worker_events=False,
        deletes_messages=False,
        browses_partitions=True,
        # Truncation (DeleteRecords); a broker that refuses it fails the purge with the reason.
        purges=True,
        move_batch_size=REPLAY_BATCH,
        # A replay produces ahead while earlier batches are confirmed and their position committed:
        # a crash replays at most what lies past the last committed position (IN_DOUBT_LIMIT).
        move_duplicate_bound=REPLAY_DUPLICATE_BOUND,
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self._admin: AdminClient | None = None
        self._rows: dict[str, RowMemory] = {}
        self._heads = HeadRecords(self._head_consumer)
        self._origins = DeadLetterOrigins()
        self._sampling = threading.Lock()
        # Samples a consumer group's status is judged over (Burrow's ``intervals``).
        self.status_window = max(int(config.options.get("status_window", WINDOW)), MIN_POINTS)

    @property
    def admin(self) -> AdminClient:
        """The admin client (made on first use; librdkafka reconnects by itself)."""
        if self._admin is None:
            try:
                self._admin = AdminClient(client_settings(self.config))
            except KafkaException as exc:
                raise broker_error(exc, self.config, "kafka client settings refused") from None
        return self._admin

    def _head_consumer(self) -> Consumer:
        # Reads single records with assign() only: it never joins nor commits for its group.
        group = f"{OWN_GROUP_PREFIX}lag.{uuid.uuid4().hex[:12]}"
        # A short fetch wait: each read wants one record now, not a fuller batch later.
        settings = {"auto.offset.reset": "earliest", "fetch.wait.max.ms": 10}
        return Consumer(consumer_settings(self.config, group, **settings))

    def ping(self) -> None:
        try:
            self.admin.list_topics(timeout=CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise broker_error(exc, self.config, "kafka unreachable") from None

    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        """Every topic and (group, topic) row; ``known_queues`` and ``watched_queues`` add
        nothing (Kafka lists every topic and group it has)."""
        with self._sampling:
            try:
                started = time.monotonic()
                view = read_cluster(self.admin, SAMPLE_TIMEOUT_S)
                rows = self._rows_of(view, SAMPLE_TIMEOUT_S - (time.monotonic() - started))
            except KafkaException as exc:
                raise broker_error(exc, self.config, "kafka sample failed") from None
            except BrokerError as exc:
                raise broker_error(exc, self.config, "kafka sample failed") from None
        self._forget_unseen({f"topic:{r.name}" if r.kind == "topic" else f"group:{r.name}" for r in rows})
        return BrokerSample(queues=rows, warning="; ".join(view.warnings) or None)

    def _rows_of(self, view: ClusterView, left_s: float) -> list[QueueStats]:
        """The round's rows; the records they need (lag as time, dead-letter headers) are read
        together, in what is left of the round's limit (up to the heads' own budget)."""
        user_topics = {name: parts for name, parts in view.topics.items() if not is_internal_topic(name)}
        wanted = lagging_heads(view) + self._origins.due(user_topics, time.monotonic())
        heads = self._heads.lookup(shortest_logs_first(view, wanted), left_s)
        rows = topic_rows(view, self._rows)
        mapping = dead_letter_topics(user_topics, self.config.dead_letter_queues, self._origins.settle(heads))
        for row in rows:
            if row.name in user_topics:
                row.dead_letter_queue = mapping.get(row.name)
        return rows + group_rows(view, self._rows, heads, self.status_window)

    def _forget_unseen(self, seen: set[str]) -> None:
        for key in [k for k in self._rows if k not in seen]:
            del self._rows[key]

    def close(self) -> None:
        self._heads.close()
        self._admin = None

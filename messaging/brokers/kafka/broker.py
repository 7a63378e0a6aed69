"""The Kafka adapter: each topic is a row (depth = retained records) and each (group, topic)
pair a row (depth = lag). Monitoring never joins a group nor commits an offset."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from messaging.brokers.base import Broker, BrokerConfig, BrokerError, BrokerSample
from messaging.brokers.capabilities import Capabilities
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S, broker_error, client_settings, consumer_settings
from messaging.brokers.kafka.lag import HeadTimestamps, RowMemory
from messaging.brokers.kafka.operations import REPLAY_BATCH, REPLAY_DUPLICATE_BOUND, KafkaMessages
from messaging.brokers.kafka.rows import group_rows, topic_rows
from messaging.brokers.kafka.sampling import OWN_GROUP_PREFIX, read_cluster
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
        # A replay commits a batch's position once it is confirmed, while the next one is produced.
        move_duplicate_bound=REPLAY_DUPLICATE_BOUND,
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self._admin: AdminClient | None = None
        self._rows: dict[str, RowMemory] = {}
        self._heads = HeadTimestamps(self._lag_consumer)
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

    def _lag_consumer(self) -> Consumer:
        # Reads record timestamps with assign() only: it never joins nor commits for its group.
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
                # Lag as time gets what is left of the round's limit (up to its own budget).
                heads_s = SAMPLE_TIMEOUT_S - (time.monotonic() - started)
                rows = topic_rows(view, self._rows) + group_rows(
                    view, self._rows, self._heads, self.status_window, heads_s
                )
                self.mark_dead_letter_topics(rows)
            except KafkaException as exc:
                raise broker_error(exc, self.config, "kafka sample failed") from None
            except BrokerError as exc:
                raise broker_error(exc, self.config, "kafka sample failed") from None
        self._forget_unseen({f"topic:{r.name}" if r.kind == "topic" else f"group:{r.name}" for r in rows})
        return BrokerSample(queues=rows, warning="; ".join(view.warnings) or None)

    def _forget_unseen(self, seen: set[str]) -> None:
        for key in [k for k in self._rows if k not in seen]:
            del self._rows[key]

    def close(self) -> None:
        self._heads.close()
        self._admin = None

"""The Kafka adapter: each topic is a row (depth = retained records) and each (group, topic)
pair a row (depth = lag). Monitoring never joins a group nor commits an offset."""

from __future__ import annotations

from collections.abc import Iterable

from messaging.brokers.base import Broker, BrokerConfig, BrokerSample, RawMessage, Unsupported
from messaging.brokers.capabilities import Capabilities


class KafkaBroker(Broker):
    transport = "kafka"
    capabilities = Capabilities(
        browse_consumes=False,
        consumer_groups=True,
        deletes_messages=False,
        purges=False,
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)

    def ping(self) -> None:
        raise Unsupported("kafka adapter: ping not implemented yet")

    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        raise Unsupported("kafka adapter: sampling not implemented yet")

    def peek(self, queue: str, offset: int = 0, limit: int = 50) -> tuple[int, list[RawMessage]]:
        raise Unsupported("kafka adapter: browsing not implemented yet")

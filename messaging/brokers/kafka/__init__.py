"""The Kafka transport (confluent-kafka): the adapter (``broker``), its client settings
(``connection``), the bounded sampling round (``sampling``), lag as messages and as time
(``lag``) and the Burrow-style consumer-group status (``status``)."""

from messaging.brokers.kafka.broker import KafkaBroker

__all__ = ["KafkaBroker"]

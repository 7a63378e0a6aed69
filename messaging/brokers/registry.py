"""URL scheme -> adapter class. Adding a transport is one subpackage of ``messaging/brokers/``
(its ``__init__`` exports the adapter) and one line here per URL scheme it serves."""

from __future__ import annotations

from importlib import import_module

from messaging.brokers.base import Broker, BrokerConfig
from messaging.brokers.capabilities import Capabilities

ADAPTERS: dict[str, str] = {
    "redis": "messaging.brokers.redis.RedisBroker",
    "rediss": "messaging.brokers.redis.RedisBroker",
    "amqp": "messaging.brokers.rabbitmq.RabbitMQBroker",
    "amqps": "messaging.brokers.rabbitmq.RabbitMQBroker",
    "pyamqp": "messaging.brokers.rabbitmq.RabbitMQBroker",
    "sqs": "messaging.brokers.sqs.SQSBroker",
    "kafka": "messaging.brokers.kafka.KafkaBroker",
}


class UnknownTransport(ValueError):
    pass


def supported_schemes() -> list[str]:
    return sorted(ADAPTERS)


def check_scheme(scheme: str) -> None:
    """Raise :class:`UnknownTransport` unless an adapter serves ``scheme`` (imports nothing)."""
    if scheme not in ADAPTERS:
        raise UnknownTransport(f"unknown broker URL scheme {scheme!r}; supported: {', '.join(supported_schemes())}")


def adapter_class(scheme: str) -> type[Broker]:
    check_scheme(scheme)
    dotted = ADAPTERS[scheme]
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def broker_for(config: BrokerConfig) -> Broker:
    return adapter_class(config.scheme)(config)


def capabilities_for(scheme: str) -> Capabilities:
    """What the adapter serving ``scheme`` declares it can do (no connection is opened);
    :class:`UnknownTransport` when none serves it."""
    return adapter_class(scheme).capabilities


def transport_name(scheme: str) -> str:
    """The adapter's transport name for ``scheme`` (``redis``, ``rabbitmq``), for display."""
    return adapter_class(scheme).transport

"""URL scheme -> adapter class. Adding a transport is one subpackage of ``messaging/brokers/``
(its ``__init__`` exports the adapter) and one line here per URL scheme it serves."""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

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


# Transports whose client library is an optional extra of the package (pyproject.toml):
# scheme -> (the module the adapter imports, the extra that installs it).
OPTIONAL_LIBRARIES: dict[str, tuple[str, str]] = {
    "kafka": ("confluent_kafka", "kafka"),
    "sqs": ("boto3", "sqs"),
}


class UnknownTransport(ValueError):
    pass


class TransportLibraryMissing(UnknownTransport):
    """The scheme has an adapter, but the client library it needs is not installed."""


def supported_schemes() -> list[str]:
    return sorted(ADAPTERS)


def check_scheme(scheme: str) -> None:
    """Raise :class:`UnknownTransport` unless an adapter serves ``scheme``, and
    :class:`TransportLibraryMissing` when its client library is absent (imports nothing)."""
    if scheme not in ADAPTERS:
        raise UnknownTransport(f"unknown broker URL scheme {scheme!r}; supported: {', '.join(supported_schemes())}")
    module, extra = OPTIONAL_LIBRARIES.get(scheme, (None, None))
    if module is not None and find_spec(module) is None:
        raise TransportLibraryMissing(
            f"{scheme}:// brokers need the Python package {module.replace('_', '-')!r}, which is not installed: "
            f"pip install 'switchyard-console[{extra}]' (or `make run`, which installs requirements.txt)"
        )


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

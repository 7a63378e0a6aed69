"""Broker adapters, one module per transport, chosen by URL scheme (see ``registry``)."""

from messaging.brokers.base import (
    Broker,
    BrokerConfig,
    BrokerError,
    BrokerSample,
    QueueNotFound,
    QueueStats,
    RawMessage,
)
from messaging.brokers.registry import UnknownTransport, broker_for, supported_schemes
from messaging.brokers.urls import redact_url

__all__ = [
    "Broker",
    "BrokerConfig",
    "BrokerError",
    "BrokerSample",
    "QueueNotFound",
    "QueueStats",
    "RawMessage",
    "UnknownTransport",
    "broker_for",
    "redact_url",
    "supported_schemes",
]

"""The Redis transport, reading Kombu's Redis layout: the adapter (``broker``), Kombu's layout as
pure functions (``layout``), redis-py errors as ``BrokerError`` (``errors``), the read-only
sampling scripts (``lua``), moves and their write scripts (``moves``, ``write_lua``) and the
header splicing of stored messages (``splice``)."""

from messaging.brokers.redis.broker import RedisBroker

__all__ = ["RedisBroker"]

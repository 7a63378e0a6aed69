"""The Redis transport, reading Kombu's Redis layout: the adapter (``broker``), its read-only
sampling scripts (``lua``), moves and their write scripts (``moves``, ``write_lua``) and the
header splicing of stored messages (``splice``)."""

from messaging.brokers.redis.broker import RedisBroker

__all__ = ["RedisBroker"]

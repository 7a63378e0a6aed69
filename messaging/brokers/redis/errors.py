"""redis-py exceptions as :class:`BrokerError`, with a password-free reason."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import redis as redis_py

from messaging.brokers.base import BrokerError

if TYPE_CHECKING:
    from messaging.brokers.redis.broker import RedisBroker


class RedisErrors:
    """Turns redis-py exceptions into :class:`BrokerError` with a password-free reason."""

    def __init__(self, broker: RedisBroker, doing: str) -> None:
        self.broker, self.doing = broker, doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or isinstance(exc, BrokerError):
            return False
        if isinstance(exc, (redis_py.ConnectionError, redis_py.TimeoutError, OSError)):
            permanent = isinstance(exc, redis_py.AuthenticationError)
        elif isinstance(exc, redis_py.RedisError):
            permanent = True
        else:
            return False
        reason = self.broker._reason(exc)
        raise BrokerError(f"redis {self.doing} failed: {reason}", permanent=permanent) from None

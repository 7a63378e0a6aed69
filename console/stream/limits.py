"""How many ``/ws/stream`` connections this process holds, in total and per user.

Each connection costs a consumer task, a bounded outbox and socket buffers; the caps keep one
user's scripts (or everyone at once) from turning that into unbounded memory. Counted per server
process: with several ``serve --no-monitor`` processes each has its own caps.
"""

from __future__ import annotations

import threading
from collections import Counter

from django.conf import settings

TOO_MANY_FOR_USER = 4429  # like HTTP 429, in the application's close-code range
TOO_MANY_IN_TOTAL = 1013  # RFC 6455 "Try Again Later"

_per_user: Counter[int] = Counter()
_lock = threading.Lock()  # tests run several servers, each on its own loop, in one process


def admit(user_id: int) -> tuple[int, str] | None:
    """Count a new connection of ``user_id``; or, when a cap is reached, the close code and
    reason to refuse it with (nothing is counted then)."""
    with _lock:
        return _admit(user_id)


def _admit(user_id: int) -> tuple[int, str] | None:
    if sum(_per_user.values()) >= settings.SWITCHYARD_STREAM_MAX_CONNECTIONS:
        limit = settings.SWITCHYARD_STREAM_MAX_CONNECTIONS
        return TOO_MANY_IN_TOTAL, f"the server holds its maximum of {limit} connections; try again later"
    if _per_user[user_id] >= settings.SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER:
        limit = settings.SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER
        return TOO_MANY_FOR_USER, f"this user holds its maximum of {limit} connections"
    _per_user[user_id] += 1
    return None


def release(user_id: int) -> None:
    """Forget one connection of ``user_id`` (once per successful :func:`admit`)."""
    with _lock:
        _per_user[user_id] -= 1
        if _per_user[user_id] <= 0:
            del _per_user[user_id]


def held() -> int:
    """Connections counted now, all users together."""
    with _lock:
        return sum(_per_user.values())

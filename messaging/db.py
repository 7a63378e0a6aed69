"""Database work from threads Django's request cycle does not manage (executors, ``asyncio.to_thread``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections

T = TypeVar("T")


def call_in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)``, closing this thread's unusable or expired database connections before and
    after: a connection the database dropped (a restart, an idle timeout) is not reused, and none
    is left open when the pool recycles the thread. Returns what ``func`` returns; raises what it
    raises."""
    close_old_connections()
    try:
        return func(*args)
    finally:
        close_old_connections()

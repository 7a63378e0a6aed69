"""Database work from threads Django's request cycle does not manage (executors, ``asyncio.to_thread``,
the monitor's own threads)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections

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


def call_once_in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` for rare work (a takeover's claim) in a shared pool's thread: the thread's
    connections are closed after, rather than kept for work that may never come."""
    try:
        return func(*args)
    finally:
        close_thread_connections()


def close_thread_connections() -> None:
    """Close every database connection this thread opened; for a thread about to end. Django keeps
    one per thread (``CONN_MAX_AGE``) and nothing closes it when its thread ends: it stays open
    until the garbage collector finds it. A monitor whose leadership changed twelve times (new
    threads each term) held 60 connections to PostgreSQL, and the next change met "too many
    clients"."""
    connections.close_all()


def shut_down_database_thread(pool: ThreadPoolExecutor, wait: bool = True) -> None:
    """Shut down a one-thread ``pool`` whose jobs used the database, its thread's connections
    closed after the jobs already queued (a job whose awaiting task was cancelled was cancelled
    with it)."""
    pool.submit(close_thread_connections)
    pool.shutdown(wait=wait)

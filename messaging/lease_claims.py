"""The database side of a takeover: claiming the lease row, and ending what keeps a claim waiting.

A claim waits while a session of the previous leader holds the lease row, and every transaction of
a fenced round holds it from its first statement (the fence check) to its commit. PostgreSQL ends
such a session once it sits idle in its transaction for longer than the fence's
``idle_in_transaction_session_timeout``, but only while the server waits for a whole next
statement. A process paused in the middle of an ``executemany`` (psycopg sends it as a pipeline,
with no idle point until its end) leaves the session active and the row locked: the successor
waited for the whole pause (a SIGSTOP of 14 s in CI). So a claim that still waits after a third of
the lock's TTL ends the sessions that block it (:func:`end_sessions_blocking`). They belong to a
process that no longer holds the lock, whose writes the fence would refuse anyway; ending them
rolls back a round that was never going to count.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import MonitorLease


class ClaimSession:
    """The database session a claim runs in, filled in by the claim's thread before it may wait."""

    def __init__(self) -> None:
        self.backend_pid: int | None = None


def claim_lease(name: str, identity: str, session: ClaimSession | None = None) -> int:
    """Record a takeover in the database and return the new fencing token. ``session`` learns the
    PostgreSQL session's process id first, so that another thread can end what blocks it."""
    with transaction.atomic():
        if session is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                session.backend_pid = cursor.fetchone()[0]
        MonitorLease.objects.get_or_create(name=name)
        lease = MonitorLease.objects.select_for_update().get(name=name)
        now = timezone.now()
        lease.token += 1
        lease.holder = identity
        lease.since = now
        lease.renewed_at = now
        lease.save()
        return lease.token


def end_sessions_blocking(session: ClaimSession) -> int:
    """Terminate the PostgreSQL sessions that ``session``'s claim waits for (the lease row's
    holders and those queued before it); returns how many ended. Needs the same database role as
    those sessions (or ``pg_signal_backend``); raises the database's error otherwise."""
    if session.backend_pid is None or connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest(pg_blocking_pids(%s)) AS pid",
            [session.backend_pid],
        )
        return int(cursor.fetchone()[0])

"""Duplicate deliveries: the same task id received or started again by a delivery that was not a
retry nor a re-run after a failure. Pure functions, no I/O.

At-least-once delivery hands a message over again when its acknowledgement was lost (a worker
killed after starting an ``acks_late`` task, a Redis visibility timeout running out, a publisher
sending one id twice): the task runs twice. Celery's events show it as a second ``task-received``
or ``task-started`` for the id with no ``task-failed``, ``task-retried``, ``task-rejected`` or
``task-revoked`` between: those end a delivery on purpose (a retry is sent again under the same id;
an operator's requeue of a failed task is a new run, shown on the journey, not a duplicate).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Timeline entry types (``task-`` left off, as ``ingest`` stores them) after which receiving or
#: starting the id again is expected.
DELIVERY_ENDS = frozenset({"failed", "retried", "rejected", "revoked"})


def duplicate_deliveries(timeline: Iterable[dict[str, Any]]) -> int:
    """Deliveries beyond the first among ``timeline`` (a task's event entries, any order): the
    larger of the extra ``received`` and the extra ``started`` entries, so a redelivery seen
    through both its events counts once, and one seen through either counts."""
    entries = timeline if isinstance(timeline, list) else list(timeline)
    # The common case, one delivery, without sorting (the event writer asks this of every task
    # received or started).
    kinds = [entry.get("type") for entry in entries]
    if kinds.count("received") < 2 and kinds.count("started") < 2:
        return 0
    extra_received = extra_started = 0
    received = started = False
    for entry in sorted(entries, key=_moment):
        kind = entry.get("type")
        if kind == "received":
            extra_received += received
            received = True
        elif kind == "started":
            extra_started += started
            started = True
        elif kind in DELIVERY_ENDS:
            received = started = False
    return max(extra_received, extra_started)


def _moment(entry: dict[str, Any]) -> float:
    at = entry.get("at")
    return at if isinstance(at, int | float) else 0.0

"""Writing the audit trail. Every operator action and remote-control command calls :func:`record`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from messaging.models import AuditEntry
from messaging.stream import make_event, publish


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """CONTRACT.md's audit shape."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "user": entry.username,
        "action": entry.action,
        "broker": entry.broker,
        "queue": entry.queue,
        "params": entry.params,
        "outcome": entry.outcome,
    }


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    return make_event("audit", "audit.entry", entry_dict(entry))


def record(
    user: Any,
    action: str,
    *,
    broker: str = "",
    queue: str = "",
    params: dict[str, Any] | None = None,
    outcome: str = "",
) -> AuditEntry:
    """Append an audit entry and stream it on the ``audit`` topic once the transaction commits.

    ``params`` must not hold secrets or message bodies: it is shown to every viewer.
    """
    username = getattr(user, "username", None) or (str(user) if user else "system")
    entry = AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=username,
        action=action,
        broker=broker,
        queue=queue,
        params=params or {},
        outcome=outcome[:2000],
    )
    transaction.on_commit(lambda: publish("audit", [audit_event(entry)]))
    return entry

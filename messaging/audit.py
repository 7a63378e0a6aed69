"""Writing the audit trail. Every operator action and remote-control command calls :func:`record`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from messaging.models import AuditEntry
from messaging.stream import make_event, publish


def shown_params(action: str, params: Any) -> Any:
    """An entry's params as every viewer may read them. Alert rule entries recorded before webhook
    URLs were cut to scheme and host still hold the URL's path and query, where webhook secrets
    live: they are cut when read."""
    if action.startswith("alert_rule.") and isinstance(params, dict) and isinstance(params.get("webhook_url"), str):
        from messaging.alerts.webhook_visibility import audited_webhook_url

        return {**params, "webhook_url": audited_webhook_url(params["webhook_url"])}
    return params


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """The audit shape of docs/api.md ("Audit")."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "user": entry.username,
        "action": entry.action,
        "broker": entry.broker,
        "queue": entry.queue,
        "params": shown_params(entry.action, entry.params),
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

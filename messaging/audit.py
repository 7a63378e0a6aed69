"""Writing the audit trail. Every operator action and remote-control command calls :func:`record`."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from messaging.models import AuditEntry
from messaging.stream import make_event, publish


def shown_params(action: str, params: Any, reads_bodies: bool = False) -> Any:
    """An entry's params as every viewer may read them. Alert rule entries recorded before webhook
    URLs were cut to scheme and host still hold the URL's path and query, where webhook secrets
    live: they are cut when read. An edit's diff (``requeue.edit``) keeps its values for roles
    that read bodies (``reads_bodies``) only: others see which fields changed."""
    if action == "requeue.edit" and not reads_bodies and isinstance(params, dict) and "diff" in params:
        diff = params["diff"] if isinstance(params["diff"], list) else []
        return {**params, "diff": [{"path": c.get("path"), "op": c.get("op")} for c in diff if isinstance(c, dict)]}
    if action.startswith("alert_rule.") and isinstance(params, dict) and isinstance(params.get("webhook_url"), str):
        from messaging.alerts.webhook_visibility import audited_webhook_url

        return {**params, "webhook_url": audited_webhook_url(params["webhook_url"])}
    return params


def entry_dict(entry: AuditEntry, reads_bodies: bool = False) -> dict[str, Any]:
    """The audit shape of docs/api.md ("Audit"); ``reads_bodies``: see :func:`shown_params`."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "user": entry.username,
        "action": entry.action,
        "broker": entry.broker,
        "queue": entry.queue,
        "params": shown_params(entry.action, entry.params, reads_bodies),
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


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date-time (``2030-01-01T10:00``, with or without zone: the console's time zone when
    without) or a date (its start, or its end with ``end_of_day``). Raises ValueError."""
    try:
        day = parse_date(value)  # a bare date first: parse_datetime reads one as its midnight
        moment = parse_datetime(value) if day is None else datetime.combine(day, time.max if end_of_day else time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"not a date or date-time: {value!r}")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def entries(
    *,
    user: str = "",
    action: str = "",
    queue: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries newest first, filtered: ``user`` by exact username, ``action`` by kind (``requeue``
    matches ``requeue`` and ``requeue.finished``, ``requeue.cancel``...; a dotted name matches itself),
    ``queue`` by exact name, ``since`` / ``until`` inclusive."""
    rows = AuditEntry.objects.all()
    if user:
        rows = rows.filter(username=user)
    if action:
        rows = rows.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if queue:
        rows = rows.filter(queue=queue)
    if since is not None:
        rows = rows.filter(at__gte=since)
    if until is not None:
        rows = rows.filter(at__lte=until)
    return rows.order_by("-at", "-id")


def kinds() -> list[str]:
    """The kinds of entry recorded so far (``requeue``, ``task``, ``alert_rule``...), for a filter."""
    names = AuditEntry.objects.values_list("action", flat=True).distinct()
    return sorted({name.split(".", 1)[0] for name in names})


FILTERS = ("user", "action", "queue", "since", "until")


def filters_from(query: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``(arguments for entries(), the filters as given, field errors)`` from a query dict: the
    page and the API read the same filters alike. A malformed time is an error, not ignored."""
    given = {name: (query.get(name) or "").strip()[:1024] for name in FILTERS}
    arguments: dict[str, Any] = {name: given[name] for name in ("user", "action", "queue")}
    errors: dict[str, str] = {}
    for name in ("since", "until"):
        if given[name]:
            try:
                arguments[name] = parse_moment(given[name], end_of_day=name == "until")
            except ValueError:
                errors[name] = "a date (2030-01-31) or date-time (2030-01-31T10:00)"
    return arguments, given, errors

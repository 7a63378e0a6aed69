"""Reading alerts and rules for the API and the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from messaging.alerts.rules import RULE_FIELDS, condition_text
from messaging.alerts.webhook_visibility import shown_webhook_url
from messaging.models import Alert, AlertRule, WebhookDelivery

#: The alert lists by state: ``open`` is pending or firing.
STATE_FILTERS = {"pending": [Alert.PENDING], "firing": [Alert.FIRING], "resolved": [Alert.RESOLVED]}
STATE_FILTERS["open"] = STATE_FILTERS["pending"] + STATE_FILTERS["firing"]


def firing_count() -> int:
    """How many alerts fire now (the navigation badge)."""
    return Alert.objects.filter(state=Alert.FIRING).count()


def _rank(field: str, order: tuple[str, ...]) -> Case:
    return Case(
        *[When(**{field: value}, then=Value(rank)) for rank, value in enumerate(order)],
        default=Value(len(order)),
        output_field=IntegerField(),
    )


def alerts_in(state: str | None = None, rule_id: int | None = None) -> QuerySet[Alert]:
    """Alerts worst first (firing, then pending, then resolved; critical, then warning, then
    info; then newest), of one :data:`STATE_FILTERS` key (all when None) and one rule. Resolved
    episodes that never fired are not history and are left out (rows from before they were
    discarded on resolution)."""
    rows = Alert.objects.exclude(state=Alert.RESOLVED, fired_at__isnull=True)
    if state:
        rows = rows.filter(state__in=STATE_FILTERS[state])
    if rule_id is not None:
        rows = rows.filter(rule_id=rule_id)
    return rows.annotate(
        state_rank=_rank("state", (Alert.FIRING, Alert.PENDING, Alert.RESOLVED)),
        severity_rank=_rank("severity", ("critical", "warning", "info")),
    ).order_by("state_rank", "severity_rank", "-started_at", "-id")


def alert_by_id(alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id).select_related("rule").first()


def recent_deliveries(alert: Alert, limit: int = 100) -> list[WebhookDelivery]:
    """An alert's webhook deliveries, newest first."""
    return list(alert.deliveries.order_by("-created_at", "-id")[:limit])


def rule_by_id(rule_id: int) -> AlertRule | None:
    return AlertRule.objects.filter(pk=rule_id).first()


def rules_with_open_counts() -> list[AlertRule]:
    """Every rule by id, each with ``open_count``: its unresolved alerts."""
    return list(
        AlertRule.objects.annotate(open_count=Count("alerts", filter=Q(alerts__resolved_at__isnull=True))).order_by(
            "id"
        )
    )


def rule_as_shown(rule: AlertRule, admin: bool) -> dict[str, Any]:
    """A rule's fields as ``admin`` (or not) may read them (the webhook URL per
    :mod:`~messaging.alerts.webhook_visibility`), with its condition in words."""
    values: dict[str, Any] = {"id": rule.pk}
    values.update({field: getattr(rule, field) for field in RULE_FIELDS})
    values["webhook_url"] = shown_webhook_url(rule.webhook_url, admin)
    values["default_key"] = rule.default_key
    values["created_at"] = rule.created_at.isoformat() if rule.created_at else None
    values["updated_at"] = rule.updated_at.isoformat() if rule.updated_at else None
    values["condition"] = condition_text(rule)
    return values

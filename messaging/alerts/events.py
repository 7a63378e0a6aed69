"""The ``alerts`` topic's events: one alert's JSON (the API's fields) and, on transitions, the
count of firing alerts that keeps the navigation badge live (static/switchyard/alerts.js)."""

from __future__ import annotations

from typing import Any

from messaging.models import Alert
from messaging.stream import make_event

#: The fields of an alert in the API and in events, in order.
ALERT_FIELDS = (
    "id",
    "rule",
    "rule_name",
    "metric",
    "severity",
    "state",
    "labels",
    "value",
    "threshold",
    "held",
    "fingerprint",
    "started_at",
    "fired_at",
    "resolved_at",
    "acknowledged_by",
    "acknowledged_at",
    "summary",
)


def alert_data(alert: Alert, firing_count: int | None = None) -> dict[str, Any]:
    """The JSON of one alert in events (the API's fields, timestamps as ISO strings); with
    ``firing_count`` when given."""
    data = {
        "id": alert.pk,
        "rule": alert.rule_id,
        "rule_name": alert.rule_name,
        "metric": alert.metric,
        "severity": alert.severity,
        "state": alert.state,
        "labels": alert.labels,
        "value": alert.value,
        "threshold": alert.threshold,
        "held": alert.held,
        "fingerprint": alert.fingerprint,
        "started_at": alert.started_at.isoformat() if alert.started_at else None,
        "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "acknowledged_by": alert.acknowledged_by or None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "summary": alert.summary,
    }
    if firing_count is not None:
        data["firing_count"] = firing_count
    return data


def transition_event(transition: str, alert: Alert, firing_count: int | None) -> dict[str, Any]:
    """``alert.pending``, ``alert.firing`` or ``alert.resolved`` for one alert."""
    return make_event(
        "alerts", f"alert.{transition}", alert_data(alert, firing_count), key=f"alert:{alert.fingerprint}"
    )


def acknowledged_event(alert: Alert) -> dict[str, Any]:
    """``alert.acknowledged``: who saw an alert (it stays pending or firing)."""
    return make_event("alerts", "alert.acknowledged", alert_data(alert), key=f"ack:{alert.pk}")

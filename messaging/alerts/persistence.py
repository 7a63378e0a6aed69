"""Writing what an evaluation decided: alert rows, the webhook deliveries of their transitions,
and the ``alerts`` events that report them. Also the retirement of a rule's open alerts.

All writes to open alerts happen under :data:`evaluation_lock` (evaluations in the monitor's alert
thread, task evaluations pushed from the Celery side, retirements from requests), so two never
advance the same series at once. Each batch is one transaction: rows and deliveries land together
or not at all, so a webhook is queued exactly when its transition is recorded.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from messaging.alerts.events import transition_event
from messaging.alerts.notify import delivery_for
from messaging.alerts.queries import firing_count
from messaging.alerts.series import summary
from messaging.alerts.state_machine import FIRING, RESOLVED, SeriesState
from messaging.alerts.transitions import DISCARD, OPEN, RESOLVE, Change, OpenSeries
from messaging.figure_writes import _db_value_preparer as db_value_preparer
from messaging.models import Alert, AlertRule, WebhookDelivery

evaluation_lock = threading.Lock()

CHANGED_FIELDS = [
    "state",
    "value",
    "held",
    "summary",
    "fired_at",
    "resolved_at",
    "last_true_at",
    "evaluated_at",
    "severity",
    "rule_name",
    "threshold",
]


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _datetime(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def open_series(alert: Alert) -> OpenSeries:
    """An open alert row as :func:`~messaging.alerts.transitions.plan_changes` takes it."""
    state = SeriesState(
        state=alert.state,
        started_at=_epoch(alert.started_at),
        fired_at=_epoch(alert.fired_at),
        last_true_at=_epoch(alert.last_true_at),
    )
    return OpenSeries(alert.pk, alert.rule_id, alert.fingerprint, state)


def _new_alert(change: Change, now: datetime) -> Alert:
    rule, series = change.rule, change.series
    return Alert(
        rule=rule,
        rule_name=rule.name,
        metric=rule.metric,
        severity=rule.severity,
        fingerprint=change.fingerprint,
        labels=series.labels,
        broker=series.labels.get("broker", ""),
        threshold=None if rule.metric == "trend" else rule.threshold,
        state=change.state.state,
        started_at=_datetime(change.state.started_at),
        fired_at=_datetime(change.state.fired_at),
        last_true_at=_datetime(change.state.last_true_at),
        value=series.value,
        summary=summary(rule, series),
        description=rule.description,
        evaluated_at=now,
    )


def _resolve(alert: Alert, change: Change, now: datetime) -> None:
    if change.series is not None and change.series.value is not None:
        alert.value = change.series.value
    alert.state = Alert.RESOLVED
    alert.resolved_at = now
    alert.held = False
    alert.evaluated_at = now


def _update(alert: Alert, change: Change, now: datetime) -> None:
    """A still-open alert: its state, and its figure when known (an unknown one is held)."""
    rule, series = change.rule, change.series
    alert.held = change.held
    if series.value is not None:
        alert.value = series.value
        alert.summary = summary(rule, series)
    alert.state = change.state.state
    alert.fired_at = _datetime(change.state.fired_at)
    alert.last_true_at = _datetime(change.state.last_true_at)
    alert.severity = rule.severity
    alert.rule_name = rule.name
    alert.threshold = None if rule.metric == "trend" else rule.threshold
    alert.evaluated_at = now


def record_changes(changes: list[Change], open_alerts: dict[int, Alert], now: datetime) -> list[dict[str, Any]]:
    """Apply ``changes`` to the rows (``open_alerts`` by id), queue the webhooks of firings and of
    resolutions of alerts that fired, in one transaction. Returns the events to publish.

    A discarded alert (a pending episode that ended without firing) is deleted: it is reported as
    resolved so live pages drop it, but it leaves no history row and never had a webhook."""
    created: list[Alert] = []
    changed: dict[int, Alert] = {}
    discarded: dict[int, Alert] = {}
    reported: list[tuple[str, Alert, AlertRule | None]] = []
    for change in changes:
        if change.kind == DISCARD:
            alert = open_alerts[change.alert_id]
            alert.state, alert.resolved_at = Alert.RESOLVED, now  # as the event reports it; the row goes
            discarded[alert.pk] = alert
        elif change.kind == OPEN:
            alert = _new_alert(change, now)
            created.append(alert)
        else:
            alert = open_alerts[change.alert_id]
            (_resolve if change.kind == RESOLVE else _update)(alert, change, now)
            changed[alert.pk] = alert
        if change.transition is not None:
            reported.append((change.transition, alert, change.rule))
    if not created and not changed and not discarded:
        return []
    with transaction.atomic():
        if discarded:
            Alert.objects.filter(pk__in=list(discarded), fired_at__isnull=True).delete()
        if created:
            _insert(created)
        if changed:
            _update_rows(list(changed.values()))
        deliveries = [
            delivery_for(alert, rule, transition)
            for transition, alert, rule in reported
            if rule is not None
            and rule.webhook_url
            and alert.pk not in discarded
            and (transition == FIRING or (transition == RESOLVED and alert.fired_at is not None))
        ]
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries)
        count = firing_count() if reported else None
    return [transition_event(transition, alert, count) for transition, alert, _rule in reported]


def _update_rows(alerts: list[Alert]) -> None:
    """:data:`CHANGED_FIELDS` of ``alerts`` in one ``executemany`` UPDATE. Django's bulk_update
    builds a CASE expression per field and row: with 10,000 open alerts (a fleet of queues without
    consumers) that took seconds per evaluation, holding the database's write lock."""
    fields = [Alert._meta.get_field(name) for name in CHANGED_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Only quoted column names from the model go into the text; values are parameters.
    sql = f"UPDATE {quote(Alert._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    preparers = [db_value_preparer(f) for f in fields]
    rows = [[prepare(getattr(a, f.attname)) for prepare, f in zip(preparers, fields)] + [a.pk] for a in alerts]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _insert(created: list[Alert]) -> None:
    Alert.objects.bulk_create(created)
    if created[0].pk is None:  # backends without RETURNING: read the ids back
        ids = dict(
            Alert.objects.filter(
                fingerprint__in=[a.fingerprint for a in created], resolved_at__isnull=True
            ).values_list("fingerprint", "id")
        )
        for alert in created:
            alert.pk = ids.get(alert.fingerprint)


def resolve_rule_alerts(rule: AlertRule, reason: str) -> list[dict[str, Any]]:
    """Resolve the open alerts of a rule that was disabled, deleted or changed to another metric,
    noting ``reason`` in their summaries, and queue the resolved webhooks of those that fired.
    Returns the events to publish once the caller's transaction commits. The caller holds
    :data:`evaluation_lock` and an open transaction (``messaging.alerts.actions`` does)."""
    now = timezone.now()
    alerts = list(Alert.objects.select_for_update().filter(rule=rule, resolved_at__isnull=True))
    for alert in alerts:
        alert.state = Alert.RESOLVED
        if alert.fired_at is None:  # a pending episode that never fired leaves no history
            Alert.objects.filter(pk=alert.pk).delete()
            continue
        alert.resolved_at = now
        alert.held = False
        alert.summary = f"{alert.summary} [{reason}]"[:1000]
        alert.save(update_fields=["state", "resolved_at", "held", "summary"])
        if alert.fired_at is not None and rule.webhook_url:
            delivery_for(alert, rule, RESOLVED).save()
    count = firing_count() if alerts else None
    return [transition_event(RESOLVED, alert, count) for alert in alerts]

"""Evaluating rules against the database and recording transitions.

Three entry points, each covering its own metrics so they never touch each other's alerts:
:func:`evaluate_broker` (queue and broker-down rules, after each sample of one broker),
:func:`evaluate_staleness` (``monitor_stale``, on a timer) and :func:`evaluate_tasks` (task figures
pushed by the Celery side). Each runs in a worker thread, reads the latest figures in a few
queries, advances every series through :mod:`messaging.alerts.evaluate`, writes only the alerts
that exist or change, queues webhook deliveries, and returns the ``alerts`` events to publish.

Cost: one query for rules, one for queue figures, one for open alerts, then bulk writes for the
few that changed; 1,000 queues x 12 rules is ~12,000 comparisons in Python.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.alerts import rules as R
from messaging.alerts.evaluate import FIRING, PENDING, RESOLVED, SeriesState, step
from messaging.alerts.task_figures import TaskFigures
from messaging.models import Alert, AlertRule, BrokerState, Queue, WebhookDelivery
from messaging.stream import make_event, publish

log = logging.getLogger(__name__)

_evaluation_lock = threading.Lock()
BROKER_DOMAIN = R.QUEUE_METRICS + R.DLQ_METRICS + R.TREND_METRICS + ("broker_down",)
QUEUE_FIELDS = (
    "id",
    "broker",
    "vhost",
    "name",
    "depth",
    "unacked",
    "consumers",
    "oldest_age_s",
    "time_to_drain_s",
    "publish_rate",
    "consume_rate",
    "trend",
    "is_dlq",
    "dlq_id",
    "present",
)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float | None
    condition: bool | None
    where: str


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def keep_firing_s(rule: AlertRule, interval: float) -> float:
    if rule.keep_firing_for_s is not None:
        return rule.keep_firing_for_s
    return 2.0 * interval


# --- series: the figures each rule looks at -----------------------------------------------------


def _condition(rule: AlertRule, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if rule.metric == "trend":
        return R.compare(rule.op, value, rule.trend)
    return R.compare(rule.op, value, rule.threshold)


def queue_series(rule: AlertRule, rows: list[tuple], sources: dict[int, str]) -> Iterator[Series]:
    """One series per present queue the rule covers. Rows are ``QUEUE_FIELDS`` tuples."""
    metric = rule.metric
    index = QUEUE_FIELDS.index(metric if metric not in ("dlq_depth", "trend") else "depth")
    trend_index = QUEUE_FIELDS.index("trend")
    dlq_only = metric == "dlq_depth" or rule.queue_kind == AlertRule.DLQ
    work_only = rule.queue_kind == AlertRule.WORK
    for row in rows:
        queue_id, broker, vhost, name, depth = row[0], row[1], row[2], row[3], row[4]
        is_dlq, present = row[12], row[14]
        if not present or (dlq_only and not is_dlq) or (work_only and is_dlq):
            continue
        source = sources.get(queue_id) if is_dlq else None
        if not R.glob_matches(rule.queue, name) and not (source and R.glob_matches(rule.queue, source)):
            continue
        labels = {"broker": broker, "queue": name}
        if vhost:
            labels["vhost"] = vhost
        if source:
            labels["source"] = source
        if metric == "trend":
            trend = row[trend_index]
            condition = _condition(rule, trend)
            value = float(depth) if depth is not None and condition is not None else None
        else:
            raw = row[index]
            value = float(raw) if raw is not None else None
            condition = _condition(rule, value)
        if condition and rule.only_if_backlog:
            condition = None if depth is None else depth > 0
        elif condition is False and rule.only_if_backlog and depth is None:
            condition = None
        where = f"queue {name} on {broker}" + (f" ({vhost})" if vhost and vhost != "/" else "")
        yield Series(labels, value, condition, where)


def _broker_down_series(rule: AlertRule, state: BrokerState | None, broker: str) -> Iterator[Series]:
    if not R.glob_matches(rule.broker, broker):
        return
    if state is None or state.status == BrokerState.UNKNOWN:
        value = None
    else:
        value = 1.0 if state.status == BrokerState.DOWN else 0.0
    yield Series({"broker": broker}, value, _condition(rule, value), f"broker {broker}")


# --- the common core -----------------------------------------------------------------------------


def _summary(rule: AlertRule, series: Series) -> str:
    if rule.metric == "trend":
        figure = f"trend {rule.trend}" + (f", depth {R.format_value('depth', series.value)}" if series.value else "")
    elif rule.metric == "broker_down":
        figure = "cannot be sampled" if series.value else "answers again"
    else:
        figure = f"{rule.metric} is {R.format_value(rule.metric, series.value)}"
    where = f" {series.where}" if series.where else ""
    return f"{rule.name}:{where} — {figure} ({R.condition_text(rule)})"[:1000]


def _state_of(alert: Alert | None) -> SeriesState:
    if alert is None:
        return SeriesState()
    return SeriesState(
        state=alert.state,
        started_at=_epoch(alert.started_at),
        fired_at=_epoch(alert.fired_at),
        last_true_at=_epoch(alert.last_true_at),
    )


def alert_data(alert: Alert, firing_count: int | None = None) -> dict[str, Any]:
    """The JSON of one alert in events (the API's shape, timestamps as ISO strings)."""
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


def firing_count() -> int:
    return Alert.objects.filter(state=Alert.FIRING).count()


def _advance(
    rules: list[AlertRule],
    series_of: Callable[[AlertRule], Iterable[Series]],
    open_alerts: list[Alert],
    now: datetime,
    interval: float,
) -> list[dict[str, Any]]:
    """Advance every series of ``rules``; ``open_alerts`` are the unresolved alerts of this
    evaluation's domain (those of rules no longer enabled are resolved)."""
    from messaging.alerts.notify import delivery_for

    now_epoch = now.timestamp()
    by_rule: dict[int | None, dict[str, Alert]] = {}
    for alert in open_alerts:
        by_rule.setdefault(alert.rule_id, {})[alert.fingerprint] = alert
    active_ids = {rule.pk for rule in rules}
    created: list[Alert] = []
    changed: dict[int, Alert] = {}
    transitions: list[tuple[str, Alert, AlertRule | None]] = []

    def close(alert: Alert, rule: AlertRule | None) -> None:
        alert.state = Alert.RESOLVED
        alert.resolved_at = now
        alert.held = False
        alert.evaluated_at = now
        changed[alert.pk] = alert
        transitions.append((RESOLVED, alert, rule))

    for rule in rules:
        existing = by_rule.get(rule.pk, {})
        keep = keep_firing_s(rule, interval)
        seen: set[str] = set()
        for series in series_of(rule):
            fp = R.fingerprint(rule.pk, series.labels)
            seen.add(fp)
            alert = existing.get(fp)
            if alert is None and not series.condition:
                continue  # the common case: nothing open, nothing to open
            result = step(_state_of(alert), series.condition, now_epoch, rule.for_s, keep)
            if alert is None:
                alert = Alert(
                    rule=rule,
                    rule_name=rule.name,
                    metric=rule.metric,
                    severity=rule.severity,
                    fingerprint=fp,
                    labels=series.labels,
                    broker=series.labels.get("broker", ""),
                    threshold=None if rule.metric == "trend" else rule.threshold,
                    state=result.state.state,
                    started_at=_dt(result.state.started_at),
                    fired_at=_dt(result.state.fired_at),
                    last_true_at=_dt(result.state.last_true_at),
                    value=series.value,
                    summary=_summary(rule, series),
                    description=rule.description,
                    evaluated_at=now,
                )
                created.append(alert)
                transitions.append((result.transition or PENDING, alert, rule))
                continue
            if result.transition == RESOLVED:
                alert.value = series.value if series.value is not None else alert.value
                close(alert, rule)
                continue
            alert.held = result.held
            if series.value is not None:
                alert.value = series.value
                alert.summary = _summary(rule, series)
            alert.state = result.state.state
            alert.fired_at = _dt(result.state.fired_at)
            alert.last_true_at = _dt(result.state.last_true_at)
            alert.severity = rule.severity
            alert.rule_name = rule.name
            alert.threshold = None if rule.metric == "trend" else rule.threshold
            alert.evaluated_at = now
            changed[alert.pk] = alert
            if result.transition == FIRING:
                transitions.append((FIRING, alert, rule))
        # Series that vanished (queue gone while its broker answers, glob no longer matching).
        for fp, alert in existing.items():
            if fp in seen:
                continue
            result = step(_state_of(alert), False, now_epoch, rule.for_s, keep)
            if result.transition == RESOLVED:
                close(alert, rule)
    for rule_id, alerts in by_rule.items():
        if rule_id not in active_ids:
            for alert in alerts.values():
                close(alert, None)

    if not created and not changed:
        return []
    rules_by_id = {rule.pk: rule for rule in rules}
    with transaction.atomic():
        if created:
            Alert.objects.bulk_create(created)
            if created[0].pk is None:  # backends without RETURNING: read the ids back
                ids = dict(
                    Alert.objects.filter(
                        fingerprint__in=[a.fingerprint for a in created], resolved_at__isnull=True
                    ).values_list("fingerprint", "id")
                )
                for alert in created:
                    alert.pk = ids.get(alert.fingerprint)
        if changed:
            Alert.objects.bulk_update(
                list(changed.values()),
                [
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
                ],
                batch_size=200,
            )
        deliveries = []
        for transition, alert, rule in transitions:
            rule = rule or rules_by_id.get(alert.rule_id)
            notify = transition == FIRING or (transition == RESOLVED and alert.fired_at is not None)
            if notify and rule is not None and rule.webhook_url:
                deliveries.append(delivery_for(alert, rule, transition))
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries)
        count = firing_count() if transitions else None
    return [
        make_event("alerts", f"alert.{transition}", alert_data(alert, count), key=f"alert:{alert.fingerprint}")
        for transition, alert, _rule in transitions
    ]


def _enabled_rules(metrics: Iterable[str]) -> list[AlertRule]:
    return list(AlertRule.objects.filter(enabled=True, metric__in=list(metrics)))


# --- entry points ------------------------------------------------------------------------------


def evaluate_broker(broker: str, interval: float, now: datetime | None = None) -> list[dict]:
    """Queue rules and the broker-down rule for one broker, after one of its samples. ``interval``
    is the monitor's sample interval (keep-firing defaults are two of them)."""
    now = now or timezone.now()
    with _evaluation_lock:
        rules = [r for r in _enabled_rules(BROKER_DOMAIN) if R.glob_matches(r.broker, broker)]
        open_alerts = list(Alert.objects.filter(broker=broker, metric__in=BROKER_DOMAIN, resolved_at__isnull=True))
        if not rules and not open_alerts:
            return []
        rows: list[tuple] = []
        sources: dict[int, str] = {}
        if any(r.metric != "broker_down" for r in rules):
            rows = list(Queue.objects.filter(broker=broker).values_list(*QUEUE_FIELDS))
            name_of = {row[0]: row[3] for row in rows}
            for row in rows:
                if row[13] is not None and row[13] not in sources:
                    sources[row[13]] = name_of.get(row[0], "")
        state = BrokerState.objects.filter(name=broker).first()

        def series_of(rule: AlertRule) -> Iterable[Series]:
            if rule.metric == "broker_down":
                return _broker_down_series(rule, state, broker)
            return queue_series(rule, rows, sources)

        return _advance(rules, series_of, open_alerts, now, interval)


def evaluate_staleness(
    brokers: Iterable[str], interval: float, watching_since: datetime | None = None, now: datetime | None = None
) -> list[dict]:
    """``monitor_stale``: sample intervals since the monitor last checked each broker, counted
    from ``watching_since`` at the earliest (a monitor that just started is not stale)."""
    now = now or timezone.now()
    brokers = list(brokers)
    with _evaluation_lock:
        rules = _enabled_rules(["monitor_stale"])
        open_alerts = list(Alert.objects.filter(metric="monitor_stale", resolved_at__isnull=True))
        if not rules and not open_alerts:
            return []
        checked = dict(BrokerState.objects.filter(name__in=brokers).values_list("name", "checked_at"))

        def series_of(rule: AlertRule) -> Iterable[Series]:
            for broker in brokers:
                if not R.glob_matches(rule.broker, broker):
                    continue
                at = checked.get(broker)
                if at is not None and watching_since is not None:
                    at = max(at, watching_since)
                value = None if at is None else round((now - at).total_seconds() / interval, 2)
                yield Series({"broker": broker}, value, _condition(rule, value), f"broker {broker}")

        return _advance(rules, series_of, open_alerts, now, interval)


def evaluate_tasks(
    figures: TaskFigures, interval: float, now: datetime | None = None, publish_events: bool = True
) -> list[dict[str, Any]]:
    """Evaluate the task rules (``workers_online``, ``task_failure_rate``) against figures from
    Celery events; ``interval`` is the monitor's sample interval (the effective one: the TOML
    file's ``sample_interval`` when it sets one), as for the other evaluations. Call it from a
    worker thread (it writes to the database), e.g. after each batch of ingested events; it
    publishes the resulting ``alerts`` events unless told not to."""
    now = now or timezone.now()
    with _evaluation_lock:
        rules = _enabled_rules(R.TASK_METRICS)
        open_alerts = list(Alert.objects.filter(metric__in=R.TASK_METRICS, resolved_at__isnull=True))
        if not rules and not open_alerts:
            return []

        def series_of(rule: AlertRule) -> Iterable[Series]:
            raw = getattr(figures, rule.metric)
            value = float(raw) if raw is not None else None
            yield Series({}, value, _condition(rule, value), "")

        events = _advance(rules, series_of, open_alerts, now, interval)
    if events and publish_events:
        publish("alerts", events)
    return events


def retire_rule_alerts(rule: AlertRule, reason: str) -> list[dict[str, Any]]:
    """Resolve the open alerts of a rule that was disabled, deleted or changed to another metric.
    Returns the events to publish."""
    from messaging.alerts.notify import delivery_for

    now = timezone.now()
    events = []
    with _evaluation_lock, transaction.atomic():
        alerts = list(Alert.objects.select_for_update().filter(rule=rule, resolved_at__isnull=True))
        for alert in alerts:
            alert.state = Alert.RESOLVED
            alert.resolved_at = now
            alert.held = False
            alert.summary = f"{alert.summary} [{reason}]"[:1000]
            alert.save(update_fields=["state", "resolved_at", "held", "summary"])
            if alert.fired_at is not None and rule.webhook_url:
                delivery_for(alert, rule, RESOLVED).save()
        count = firing_count() if alerts else None
        events = [
            make_event("alerts", "alert.resolved", alert_data(a, count), key=f"alert:{a.fingerprint}") for a in alerts
        ]
    return events

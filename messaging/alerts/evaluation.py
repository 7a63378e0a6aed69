"""Evaluating rules against the figures in the database, one domain of metrics at a time.

Three entry points, each covering its own metrics so they never touch each other's alerts:
:func:`evaluate_broker` (queue and broker-down rules, after each sample of one broker),
:func:`evaluate_staleness` (``monitor_stale``, on a timer) and :func:`evaluate_tasks` (task figures
from the Celery side). Each runs in a worker thread: it reads the enabled rules, the open alerts
and the latest figures in a few queries, builds the series (:mod:`~messaging.alerts.series`), plans
the changes (:mod:`~messaging.alerts.transitions`), writes them
(:mod:`~messaging.alerts.persistence`) and returns the ``alerts`` events to publish.

Every entry point takes the monitor's sample interval (keep-firing defaults are two of them): the
effective one the monitor samples at, from the TOML file's ``sample_interval`` when it sets one.

Cost: one query for rules, one for queue figures, one for open alerts, then bulk writes for the
few that changed; 1,000 queues x 12 rules is ~12,000 comparisons in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from messaging import poison_counts
from messaging.alerts import rules
from messaging.alerts.persistence import evaluation_lock, open_series, record_changes
from messaging.alerts.series import (
    QueueFigures,
    Series,
    broker_down_series,
    dead_letter_sources,
    queue_series,
    staleness_series,
    task_series,
)
from messaging.alerts.task_figures import TaskFigures
from messaging.alerts.transitions import plan_changes
from messaging.models import Alert, AlertRule, BrokerState, Queue
from messaging.stream import publish

BROKER_METRICS = rules.QUEUE_METRICS + rules.DLQ_METRICS + rules.TREND_METRICS + ("broker_down",)


def _evaluate(
    metrics: Iterable[str],
    open_alerts: QuerySet[Alert],
    rule_applies: Callable[[AlertRule], bool],
    series_of: Callable[[list[AlertRule], set[int | None]], Callable[[AlertRule], Iterable[Series]]],
    now: datetime,
    interval: float,
) -> list[dict[str, Any]]:
    """Plan and record one evaluation (the caller holds :data:`evaluation_lock`): the enabled
    rules of ``metrics`` that ``rule_applies`` to, against the unresolved ones of ``open_alerts``.
    ``series_of`` reads the figures those rules need and returns the series of each rule; it is
    not called when no rule applies and no alert is open. It also gets the ids of the rules with
    open alerts: a rule without any needs only the series whose condition holds
    (:func:`~messaging.alerts.transitions.advance_rule` skips the others)."""
    enabled = [r for r in AlertRule.objects.filter(enabled=True, metric__in=list(metrics)) if rule_applies(r)]
    alerts = {alert.pk: alert for alert in open_alerts.filter(resolved_at__isnull=True)}
    if not enabled and not alerts:
        return []
    with_open = {alert.rule_id for alert in alerts.values()}
    planned = plan_changes(
        enabled, series_of(enabled, with_open), [open_series(a) for a in alerts.values()], now.timestamp(), interval
    )
    return record_changes(planned, alerts, now)


def evaluate_broker(broker: str, interval: float, now: datetime | None = None) -> list[dict[str, Any]]:
    """Queue rules and the broker-down rule for one broker, after one of its samples. ``interval``
    is the monitor's sample interval."""
    now = now or timezone.now()

    def series_of(enabled: list[AlertRule], with_open: set[int | None]) -> Callable[[AlertRule], Iterable[Series]]:
        queues: list[QueueFigures] = []
        if any(r.metric != "broker_down" for r in enabled):
            rows = Queue.objects.filter(broker=broker).values_list(*QueueFigures._fields)
            queues = [QueueFigures._make(row) for row in rows]
        sources = dead_letter_sources(queues)
        status = BrokerState.objects.filter(name=broker).values_list("status", flat=True).first()
        poison = None
        if any(r.metric == "poison_messages" for r in enabled):
            poison = {q.id: poison_counts.figure(q.id) for q in queues if q.is_dlq}

        def of(rule: AlertRule) -> Iterable[Series]:
            if rule.metric == "broker_down":
                return broker_down_series(rule, status, broker)
            return queue_series(rule, queues, sources, poison, holding_only=rule.pk not in with_open)

        return of

    with evaluation_lock:
        return _evaluate(
            BROKER_METRICS,
            Alert.objects.filter(broker=broker, metric__in=BROKER_METRICS),
            lambda rule: rules.glob_matches(rule.broker, broker),
            series_of,
            now,
            interval,
        )


def evaluate_staleness(
    brokers: Iterable[str], interval: float, watching_since: datetime | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """``monitor_stale``: sample intervals since the monitor last checked each broker, counted
    from ``watching_since`` at the earliest (a monitor that just started is not stale)."""
    now = now or timezone.now()
    brokers = list(brokers)

    def series_of(enabled: list[AlertRule], _with_open: set[int | None]) -> Callable[[AlertRule], Iterable[Series]]:
        checked = dict(BrokerState.objects.filter(name__in=brokers).values_list("name", "checked_at"))
        checked_at = {broker: checked.get(broker) for broker in brokers}
        return lambda rule: staleness_series(rule, checked_at, watching_since, now, interval)

    with evaluation_lock:
        return _evaluate(
            ["monitor_stale"], Alert.objects.filter(metric="monitor_stale"), lambda _r: True, series_of, now, interval
        )


def evaluate_tasks(
    figures: TaskFigures, interval: float, now: datetime | None = None, publish_events: bool = True
) -> list[dict[str, Any]]:
    """Evaluate the task rules (``workers_online``, ``task_failure_rate``) against figures from
    Celery events; ``interval`` is the monitor's sample interval, as for the other evaluations.
    Call it from a worker thread (it writes to the database); it publishes the resulting
    ``alerts`` events unless told not to."""
    now = now or timezone.now()
    with evaluation_lock:
        events = _evaluate(
            rules.TASK_METRICS,
            Alert.objects.filter(metric__in=rules.TASK_METRICS),
            lambda _r: True,
            lambda _enabled, _with_open: lambda rule: task_series(rule, figures),
            now,
            interval,
        )
    if events and publish_events:
        publish("alerts", events)
    return events

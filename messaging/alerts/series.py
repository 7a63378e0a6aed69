"""The series each rule watches, built from figures already read. Pure: no database, no clock.

A series is one thing a rule is about (a queue, a broker, the task side), identified by its
labels, with the rule's figure for it now and whether the rule's condition holds: True, False, or
None when the figure is unknown (broker down, not sampled), which holds the series in its state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from messaging.alerts import rules
from messaging.alerts.task_figures import TaskFigures
from messaging.models import AlertRule, BrokerState


class QueueFigures(NamedTuple):
    """One queue's latest sampled figures, as the monitor recorded them (``Queue`` rows)."""

    id: int
    broker: str
    vhost: str
    name: str
    depth: int | None
    unacked: int | None
    consumers: int | None
    oldest_age_s: float | None
    time_to_drain_s: float | None
    publish_rate: float | None
    consume_rate: float | None
    trend: str
    is_dlq: bool
    dlq_id: int | None
    present: bool


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float | None
    condition: bool | None
    where: str  # "queue emails on main": how summaries name the series


def condition(rule: AlertRule, value: Any) -> bool | None:
    """Whether ``rule``'s condition holds for ``value``; None when the value is unknown."""
    if value is None or value == "":
        return None
    if rule.metric == "trend":
        return rules.compare(rule.op, value, rule.trend)
    return rules.compare(rule.op, value, rule.threshold)


def dead_letter_sources(queues: Iterable[QueueFigures]) -> dict[int, str]:
    """``{dead-letter queue id: the name of the (first) queue it serves}``."""
    queues = list(queues)
    name_of = {queue.id: queue.name for queue in queues}
    sources: dict[int, str] = {}
    for queue in queues:
        if queue.dlq_id is not None and queue.dlq_id not in sources:
            sources[queue.dlq_id] = name_of.get(queue.id, "")
    return sources


def queue_series(
    rule: AlertRule,
    queues: Iterable[QueueFigures],
    sources: dict[int, str],
    poison: dict[int, float | None] | None = None,
    holding_only: bool = False,
) -> Iterator[Series]:
    """One series per present queue the rule covers (by kind, and by the queue glob matching the
    queue's name or, for a dead-letter queue, the name of the queue it serves). ``poison``: the
    ``poison_messages`` figure of each DLQ by id (``messaging.poison_counts``). ``holding_only``:
    only the series whose condition holds (all a rule without open alerts needs: 10,000 queues
    whose labels were built to be dropped cost most of an evaluation)."""
    dlq_only = rule.metric in rules.DLQ_METRICS or rule.queue_kind == AlertRule.DLQ
    work_only = rule.queue_kind == AlertRule.WORK
    poison = poison or {}
    for queue in queues:
        if not queue.present or (dlq_only and not queue.is_dlq) or (work_only and queue.is_dlq):
            continue
        if holding_only:
            value, holds = _queue_figure(rule, queue, poison)
            if not holds:
                continue
        source = sources.get(queue.id) if queue.is_dlq else None
        if not rules.glob_matches(rule.queue, queue.name) and not (source and rules.glob_matches(rule.queue, source)):
            continue
        labels = {"broker": queue.broker, "queue": queue.name}
        if queue.vhost:
            labels["vhost"] = queue.vhost
        if source:
            labels["source"] = source
        if not holding_only:
            value, holds = _queue_figure(rule, queue, poison)
        where = f"queue {queue.name} on {queue.broker}" + (
            f" ({queue.vhost})" if queue.vhost and queue.vhost != "/" else ""
        )
        yield Series(labels, value, holds, where)


def _queue_figure(
    rule: AlertRule, queue: QueueFigures, poison: dict[int, float | None]
) -> tuple[float | None, bool | None]:
    """The rule's figure for one queue and whether its condition holds. Trend rules report the
    depth as their value; ``only_if_backlog`` needs a known depth above zero as well."""
    if rule.metric == "trend":
        holds = condition(rule, queue.trend)
        value = float(queue.depth) if queue.depth is not None and holds is not None else None
    elif rule.metric == "poison_messages":
        value = poison.get(queue.id)
        holds = condition(rule, value)
    else:
        raw = queue.depth if rule.metric == "dlq_depth" else getattr(queue, rule.metric)
        value = float(raw) if raw is not None else None
        holds = condition(rule, value)
    if rule.only_if_backlog:
        if holds:
            holds = None if queue.depth is None else queue.depth > 0
        elif holds is False and queue.depth is None:
            holds = None
    return value, holds


def broker_down_series(rule: AlertRule, status: str | None, broker: str) -> Iterator[Series]:
    """``broker_down`` for one broker: 1 when its last sample failed, 0 when it answered,
    unknown before its first sample. ``status`` is its ``BrokerState.status``, None if none."""
    if not rules.glob_matches(rule.broker, broker):
        return
    if status is None or status == BrokerState.UNKNOWN:
        value = None
    else:
        value = 1.0 if status == BrokerState.DOWN else 0.0
    yield Series({"broker": broker}, value, condition(rule, value), f"broker {broker}")


def staleness_series(
    rule: AlertRule,
    checked_at: dict[str, datetime | None],
    watching_since: datetime | None,
    now: datetime,
    interval: float,
) -> Iterator[Series]:
    """``monitor_stale`` per broker: sample intervals since the monitor last checked it, counted
    from ``watching_since`` at the earliest (a monitor that just started is not stale)."""
    for broker, at in checked_at.items():
        if not rules.glob_matches(rule.broker, broker):
            continue
        if at is not None and watching_since is not None:
            at = max(at, watching_since)
        value = None if at is None else round((now - at).total_seconds() / interval, 2)
        yield Series({"broker": broker}, value, condition(rule, value), f"broker {broker}")


def task_series(rule: AlertRule, figures: TaskFigures) -> Iterator[Series]:
    """The one series of a task rule (no labels): the figure the Celery side reported."""
    raw = getattr(figures, rule.metric)
    value = float(raw) if raw is not None else None
    yield Series({}, value, condition(rule, value), "")


def summary(rule: AlertRule, series: Series) -> str:
    """One line for people: the rule, where, the figure and the condition (at most 1,000 chars)."""
    if rule.metric == "trend":
        figure = f"trend {rule.trend}" + (
            f", depth {rules.format_value('depth', series.value)}" if series.value else ""
        )
    elif rule.metric == "broker_down":
        figure = "cannot be sampled" if series.value else "answers again"
    else:
        figure = f"{rule.metric} is {rules.format_value(rule.metric, series.value)}"
    where = f" {series.where}" if series.where else ""
    return f"{rule.name}:{where} — {figure} ({rules.condition_text(rule)})"[:1000]

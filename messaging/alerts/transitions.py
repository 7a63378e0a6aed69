"""What one evaluation changes: every series of every rule, advanced one observation, against the
open alerts. Pure: no database, no clock; :mod:`messaging.alerts.persistence` writes the result.

For each series of an enabled rule:

- nothing open and the condition does not hold: nothing (the common case);
- nothing open and it holds: a new alert, ``pending`` (or ``firing`` at once when ``for_s`` is 0);
- an open alert: the state machine's next state (:func:`~messaging.alerts.state_machine.step`),
  which may fire it, resolve it, hold it (unknown figure) or only refresh its figure;
- an open alert that resolves without ever having fired is discarded (``DISCARD``): a pending
  episode that never fired is not history, and nothing was sent for it.

Trend rules get hysteresis (:func:`clear_after_s`): a trend is classified from a short window and
flickers (growing, steady, growing) while a backlog builds, so a pending trend episode ends only
once its trend has been absent for a whole trend window, and a firing one resolves no sooner.

An open alert whose series vanished (the queue is gone while its broker answers, the glob no longer
matches) is advanced as if its condition were false, so it resolves once keep-firing allows. The
open alerts of rules no longer enabled (disabled, deleted, now another metric) resolve at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from messaging import lag
from messaging.alerts import rules
from messaging.alerts.series import Series
from messaging.alerts.state_machine import PENDING, RESOLVED, SeriesState, step
from messaging.models import AlertRule

#: Kinds of change: a new alert row, a change to an open one, the resolution of an open one, the
#: end of a pending episode that never fired (its row is removed; no webhook, no history).
OPEN, UPDATE, RESOLVE, DISCARD = "open", "update", "resolve", "discard"


class OpenSeries(NamedTuple):
    """An unresolved alert as the transitions see it."""

    alert_id: int
    rule_id: int | None
    fingerprint: str
    state: SeriesState


class Change(NamedTuple):
    """One change to one series' alert.

    ``rule`` is the enabled rule that governs the series (None when its rule is no longer
    enabled: such alerts resolve without a webhook). ``series`` is this evaluation's observation
    (None when the series vanished or its rule is gone). ``transition`` is what to report
    (``pending``, ``firing``, ``resolved``) or None when only the figures changed."""

    kind: str
    fingerprint: str
    alert_id: int | None
    rule: AlertRule | None
    series: Series | None
    state: SeriesState
    transition: str | None
    held: bool = False


def keep_firing_s(rule: AlertRule, interval: float) -> float:
    """How long a firing alert stays firing after its condition last held: the rule's own
    ``keep_firing_for_s``, else two of the monitor's sample intervals."""
    if rule.keep_firing_for_s is not None:
        return rule.keep_firing_for_s
    return 2.0 * interval


def clear_after_s(rule: AlertRule, interval: float) -> float:
    """How long a pending episode's condition must stay false before it ends: one trend window of
    samples for trend rules (hysteresis), at once for the others."""
    if rule.metric == "trend":
        return lag.TREND_WINDOW * interval
    return 0.0


def _keep_firing(rule: AlertRule, interval: float) -> float:
    """Keep-firing with trend hysteresis: a firing trend alert resolves only once its trend has
    been absent for a trend window, unless the rule sets its own keep-firing time."""
    keep = keep_firing_s(rule, interval)
    if rule.keep_firing_for_s is None:
        keep = max(keep, clear_after_s(rule, interval))
    return keep


def _ended(fingerprint: str, alert: OpenSeries, rule: AlertRule | None, series: Series | None) -> Change:
    """The change that ends an open alert: resolved if it fired, discarded if it never did."""
    if alert.state.fired_at is None:
        return Change(DISCARD, fingerprint, alert.alert_id, rule, series, SeriesState(), RESOLVED)
    return Change(RESOLVE, fingerprint, alert.alert_id, rule, series, SeriesState(), RESOLVED)


def plan_changes(
    enabled_rules: Iterable[AlertRule],
    series_of: Callable[[AlertRule], Iterable[Series]],
    open_series: Iterable[OpenSeries],
    now: float,
    interval: float,
) -> list[Change]:
    """The changes of one evaluation at ``now`` (epoch seconds), in the order to report them.
    ``open_series`` are the unresolved alerts of this evaluation's metrics; ``interval`` is the
    monitor's sample interval (keep-firing defaults)."""
    by_rule: dict[int | None, dict[str, OpenSeries]] = {}
    for alert in open_series:
        by_rule.setdefault(alert.rule_id, {})[alert.fingerprint] = alert
    changes: list[Change] = []
    active: set[int] = set()
    for rule in enabled_rules:
        active.add(rule.pk)
        changes += advance_rule(
            rule,
            series_of(rule),
            by_rule.get(rule.pk, {}),
            now,
            _keep_firing(rule, interval),
            clear_after_s(rule, interval),
        )
    for rule_id, alerts in by_rule.items():
        if rule_id not in active:
            changes += [_ended(a.fingerprint, a, None, None) for a in alerts.values()]
    return changes


def advance_rule(
    rule: AlertRule,
    observed: Iterable[Series],
    open_alerts: dict[str, OpenSeries],
    now: float,
    keep_firing: float,
    clear_after: float = 0.0,
) -> list[Change]:
    """The changes of one rule: each observed series, then the open ones no longer observed."""
    changes: list[Change] = []
    seen: set[str] = set()
    for series in observed:
        if not open_alerts and not series.condition:
            continue  # nothing opens, nothing to match (a fingerprint costs a hash: 10,000 queues x rules)
        fingerprint = rules.fingerprint(rule.pk, series.labels)
        seen.add(fingerprint)
        change = advance_series(rule, fingerprint, series, open_alerts.get(fingerprint), now, keep_firing, clear_after)
        if change is not None:
            changes.append(change)
    for fingerprint, alert in open_alerts.items():
        if fingerprint in seen:
            continue
        result = step(alert.state, False, now, rule.for_s, keep_firing, clear_after)
        if result.transition == RESOLVED:
            changes.append(_ended(fingerprint, alert, rule, None))
    return changes


def advance_series(
    rule: AlertRule,
    fingerprint: str,
    series: Series,
    open_alert: OpenSeries | None,
    now: float,
    keep_firing: float,
    clear_after: float = 0.0,
) -> Change | None:
    """One series, one observation: None when nothing is open and nothing opens."""
    if open_alert is None and not series.condition:
        return None
    previous = open_alert.state if open_alert else SeriesState()
    result = step(previous, series.condition, now, rule.for_s, keep_firing, clear_after)
    if open_alert is None:
        return Change(OPEN, fingerprint, None, rule, series, result.state, result.transition or PENDING)
    if result.transition == RESOLVED:
        return _ended(fingerprint, open_alert, rule, series)
    return Change(UPDATE, fingerprint, open_alert.alert_id, rule, series, result.state, result.transition, result.held)

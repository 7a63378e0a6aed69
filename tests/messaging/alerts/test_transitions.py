"""The pure transitions of one evaluation: series in, changes out (no database, no clock)."""

from __future__ import annotations

from messaging.alerts.rules import fingerprint
from messaging.alerts.series import Series
from messaging.alerts.state_machine import FIRING, PENDING, RESOLVED, SeriesState
from messaging.alerts.transitions import (
    DISCARD,
    OPEN,
    RESOLVE,
    UPDATE,
    Change,
    OpenSeries,
    keep_firing_s,
    plan_changes,
)
from messaging.models import AlertRule

LABELS = {"broker": "main", "queue": "emails"}
INTERVAL_S = 2.0


def backlog_rule(**fields) -> AlertRule:
    base = {"pk": 7, "name": "Backlog", "metric": "depth", "op": ">", "threshold": 3, "for_s": 10}
    return AlertRule(**{**base, **fields})


def depth(value: float | None, threshold: float = 3) -> Series:
    return Series(LABELS, value, None if value is None else value > threshold, "queue emails on main")


class Timeline:
    """Evaluations of one rule over one series, each change fed back as the open alert, the way
    the database would hold it between evaluations."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.open: OpenSeries | None = None

    def observe(self, at: float, series: list[Series]) -> list[Change]:
        changes = plan_changes([self.rule], lambda _rule: series, [self.open] if self.open else [], at, INTERVAL_S)
        for change in changes:
            if change.kind in (RESOLVE, DISCARD):
                self.open = None
            else:
                self.open = OpenSeries(change.alert_id or 1, self.rule.pk, change.fingerprint, change.state)
        return changes

    def transitions(self, at: float, value: float | None) -> list[str | None]:
        return [change.transition for change in self.observe(at, [depth(value)])]


def test_backlog_goes_pending_then_firing_after_for_s_then_resolves():
    timeline = Timeline(backlog_rule(for_s=10, keep_firing_for_s=0))
    assert timeline.transitions(0, 5) == [PENDING]
    assert timeline.observe(0, [depth(5)])[0].kind == UPDATE
    assert timeline.transitions(9, 5) == [None]  # still pending: for_s not reached
    assert timeline.transitions(10, 5) == [FIRING]
    assert timeline.open.state.fired_at == 10 and timeline.open.state.started_at == 0
    assert timeline.transitions(12, 0) == [RESOLVED]
    assert timeline.open is None


def test_nothing_open_and_condition_false_is_no_change():
    timeline = Timeline(backlog_rule())
    assert timeline.observe(0, [depth(1)]) == []
    assert timeline.observe(1, [depth(None)]) == []


def test_for_s_zero_opens_an_alert_firing_at_once():
    change = Timeline(backlog_rule(for_s=0)).observe(5, [depth(9)])
    assert [(c.kind, c.transition, c.state.state, c.state.fired_at) for c in change] == [(OPEN, FIRING, FIRING, 5)]
    assert change[0].fingerprint == fingerprint(7, LABELS) and change[0].alert_id is None


def test_pending_alert_whose_condition_clears_is_discarded_not_resolved_into_history():
    timeline = Timeline(backlog_rule(for_s=10))
    timeline.transitions(0, 5)
    [change] = timeline.observe(4, [depth(1)])
    assert change.kind == DISCARD and change.transition == RESOLVED and change.state.fired_at is None
    assert timeline.open is None


def test_pending_alert_whose_series_vanished_is_discarded():
    timeline = Timeline(backlog_rule(for_s=10))
    timeline.transitions(0, 5)
    [change] = timeline.observe(2, [])
    assert (change.kind, change.transition) == (DISCARD, RESOLVED)


def test_pending_alert_of_a_rule_no_longer_enabled_is_discarded():
    pending = OpenSeries(42, 99, "e" * 16, SeriesState(PENDING, 0, None, 0))
    [change] = plan_changes([backlog_rule()], lambda _rule: [], [pending], 1.0, INTERVAL_S)
    assert (change.kind, change.alert_id, change.transition) == (DISCARD, 42, RESOLVED)


def test_alert_that_fired_resolves_into_history():
    timeline = Timeline(backlog_rule(for_s=0, keep_firing_for_s=0))
    timeline.transitions(0, 5)
    [change] = timeline.observe(2, [depth(1)])
    assert change.kind == RESOLVE


def test_firing_alert_keeps_firing_through_a_dip_shorter_than_keep_firing():
    timeline = Timeline(backlog_rule(for_s=0, keep_firing_for_s=6))
    assert timeline.transitions(0, 5) == [FIRING]
    assert timeline.transitions(2, 1) == [None]  # 2 s after it last held
    assert timeline.transitions(4, 5) == [None]  # holds again: last_true_at moves on
    assert timeline.transitions(9, 1) == [None]  # 5 s after
    assert timeline.open.state.state == FIRING
    assert timeline.transitions(10, 1) == [RESOLVED]  # 6 s after


def test_keep_firing_defaults_to_two_sample_intervals():
    assert keep_firing_s(backlog_rule(keep_firing_for_s=None), 30.0) == 60.0
    assert keep_firing_s(backlog_rule(keep_firing_for_s=0), 30.0) == 0
    timeline = Timeline(backlog_rule(for_s=0, keep_firing_for_s=None))
    timeline.transitions(0, 5)
    assert timeline.transitions(2 * INTERVAL_S - 0.5, 1) == [None]
    assert timeline.transitions(2 * INTERVAL_S, 1) == [RESOLVED]


def test_unknown_figure_holds_a_firing_alert():
    timeline = Timeline(backlog_rule(for_s=0, keep_firing_for_s=0))
    timeline.transitions(0, 5)
    [change] = timeline.observe(100, [depth(None)])
    assert change.kind == UPDATE and change.transition is None and change.held
    assert change.state.state == FIRING


def test_vanished_series_resolves_once_keep_firing_allows():
    timeline = Timeline(backlog_rule(for_s=0, keep_firing_for_s=5))
    timeline.transitions(0, 5)
    assert timeline.observe(3, []) == []
    [change] = timeline.observe(5, [])
    assert (change.kind, change.transition, change.series, change.rule.pk) == (RESOLVE, RESOLVED, None, 7)


def test_alerts_of_a_rule_no_longer_enabled_resolve_without_a_rule():
    stale = OpenSeries(41, 99, "f" * 16, SeriesState(FIRING, 0, 0, 0))
    [change] = plan_changes([backlog_rule()], lambda _rule: [], [stale], 1.0, INTERVAL_S)
    assert (change.kind, change.alert_id, change.rule, change.transition) == (RESOLVE, 41, None, RESOLVED)


def test_each_series_of_a_rule_is_its_own_alert():
    rule = backlog_rule(for_s=0)
    other = Series({"broker": "main", "queue": "invoices"}, 8, True, "queue invoices on main")
    changes = plan_changes([rule], lambda _rule: [depth(5), other], [], 0.0, INTERVAL_S)
    assert [c.series.labels["queue"] for c in changes] == ["emails", "invoices"]
    assert len({c.fingerprint for c in changes}) == 2

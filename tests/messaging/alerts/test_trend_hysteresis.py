"""Trend rules' hysteresis, pure: a trend that flickers (growing, steady, growing) while a backlog
builds keeps one pending episode and fires; one that stops for a whole trend window ends it."""

from __future__ import annotations

from messaging import lag
from messaging.alerts.series import Series
from messaging.alerts.state_machine import FIRING, PENDING, RESOLVED, SeriesState, step
from messaging.alerts.transitions import DISCARD, OPEN, RESOLVE, Change, OpenSeries, clear_after_s, plan_changes
from messaging.models import AlertRule

INTERVAL_S = 2.0
LABELS = {"broker": "main", "queue": "emails"}


def growing_rule(**fields) -> AlertRule:
    base = {"pk": 3, "name": "Backlog growing", "metric": "trend", "op": "==", "trend": "growing", "for_s": 60}
    return AlertRule(**{**base, **fields})


def trend(value: str) -> Series:
    return Series(LABELS, 10.0, value == "growing", "queue emails on main")


def run(rule: AlertRule, trends: list[str]) -> list[Change]:
    """Every change over one sample per interval, fed back as the database would hold it."""
    open_alert: OpenSeries | None = None
    changes: list[Change] = []
    for i, value in enumerate(trends):
        step_changes = plan_changes(
            [rule],
            lambda _r, value=value: [trend(value)],
            [open_alert] if open_alert else [],
            i * INTERVAL_S,
            INTERVAL_S,
        )
        for change in step_changes:
            if change.kind in (RESOLVE, DISCARD):
                open_alert = None
            else:
                open_alert = OpenSeries(change.alert_id or 1, rule.pk, change.fingerprint, change.state)
        changes += step_changes
    return changes


def test_trend_rule_waits_a_trend_window_before_ending_a_pending_episode():
    assert clear_after_s(growing_rule(), INTERVAL_S) == lag.TREND_WINDOW * INTERVAL_S
    assert clear_after_s(AlertRule(metric="depth"), INTERVAL_S) == 0


def test_flickering_growing_trend_keeps_one_episode_and_fires():
    flicker = ["growing", "steady", "growing", "growing", "steady"] * 10  # 100 s
    changes = run(growing_rule(), flicker)
    assert [c.kind for c in changes if c.kind in (OPEN, RESOLVE, DISCARD)] == [OPEN]
    assert [c.transition for c in changes if c.transition] == [PENDING, FIRING]


def test_flickering_trend_without_hysteresis_would_open_an_episode_per_flicker():
    """What the demo showed before: each steady sample ended the pending episode."""
    state, episodes = SeriesState(), 0
    for i, value in enumerate(["growing", "steady"] * 20):
        result = step(state, value == "growing", i * INTERVAL_S, 60, 2 * INTERVAL_S)
        episodes += result.transition == PENDING
        state = result.state
    assert episodes == 20


def test_trend_that_stops_for_a_whole_window_ends_the_episode_without_history():
    changes = run(growing_rule(), ["growing"] * 5 + ["steady"] * (lag.TREND_WINDOW + 1))
    assert [(c.kind, c.transition) for c in changes if c.transition] == [(OPEN, PENDING), (DISCARD, RESOLVED)]


def test_firing_trend_alert_resolves_only_after_a_trend_window():
    rule = growing_rule(for_s=0)
    changes = run(rule, ["growing"] + ["steady"] * (lag.TREND_WINDOW + 1))
    resolved_at = [i for i, c in enumerate(changes) if c.kind == RESOLVE]
    assert [c.transition for c in changes if c.transition] == [FIRING, RESOLVED]
    assert resolved_at == [len(changes) - 1]


def test_pending_state_machine_holds_through_a_dip_shorter_than_clear_after():
    pending = SeriesState(PENDING, started_at=0, last_true_at=10)
    assert step(pending, False, 15, 60, 4, clear_after_s=20).transition is None
    assert step(pending, False, 30, 60, 4, clear_after_s=20).transition == RESOLVED
    assert step(pending, False, 11, 60, 4).transition == RESOLVED

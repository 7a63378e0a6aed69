"""The pure state machine: pending -> firing after for_s, keep-firing window, unknown holds."""

from messaging.alerts.state_machine import FIRING, INACTIVE, PENDING, RESOLVED, SeriesState, step


def run(conditions, for_s=10.0, keep=4.0, start=1000.0, every=2.0):
    state, transitions = SeriesState(), []
    for i, condition in enumerate(conditions):
        result = step(state, condition, start + i * every, for_s, keep)
        state = result.state
        transitions.append(result.transition)
    return state, transitions


def test_condition_goes_pending_then_fires_after_for_s():
    state, transitions = run([True] * 7, for_s=10.0)
    assert transitions == [PENDING, None, None, None, None, FIRING, None]
    assert state.state == FIRING
    assert state.started_at == 1000.0 and state.fired_at == 1010.0


def test_zero_for_s_fires_at_once():
    state, transitions = run([True], for_s=0)
    assert transitions == [FIRING] and state.state == FIRING


def test_pending_that_clears_resolves_without_firing():
    state, transitions = run([True, True, False], for_s=10.0)
    assert transitions == [PENDING, None, RESOLVED]
    assert state.state == INACTIVE


def test_firing_survives_a_dip_shorter_than_keep_firing():
    # fires at t=1000 (for_s 0); dips at 1002 (last true 1000, 2s < 4s), back at 1004.
    state, transitions = run([True, False, True, False, False, False], for_s=0, keep=4.0)
    assert transitions == [FIRING, None, None, None, RESOLVED, None]
    assert state.state == INACTIVE


def test_unknown_figure_holds_the_state():
    result = step(SeriesState(FIRING, 1.0, 1.0, 1.0), None, 10_000.0, 0, 4.0)
    assert result.transition is None and result.held
    assert result.state == SeriesState(FIRING, 1.0, 1.0, 1.0)
    pending = SeriesState(PENDING, 1.0, None, 1.0)
    assert step(pending, None, 10_000.0, 60, 4.0).state == pending
    assert step(SeriesState(), None, 5.0, 0, 4.0) == step(SeriesState(), None, 5.0, 0, 4.0)
    assert step(SeriesState(), None, 5.0, 0, 4.0).transition is None


def test_unknown_then_false_resolves_only_after_keep_window():
    firing = SeriesState(FIRING, 0.0, 0.0, 100.0)
    assert step(firing, None, 200.0, 0, 4.0).state == firing
    assert step(firing, False, 102.0, 0, 4.0).transition is None
    assert step(firing, False, 200.0, 0, 4.0).transition == RESOLVED


def test_inactive_false_stays_inactive():
    state, transitions = run([False, False], for_s=0)
    assert transitions == [None, None] and state.state == INACTIVE

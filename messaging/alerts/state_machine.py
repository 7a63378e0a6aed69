"""The state machine of one alert series. Pure: (previous state, condition, now) -> next state.

States: ``inactive`` (no open alert), ``pending`` (the condition holds, for less than ``for_s``),
``firing``. Transitions are reported as ``pending``, ``firing`` and ``resolved``.

- The condition is True, False, or None when its figure is unknown (broker down, not sampled):
  an unknown figure changes nothing — the series is held in its state, neither fired nor resolved
  on a made-up number.
- A firing series resolves only once the condition has been false for ``keep_firing_for_s``
  since it last held, so a value flapping around the threshold does not flap the alert.
- A pending series whose condition clears resolves at once (it never fired; no notification),
  unless ``clear_after_s`` is given: then it stays pending until the condition has been false
  that long since it last held (hysteresis for trend rules, whose condition flickers between
  samples). A pending series that resolves never fired: it is discarded, not kept as history
  (:mod:`~messaging.alerts.transitions`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"
RESOLVED = "resolved"


@dataclass(frozen=True)
class SeriesState:
    state: str = INACTIVE
    started_at: float | None = None  # when the condition first held (pending since)
    fired_at: float | None = None
    last_true_at: float | None = None


@dataclass(frozen=True)
class Step:
    state: SeriesState
    transition: str | None  # "pending" | "firing" | "resolved" | None
    held: bool = False  # the condition was unknown: nothing changed because of it


def step(
    previous: SeriesState,
    condition: bool | None,
    now: float,
    for_s: float,
    keep_firing_for_s: float,
    clear_after_s: float = 0.0,
) -> Step:
    """Advance one series by one observation at ``now`` (epoch seconds). ``clear_after_s``: how
    long a pending series' condition must stay false before the episode ends (0: at once)."""
    if condition is None:
        return Step(previous, None, held=previous.state != INACTIVE)
    if condition:
        if previous.state == INACTIVE:
            started = SeriesState(PENDING, started_at=now, last_true_at=now)
            if for_s <= 0:
                return Step(replace(started, state=FIRING, fired_at=now), FIRING)
            return Step(started, PENDING)
        if previous.state == PENDING:
            started_at = previous.started_at if previous.started_at is not None else now
            if now - started_at >= for_s:
                return Step(replace(previous, state=FIRING, fired_at=now, last_true_at=now), FIRING)
            return Step(replace(previous, last_true_at=now), None)
        return Step(replace(previous, last_true_at=now), None)
    if previous.state == INACTIVE:
        return Step(previous, None)
    if previous.state == PENDING:
        last_true = previous.last_true_at if previous.last_true_at is not None else now
        if clear_after_s > 0 and now - last_true < clear_after_s:
            return Step(previous, None)
        return Step(SeriesState(), RESOLVED)
    last_true = previous.last_true_at if previous.last_true_at is not None else now
    if now - last_true < keep_firing_for_s:
        return Step(previous, None)
    return Step(SeriesState(), RESOLVED)

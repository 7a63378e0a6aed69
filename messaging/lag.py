"""Lag figures from successive samples of one queue. Pure functions: no I/O, no clock.

Every figure that cannot be known is ``None``. The rules (README, "What it shows"; docs/api.md, "Queues"):

- rates come from the broker when it counts them (RabbitMQ, averaged by the management plugin
  over its own sample period); otherwise the consume rate comes from Celery task events counted
  per queue, and the publish rate is the depth change plus what was consumed, both averaged over
  the last :data:`RATE_WINDOW_S` seconds (a steady producer of 1.5/s reads 1.5, not 0, 0.5, 2.0
  in turn as its messages fall into one short sample interval or the next). With neither, rates
  are unknown, not zero.
- ``oldest_age_s`` is exact when the head message carries a publish time; otherwise it is the time
  since the current head message was first seen at the head (a lower bound, good to one sample).
- ``time_to_drain_s`` is (ready + unacked) / consume rate; unknown when nothing is consumed.
- ``trend`` tells growing / stalled / draining / steady / idle apart over a short window, because a
  bare threshold false-alarms on idle queues (Burrow's lesson). A dead-letter queue is never
  ``stalled``: nothing consuming it is its normal state, so a DLQ holding steady is ``steady`` and
  one that keeps filling is ``growing`` (messages keep failing: worth a look).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

TREND_WINDOW = 10
#: Rates Switchyard derives itself are averaged over this many seconds (at least one sample).
RATE_WINDOW_S = 30.0
GROWING, STALLED, DRAINING, STEADY, IDLE = "growing", "stalled", "draining", "steady", "idle"


@dataclass
class QueueHistory:
    """What the monitor remembers about one queue between samples (bounded)."""

    last_at: float | None = None
    last_depth: int | None = None
    head_digest: str | None = None
    head_first_seen_at: float | None = None
    recent: deque = field(default_factory=lambda: deque(maxlen=TREND_WINDOW))
    #: Messages consumed since counting began, and the (at, depth, consumed_total) points of the
    #: rate window, oldest first: the first one at or before the window's start.
    consumed_total: int = 0
    rate_points: deque = field(default_factory=deque)


class Observation(NamedTuple):
    """One sample of one queue as the broker reported it (a tuple: 10,000 are made a round)."""

    at: float
    depth: int | None
    unacked: int | None
    broker_publish_rate: float | None = None
    broker_consume_rate: float | None = None
    head_published_at: float | None = None
    head_digest: str | None = None
    consumed_since_last: int | None = None  # from Celery events; None when not counted
    dead_letter: bool = False  # a dead-letter queue: unconsumed by design


class LagFigures(NamedTuple):
    publish_rate: float | None
    consume_rate: float | None
    oldest_age_s: float | None
    oldest_age_exact: bool
    time_to_drain_s: float | None
    trend: str


def rates(history: QueueHistory, seen: Observation) -> tuple[float | None, float | None]:
    """(publish_rate, consume_rate) in messages/s: the broker's own, else averaged over the rate
    window (from the oldest point kept, which is at most one sample older than the window)."""
    if seen.broker_publish_rate is not None or seen.broker_consume_rate is not None:
        return seen.broker_publish_rate, seen.broker_consume_rate
    return _window_rates(history, seen)


def _window_rates(history: QueueHistory, seen: Observation) -> tuple[float | None, float | None]:
    if seen.consumed_since_last is None or not history.rate_points:
        return None, None
    since_at, since_depth, since_consumed = history.rate_points[0]
    elapsed = seen.at - since_at
    if elapsed <= 0:
        return None, None
    consumed = history.consumed_total + seen.consumed_since_last - since_consumed
    consume = consumed / elapsed
    if seen.depth is None or since_depth is None:
        return None, consume
    publish = (seen.depth - since_depth + consumed) / elapsed
    return max(publish, 0.0), consume


def _advance_rate_window(history: QueueHistory, seen: Observation) -> None:
    if seen.consumed_since_last is None:  # counting stopped: the window starts again
        history.rate_points.clear()
        return
    history.consumed_total += seen.consumed_since_last
    points = history.rate_points
    points.append((seen.at, seen.depth, history.consumed_total))
    while len(points) > 2 and points[1][0] <= seen.at - RATE_WINDOW_S:
        points.popleft()


def _instant_consume_rate(history: QueueHistory, seen: Observation) -> float | None:
    """What was consumed since the last sample, per second: the trend's input, so that a queue
    whose consumers stop reads ``stalled`` within the trend window, not after the rate window."""
    if seen.broker_consume_rate is not None:
        return seen.broker_consume_rate
    if history.last_at is None or seen.consumed_since_last is None or seen.at <= history.last_at:
        return None
    return seen.consumed_since_last / (seen.at - history.last_at)


def oldest_age(history: QueueHistory, seen: Observation) -> tuple[float | None, bool]:
    """(age in seconds, exact?) of the message at the head of the queue."""
    if seen.depth == 0:
        return 0.0, True
    if seen.head_published_at is not None:
        return max(seen.at - seen.head_published_at, 0.0), True
    if seen.head_digest is None:
        return None, False
    if seen.head_digest == history.head_digest and history.head_first_seen_at is not None:
        return max(seen.at - history.head_first_seen_at, 0.0), False
    return 0.0, False


def time_to_drain(depth: int | None, unacked: int | None, consume_rate: float | None) -> float | None:
    if depth is None or consume_rate is None or consume_rate <= 0:
        return None
    backlog = depth + (unacked or 0)
    drain = backlog / consume_rate
    # A vanishing rate (5e-324 messages/s) makes the division overflow: unknown, not infinity
    # (which is not JSON either).
    return drain if math.isfinite(drain) else None


def trend(recent: list[tuple[int | None, float | None]], dead_letter: bool = False) -> str:
    """Classify the window of (depth, consume_rate) pairs, oldest first. ``dead_letter``: the
    queue is a dead-letter queue, which nothing consumes by design, so it is never ``stalled``."""
    depths = [d for d, _ in recent if d is not None]
    if len(depths) < 2:
        return ""
    if all(d == 0 for d in depths):
        return IDLE
    consumes = [c for _, c in recent if c is not None]
    nothing_consumed = bool(consumes) and len(consumes) == len(recent) and all(c == 0 for c in consumes)
    first, last = depths[0], depths[-1]
    if last > 0 and nothing_consumed and last >= first and not dead_letter:
        return STALLED
    rising = sum(1 for a, b in zip(depths, depths[1:]) if b > a)
    falling = sum(1 for a, b in zip(depths, depths[1:]) if b < a)
    if last > first and rising > falling:
        return GROWING
    if last < first and falling >= rising:
        return DRAINING
    return STEADY


def observe(history: QueueHistory, seen: Observation) -> LagFigures:
    """Compute the figures for ``seen`` and advance ``history`` past it."""
    publish, consume = rates(history, seen)
    age, exact = oldest_age(history, seen)
    drain = time_to_drain(seen.depth, seen.unacked, consume)

    if seen.head_digest != history.head_digest:
        history.head_digest = seen.head_digest
        history.head_first_seen_at = seen.at if seen.head_digest is not None else None
    history.recent.append((seen.depth, _instant_consume_rate(history, seen)))
    _advance_rate_window(history, seen)
    history.last_at = seen.at
    history.last_depth = seen.depth
    return LagFigures(
        publish_rate=publish,
        consume_rate=consume,
        oldest_age_s=age,
        oldest_age_exact=exact,
        time_to_drain_s=drain,
        trend=trend(list(history.recent), dead_letter=seen.dead_letter),
    )

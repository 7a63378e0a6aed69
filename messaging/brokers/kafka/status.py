"""A consumer group's status over a window of samples, after Burrow's evaluator
(linkedin/Burrow, core/internal/evaluator). Pure functions: no I/O, no clock.

Burrow reads every offset commit with its time from ``__consumer_offsets``; a monitor that asks
for committed offsets (OffsetFetch) sees only their values. So "committed the same offset again"
(Burrow's STALL) and "committed nothing" (Burrow's STOP) look the same here, and the rules are
stated over what can be seen, per partition over the window, oldest first:

- ``ok``: the latest lag is 0, or the consumer is catching up (lag fell over the window).
- ``stopped``: lag > 0 and the committed offset did not move over the window (not committing).
- ``growing``: the committed offset moved and the lag rose (last > first, more rises than falls).
- ``stalled``: the committed offset moved but the lag did not fall (committing, not catching up).
- ``no members``: the group has no active member (known, not assumed); judged before the rest.

A group's status is its worst partition's (stopped > stalled > growing > ok), as Burrow's is.
With fewer than :data:`MIN_POINTS` samples a partition is not judged (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

OK, GROWING, STALLED, STOPPED, NO_MEMBERS = "ok", "growing", "stalled", "stopped", "no members"
STATUSES = (OK, GROWING, STALLED, STOPPED, NO_MEMBERS)
#: Samples per partition a status is judged over (Burrow's ``intervals``; it defaults to 10).
WINDOW = 5
MIN_POINTS = 3
_SEVERITY = {OK: 0, GROWING: 1, STALLED: 2, STOPPED: 3}


@dataclass(frozen=True)
class OffsetPoint:
    """One partition in one sample: the group's committed offset and the partition's end."""

    committed: int | None
    end: int | None

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.end is None:
            return None
        return max(self.end - self.committed, 0)


def partition_status(window: Sequence[OffsetPoint]) -> str | None:
    """The status of one partition over ``window`` (oldest first), or None when not judged."""
    points = [p for p in window if p.lag is not None]
    if len(points) < MIN_POINTS:
        return None
    lags = [p.lag for p in points]
    first, last = lags[0], lags[-1]
    if last == 0:
        return OK
    offsets = [p.committed for p in points]
    if offsets[-1] == offsets[0]:
        return STOPPED
    if offsets[-1] < offsets[0]:  # rewound (reset to an earlier offset): Burrow's REWIND is an error
        return STALLED
    rises = sum(1 for a, b in zip(lags, lags[1:]) if b > a)
    falls = sum(1 for a, b in zip(lags, lags[1:]) if b < a)
    if last > first and rises > falls:
        return GROWING
    if last >= first:
        return STALLED
    return OK


def group_status(windows: Iterable[Sequence[OffsetPoint]], members: int | None) -> str | None:
    """The status of one (group, topic) row: ``no members`` when the group is known to have none,
    else its worst partition's; None when no partition could be judged."""
    if members == 0:
        return NO_MEMBERS
    judged = [s for s in (partition_status(w) for w in windows) if s is not None]
    if not judged:
        return None
    return max(judged, key=_SEVERITY.__getitem__)

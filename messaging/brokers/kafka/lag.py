"""Consumer-group lag as messages and as time, and rates from offsets.

- Lag of a partition: end offset - committed offset (never below 0); a partition the group never
  committed on has no lag (null in ``partitions``) and adds nothing to the row's sum.
- Lag as time: the timestamp of the record at the committed offset (the next one the group will
  read), read by :mod:`messaging.brokers.kafka.heads` (once per offset, within a time budget);
  its age is the row's ``oldest_age_s``.
- Rates: publish from end offsets, consume from committed offsets, each over
  :data:`messaging.lag.RATE_WINDOW_S`, as the other transports' derived rates are.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from messaging.brokers.kafka.status import WINDOW, OffsetPoint
from messaging.lag import RATE_WINDOW_S


@dataclass
class RowMemory:
    """What the adapter remembers about one row between rounds: (at, end sum, committed sum)
    points of the rate window and each partition's last offsets for the status window."""

    points: deque = field(default_factory=deque)
    windows: dict[int, deque] = field(default_factory=dict)

    def rates(self, at: float, end_sum: int | None, committed_sum: int | None) -> tuple[float | None, float | None]:
        """(publish, consume) per second over the rate window, then remember this point."""
        publish = consume = None
        if self.points:
            since_at, since_end, since_committed = self.points[0]
            elapsed = at - since_at
            if elapsed > 0:
                if end_sum is not None and since_end is not None:
                    publish = max(end_sum - since_end, 0) / elapsed
                if committed_sum is not None and since_committed is not None:
                    consume = max(committed_sum - since_committed, 0) / elapsed
        self.points.append((at, end_sum, committed_sum))
        while len(self.points) > 2 and self.points[1][0] <= at - RATE_WINDOW_S:
            self.points.popleft()
        return publish, consume

    def window(self, partition: int, point: OffsetPoint, size: int = WINDOW) -> deque:
        kept = self.windows.get(partition)
        if kept is None or kept.maxlen != size:
            kept = self.windows[partition] = deque(kept or (), maxlen=size)
        kept.append(point)
        return kept

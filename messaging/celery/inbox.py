"""The bounded queue between a broker's event capture thread and its writer thread.

Events go in a message at a time (a worker's message carries a list of events) and come out a
batch at a time: one lock round trip per message and per batch instead of two per event.

``offer`` waits for room while the queue has been full for less than ``OFFER_PRESSURE_S``: a
burst then waits in the socket and Redis' pub/sub buffer (megabytes) instead of being dropped
here. Once the queue has stayed full that long the writer is truly behind: events are dropped at
once and counted (``dropped``) until the queue is half empty again, so the receiver keeps reading
at full speed and every loss has a number (waiting on would only let Redis cut the subscription at
its output-buffer limit, losing events nobody can count).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from typing import Any, Protocol

#: How long the queue may stay full before events are dropped instead of waited for (docstring).
OFFER_PRESSURE_S = 3.0


class DropCounter(Protocol):
    dropped: int


class EventInbox(queue.Queue):
    """A ``queue.Queue`` of events (``maxsize`` events) with batch ``offer`` and ``take``."""

    def __init__(self, maxsize: int, counters: DropCounter) -> None:
        super().__init__(maxsize)
        self.counters = counters
        self.full_since: float | None = None  # since when the queue has been full (pressure)

    def offer(self, events: Sequence[dict[str, Any]]) -> int:
        """Queue ``events`` in order; returns how many were queued. The others were dropped and
        counted in ``counters.dropped`` (see the module docstring for the waiting)."""
        queued = self._put_many(events, 0, 0.0)
        if queued == len(events):
            if self.full_since is not None and self.qsize() <= self.maxsize // 2:
                self.full_since = None
            return queued
        now = time.monotonic()
        if self.full_since is None:
            self.full_since = now
        wait = OFFER_PRESSURE_S - (now - self.full_since)
        if wait > 0:
            queued += self._put_many(events, queued, wait)
        self.counters.dropped += len(events) - queued
        return queued

    def take(self, limit: int, timeout: float) -> list[dict[str, Any]]:
        """Up to ``limit`` queued events, oldest first, waiting up to ``timeout`` s for the first."""
        with self.not_empty:
            if not self._qsize():
                deadline = time.monotonic() + timeout
                while not self._qsize():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    self.not_empty.wait(remaining)
            get = self._get
            events = [get() for _ in range(min(limit, self._qsize()))]
            self.not_full.notify_all()
            return events

    def _put_many(self, events: Sequence[dict[str, Any]], start: int, timeout: float) -> int:
        """Put ``events[start:]`` in order while there is room, waiting up to ``timeout`` s
        overall for room; returns how many were put."""
        put, maxsize = self._put, self.maxsize
        deadline = None
        index = start
        with self.not_full:
            while index < len(events):
                if maxsize > 0 and self._qsize() >= maxsize:
                    if deadline is None:
                        deadline = time.monotonic() + timeout
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self.not_full.wait(remaining)
                    continue
                put(events[index])
                index += 1
            if index > start:
                self.unfinished_tasks += index - start
                self.not_empty.notify()
        return index - start

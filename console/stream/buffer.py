"""A per-client outbox that cannot grow without bound.

Events with a ``key`` supersede the buffered event of the same key (latest state wins); when the
buffer is full the oldest event is dropped and counted, so the client can be told.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import count
from typing import Any


class ClientBuffer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._events: OrderedDict[Any, dict[str, Any]] = OrderedDict()
        self._serial = count()
        self.dropped = 0
        self.coalesced = 0

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: dict[str, Any]) -> None:
        key = event.get("key")
        if key is not None and key in self._events:
            # Keep the newer state, at the newer position: its order relative to other keys follows
            # the newest update.
            del self._events[key]
            self.coalesced += 1
        elif key is None:
            key = ("unkeyed", next(self._serial))
        self._events[key] = event
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)
            self.dropped += 1

    def add_all(self, events: list[dict[str, Any]]) -> None:
        """``add`` each of ``events``, in order. When the batch alone fills the buffer with distinct
        keys (a round of 10,000 queue samples), what it would push out is counted without being
        inserted first: the buffer ends as the batch's last ``capacity`` events, and every event
        pushed out or superseded is counted once, as dropped or coalesced."""
        skip = len(events) - self.capacity
        tail = events[max(skip, 0) :]
        tail_keys = {e.get("key") for e in tail if e.get("key") is not None}
        if skip <= 0 or len(tail_keys) != sum(1 for e in tail if e.get("key") is not None):
            for event in events:
                self.add(event)
            return
        later = set(tail_keys)
        for event in reversed(events[:skip]):
            key = event.get("key")
            if key is not None and key in later:
                self.coalesced += 1
            else:
                self.dropped += 1
            if key is not None:
                later.add(key)
        for key in self._events:
            if key in later:
                self.coalesced += 1
            else:
                self.dropped += 1
        self._events = OrderedDict(
            (e.get("key") if e.get("key") is not None else ("unkeyed", next(self._serial)), e) for e in tail
        )

    def drain(self) -> tuple[list[dict[str, Any]], int]:
        """Everything buffered, oldest first, and how many were dropped since the last drain."""
        events = list(self._events.values())
        self._events.clear()
        dropped, self.dropped = self.dropped, 0
        return events, dropped

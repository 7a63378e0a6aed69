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

    def drain(self) -> tuple[list[dict[str, Any]], int]:
        """Everything buffered, oldest first, and how many were dropped since the last drain."""
        events = list(self._events.values())
        self._events.clear()
        dropped, self.dropped = self.dropped, 0
        return events, dropped

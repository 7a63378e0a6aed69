"""Per-queue routing for WebSocket clients that watch only some queues (the rows on their screen).

A page of the overview shows 50 of 10,000 queues; its client says which (``{"queues": [ids]}``,
docs/websocket.md) and is then handed only those queues' ``queue.sample`` events, plus every
event of its topics that is not one queue's (``broker.status``, ``queues.summary``). Routing is an
index, queue key -> clients, so a round of 10,000 changed queues costs one dict lookup per event
and one append per delivery, whatever the number of clients: not a test per event per client.

Used for the in-memory channel layer (``messaging.stream`` delivers to consumers directly). With a
channel layer between processes every web process gets the whole batch and each consumer keeps
what it watches (:func:`watched`: one set lookup per event).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

QUEUE_KEY_PREFIX = "queue:"


def queue_key(queue_id: object) -> str:
    """The event key of a queue's ``queue.sample`` events (``messaging.sample_recorder.queue_event``)."""
    return f"{QUEUE_KEY_PREFIX}{queue_id}"


def is_one_queues(event: dict[str, Any]) -> bool:
    """True for an event about one queue (filtered per client); False for broker and fleet events."""
    key = event.get("key")
    return isinstance(key, str) and key.startswith(QUEUE_KEY_PREFIX)


def watched(events: Iterable[dict[str, Any]], keys: frozenset[str]) -> list[dict[str, Any]]:
    """``events`` a client watching only the queues of ``keys`` receives. Inline rather than through
    :func:`is_one_queues`: it runs once per event per client."""
    prefix = QUEUE_KEY_PREFIX
    return [
        event
        for event in events
        if (key := event.get("key")) in keys or not (isinstance(key, str) and key.startswith(prefix))
    ]


class KeyRoutes:
    """One topic's clients that watch some queues only: queue key -> client ids, and each client's
    (weak reference, event loop, keys). A client is held weakly: one that vanished without leaving
    is dropped from the index when collected."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[int]] = {}
        self.members: dict[int, tuple[weakref.ReferenceType[Any], asyncio.AbstractEventLoop, frozenset[str]]] = {}

    def __len__(self) -> int:
        return len(self.members)

    def add(self, subscriber: Any, loop: asyncio.AbstractEventLoop, keys: frozenset[str]) -> None:
        self.remove(subscriber)
        ident = id(subscriber)
        reference = weakref.ref(subscriber, lambda _ref, ident=ident: self._forget(ident))
        self.members[ident] = (reference, loop, keys)
        for key in keys:
            self.by_key.setdefault(key, set()).add(ident)

    def remove(self, subscriber: Any) -> None:
        member = self.members.get(id(subscriber))
        if member is not None and member[0]() is subscriber:
            self._forget(id(subscriber))

    def _forget(self, ident: int) -> None:
        member = self.members.pop(ident, None)
        if member is None:
            return
        for key in member[2]:
            clients = self.by_key.get(key)
            if clients is not None:
                clients.discard(ident)
                if not clients:
                    del self.by_key[key]

    def route(self, encoded: list[dict[str, Any]]) -> list[tuple[Any, asyncio.AbstractEventLoop, list[dict[str, Any]]]]:
        """Each member's share of a published batch, in the batch's order: (subscriber, its loop,
        its events); members with nothing to receive are left out."""
        shares: dict[int, list[dict[str, Any]]] = {}
        for event in encoded:
            if is_one_queues(event):
                for ident in self.by_key.get(event["key"], ()):
                    shares.setdefault(ident, []).append(event)
            else:
                for ident in self.members:
                    shares.setdefault(ident, []).append(event)
        routed = []
        for ident, events in shares.items():
            reference, loop, _keys = self.members[ident]
            subscriber = reference()
            if subscriber is not None:
                routed.append((subscriber, loop, events))
        return routed

"""Publishing events to open browsers and API clients through the channel layer.

The monitor and the operator actions publish; the WebSocket consumers in ``console/stream``
forward. Events travel in batches (one channel-layer message per topic per round) because a
sample of 1,000 queues must not become 1,000 layer messages per client.

Each event is ``{"topic", "type", "data", "ts", "key"}``; ``key`` names what a newer event of the
same key supersedes (e.g. ``queue:17``) so slow clients can be given the latest state only.

Events are encoded once, when published, into the exact text each kind of client receives (the
full event for roles that may read message content, the event as ``messaging.visibility`` lets
viewers see it), so no per-client work is left but buffering and sending.

With the in-memory channel layer (one process: ``serve`` with the monitor in-process) the groups
live in this process anyway, so consumers subscribe here (:func:`subscribe_locally`, kept on the
process's :class:`~messaging.runtime.Runtime`) and a
publish hands each of them the one encoded batch. Going through the layer instead cost, for every
subscriber, a deep copy of the batch, a queue put, a consumer wake-up and dispatch, and a scan of
every channel for expired messages (``InMemoryChannelLayer._clean_expired``, on each send):
with 200 clients that was most of the server's CPU. Any other layer (channels-redis, several
processes) is used as before, through ``group_send``.

A client may watch only some queues (the rows on its screen): it is then registered by queue key
(``messaging.stream_routes``) and handed only its share of each batch, so a round of 10,000
changed queues costs each such client nothing but the events it shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from messaging import runtime
from messaging.stream_routes import KeyRoutes
from messaging.visibility import (  # noqa: F401 (CONTENT_FIELDS: re-exported)
    CONTENT_FIELDS,
    EXCEPTION_FIELDS,
    EXCEPTION_TEXT_FIELDS,
    for_viewer,
)

log = logging.getLogger(__name__)

TOPICS = ("queues", "workers", "tasks", "alerts", "actions", "audit")
BATCH_MESSAGE_TYPE = "stream.batch"


def group_for(topic: str) -> str:
    return f"switchyard.{topic}"


# What a viewer may see of an event's data: messaging.visibility (the one rule for every surface).
strip_content = for_viewer


def encode_for_clients(event: dict[str, Any]) -> dict[str, Any]:
    """``{"topic", "key", "text", "viewer_text"}``: the event as sent to operators and as sent to
    viewers (:func:`messaging.visibility.for_viewer`: no content, exception types only)."""
    outgoing = {k: v for k, v in event.items() if k != "key"}
    text = dumps(outgoing)
    data = outgoing.get("data")
    if not may_hide_anything(data):
        viewer_text = text  # the same for every role (a queue sample): no copy, no second encoding
    else:
        stripped = for_viewer(data)
        viewer_text = text if stripped == data else dumps({**outgoing, "data": stripped})
    return {"topic": event.get("topic"), "key": event.get("key"), "text": text, "viewer_text": viewer_text}


# Every field for_viewer rewrites (messaging.visibility's rule): data without any, at any depth,
# reads the same for every role.
_HIDDEN_FIELDS = CONTENT_FIELDS | EXCEPTION_FIELDS | EXCEPTION_TEXT_FIELDS


def may_hide_anything(value: Any) -> bool:
    """False when :func:`messaging.visibility.for_viewer` would return ``value`` as it is: a cheap
    test, with no copy, for data that is the same for every role (queue samples)."""
    # Plain loops: any() over a generator cost ~25 us per queue event (10,000 a round), 5x these.
    if isinstance(value, dict):
        if not _HIDDEN_FIELDS.isdisjoint(value.keys()):
            return True
        value = value.values()
    elif not isinstance(value, list):
        return False
    for item in value:
        if isinstance(item, (dict, list)) and may_hide_anything(item):
            return True
    return False


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """JSON text of an event: orjson (a 10,000-queue round publishes 10,000 events), with what
    ``json.dumps(default=str)`` gave for datetimes and other objects; text orjson refuses (a lone
    surrogate) goes through ``json.dumps``, which escapes it as before."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, default=str)


def make_event(topic: str, event_type: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return {"topic": topic, "type": event_type, "data": data, "ts": time.time(), "key": key}


class LocalSubscriber(Protocol):
    def take_events(self, events: list[dict[str, Any]]) -> None:
        """Accept a published batch (shared with every other subscriber: read it, never change it).
        Called on the subscriber's own event loop; must not block."""


def local_subscribers(topic: str) -> weakref.WeakKeyDictionary[LocalSubscriber, asyncio.AbstractEventLoop]:
    """This process's subscribers of ``topic`` -> the event loop each runs on. Weak keys: a
    consumer that vanished without unsubscribing (a crashed connection task) is not kept alive,
    nor sent to, by the registry."""
    subscribers = runtime.current().subscribers
    registry = subscribers.get(topic)
    if registry is None:
        registry = subscribers.setdefault(topic, weakref.WeakKeyDictionary())
    return registry


def is_in_process(layer: Any) -> bool:
    """True when ``layer`` keeps its groups in this process (the in-memory layer): its subscribers
    are then reached directly, see :func:`subscribe_locally`."""
    return isinstance(layer, InMemoryChannelLayer)


# Per runtime (tests run several in one process): topic -> clients that watch some queues only.
_key_routes: weakref.WeakKeyDictionary[runtime.Runtime, dict[str, KeyRoutes]] = weakref.WeakKeyDictionary()


def key_routes(topic: str) -> KeyRoutes:
    """This process's subscribers of ``topic`` that watch only some queues (``messaging.stream_routes``)."""
    routes = _key_routes.setdefault(runtime.current(), {})
    return routes.setdefault(topic, KeyRoutes())


def subscribe_locally(topic: str, subscriber: LocalSubscriber, keys: frozenset[str] | None = None) -> None:
    """Deliver ``topic``'s batches to ``subscriber`` on the running event loop (in-memory layer
    only): all of them, or with ``keys`` only the events of those queues (and every event that is
    not one queue's). Subscribing again replaces the earlier choice."""
    loop = asyncio.get_running_loop()
    if keys is None:
        key_routes(topic).remove(subscriber)
        local_subscribers(topic)[subscriber] = loop
    else:
        local_subscribers(topic).pop(subscriber, None)
        key_routes(topic).add(subscriber, loop, keys)


def unsubscribe_locally(topic: str, subscriber: LocalSubscriber) -> None:
    local_subscribers(topic).pop(subscriber, None)
    key_routes(topic).remove(subscriber)


def _deliver_locally(topic: str, encoded: list[dict[str, Any]]) -> None:
    here = _running_loop()
    deliveries = [(subscriber, loop, encoded) for subscriber, loop in list(local_subscribers(topic).items())]
    routes = key_routes(topic)
    if len(routes):
        deliveries += routes.route(encoded)
    for subscriber, loop, events in deliveries:
        if loop is here:
            subscriber.take_events(events)
        elif not loop.is_closed():
            # Published from another thread's loop (a test driver, a helper thread): the
            # subscriber's buffer belongs to its own loop.
            loop.call_soon_threadsafe(subscriber.take_events, events)


async def publish_async(topic: str, events: Iterable[dict[str, Any]]) -> None:
    """Send events of one topic to every subscriber. Never raises: a full or broken channel layer
    must not stop the monitor; the failure is logged."""
    batch = list(events)
    if not batch:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        encoded = [encode_for_clients(event) for event in batch]
        if is_in_process(layer):
            _deliver_locally(topic, encoded)
            return
        await layer.group_send(group_for(topic), {"type": BATCH_MESSAGE_TYPE, "events": encoded})
    except Exception:
        log.warning("could not publish %d %s event(s) to the channel layer", len(batch), topic, exc_info=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def set_home_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Name the event loop that owns the channel layer (the server's), on the process's runtime.
    The in-memory layer is not thread-safe, so publishes from worker threads are handed to that loop."""
    runtime.current().home_loop = loop


def publish(topic: str, events: Iterable[dict[str, Any]]) -> None:
    """Synchronous :func:`publish_async`, for code running in worker threads. Waits at most 5 s."""
    batch = list(events)
    loop = runtime.current().home_loop
    if loop is not None and loop.is_running():
        if _running_loop() is loop:
            loop.create_task(publish_async(topic, batch))
            return
        future = asyncio.run_coroutine_threadsafe(publish_async(topic, batch), loop)
        try:
            future.result(timeout=5)
        except Exception:
            log.warning("publishing %s events timed out", topic)
        return
    if _running_loop() is not None:
        # Some other event loop runs in this thread (a test driver, an embedding app):
        # async_to_sync refuses to nest, so publish from a helper thread.
        helper = threading.Thread(target=async_to_sync(publish_async), args=(topic, batch), daemon=True)
        helper.start()
        helper.join(5)
        return
    async_to_sync(publish_async)(topic, batch)

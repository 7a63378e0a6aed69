"""Capturing a broker's Celery events in a thread of its own, reconnecting after any failure.

The receiver does as little as possible: it decodes each message (:func:`decode_body`), stamps
its events with the time they arrived and hands them to the writer's queue at once
(``EventWriter.offer_many``, which waits only while the queue is full). A message that is not
JSON, or an event that is not an object, is counted as malformed and skipped; nothing is ever
unpickled (the app accepts JSON only). A compressed message is refused unopened and counted as
malformed: Celery never compresses events, and Kombu would inflate it, without any size limit,
before any of our code saw it (a 353-byte bzip2 event inflated to 400 MiB), see
:func:`refusing_compression`.

Loss we can see: events dropped because the writer's queue was full (``dropped``); disconnects
(``disconnects``: a RabbitMQ restart, or Redis closing a subscriber that fell behind its
``client-output-buffer-limit pubsub``; events published while we were away are gone); events that
came late (``late``); heartbeats that should have come and did not (``heartbeats_missed``). Loss we
cannot see: RabbitMQ expiring events from our queue (``event_queue_ttl``) while we are connected
and slow; the receiver takes everything at once, so this needs a monitor stalled for seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from celery import Celery
from celery.events.receiver import EventReceiver

from messaging.brokers.urls import redact_url, redact_urls_in
from messaging.celery.writer import EventCounters

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0
JSON = "application/json"


class _Receiver(EventReceiver):
    def __init__(
        self,
        channel: Any,
        sink: Callable[[list[dict[str, Any]]], int],
        counters: EventCounters,
        app: Celery,
        on_ready: Callable[[], None],
    ):
        super().__init__(channel, handlers={}, app=app)
        self.sink = sink
        self.counters = counters
        self.on_ready = on_ready

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        # Only now is our event queue declared and bound: events published earlier never reach us,
        # so "connected" must not be claimed before this point.
        _subscribe_now(channel)
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        self.on_ready()

    def get_consumers(self, Consumer, channel):  # noqa: N803 (kombu's name)
        # The channel builds each delivery's Message, and Message.__init__ inflates the body.
        channel.Message = refusing_compression(type(channel).Message)
        consumers = super().get_consumers(Consumer, channel)
        for consumer in consumers:
            consumer.on_decode_error = self._on_decode_error
            consumer.on_message = self._on_message
        return consumers

    def _on_message(self, message: Any) -> None:
        try:
            body = decode_body(message)
        except Exception as exc:
            self._on_decode_error(message, exc)
            return
        self._receive(body, message)

    def _on_decode_error(self, message: Any, exc: Exception) -> None:
        self.counters.received += 1
        self.counters.malformed_decode += 1

    def _receive(self, body: Any, message: Any) -> None:
        now = time.time()
        items = body if isinstance(body, list) else (body,)
        events = []
        for item in items:
            if isinstance(item, dict):
                item["local_received"] = now
                events.append(item)
        counters = self.counters
        counters.received += len(items)
        counters.malformed_decode += len(items) - len(events)
        if events:
            self.sink(events)


class CompressedEvent(ValueError):
    """An event message with a ``compression`` header: refused, never inflated."""


def _raw_headers(raw: Any) -> dict[str, Any] | None:
    """The application headers of a delivery as the transport hands it over, before Kombu wraps
    it: a payload dict (virtual transports: Redis, SQS...) or an ``amqp.Message``."""
    if isinstance(raw, dict):
        headers = raw.get("headers")
    else:
        properties = getattr(raw, "properties", None)
        headers = properties.get("application_headers") if isinstance(properties, dict) else None
    return headers if isinstance(headers, dict) else None


_refusing: dict[type, type] = {}


def refusing_compression(message_class: type) -> type:
    """``message_class`` (a transport's Kombu Message) made to refuse compressed bodies: the
    ``compression`` header is taken away before Kombu's ``Message.__init__`` would decompress,
    and the message carries a :class:`CompressedEvent` error instead, so the consumer hands it to
    ``on_decode_error`` with its body still compressed (a few bytes, never inflated)."""
    refusing = _refusing.get(message_class)
    if refusing is not None:
        return refusing

    def __init__(self, raw: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        headers = _raw_headers(raw)
        compression = headers.pop("compression", None) if headers is not None else None
        message_class.__init__(self, raw, *args, **kwargs)
        if compression is not None:
            error = CompressedEvent(f"compressed event ({str(compression)[:64]}) refused")
            self.errors.append((CompressedEvent, error, None))

    refusing = type(f"RefusingCompression{message_class.__name__}", (message_class,), {"__init__": __init__})
    _refusing[message_class] = refusing
    return refusing


def decode_body(message: Any) -> Any:
    """The message's body as ``message.decode()`` gives it (or the error it raises), faster for the
    usual JSON event message: Kombu's JSON decoder calls a Python hook per object (for its
    ``{"__type__": ..., "__value__": ...}`` markers); orjson builds the same values in C. A body
    that could hold a marker (the name, or any ``\\u`` escape that could spell it), one orjson
    rejects (NaN, lone surrogates, invalid UTF-8...) and any other content type take Kombu's own
    path. One difference: an integer beyond 64 bits comes as a float (Celery's own events have
    none: arguments and results are reprs, i.e. strings)."""
    body = message.body
    if (
        message.content_type == JSON
        and type(body) is bytes
        and (message.accept is None or JSON in message.accept)
        and b"__type__" not in body
        and b"\\u" not in body
    ):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return message.decode()


def _subscribe_now(channel: Any) -> None:
    """Kombu's Redis transport sends its PSUBSCRIBE on the first poll, after the consumer says it
    is ready; send it now so that "ready" means events published from here on reach us."""
    poller = getattr(getattr(channel, "connection", None), "cycle", None)
    if getattr(channel, "active_fanout_queues", None) and hasattr(poller, "on_poll_start"):
        poller.on_poll_start()


class EventCapture:
    """Runs :meth:`run` in a thread; :meth:`stop` ends it within about a second."""

    def __init__(
        self,
        app: Celery,
        sink: Callable[[list[dict[str, Any]]], int],
        counters: EventCounters,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.sink = sink
        self.counters = counters
        self.on_connected = on_connected
        self._stop = threading.Event()
        self._receiver: _Receiver | None = None

    def stop(self) -> None:
        self._stop.set()
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True

    def _on_ready(self) -> None:
        self.counters.connected = True
        self.counters.connected_since = time.time()
        self.counters.last_error = ""
        log.info("celery events: listening on %s", redact_url(self.app.conf.broker_url))
        if self.on_connected:
            self.on_connected()

    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    connection.ensure_connection(max_retries=1)
                    receiver = _Receiver(connection, self.sink, self.counters, self.app, self._on_ready)
                    self._receiver = receiver
                    if self._stop.is_set():
                        break
                    backoff = 0.5
                    receiver.capture(limit=None, timeout=None, wakeup=True)
            except Exception as exc:
                if self._stop.is_set():
                    break
                if self.counters.connected:
                    self.counters.disconnects += 1
                self.counters.last_error = redact_urls_in(f"{type(exc).__name__}: {exc}")[:500]
                log.warning(
                    "celery events on %s: %s; reconnecting in %.1fs",
                    redact_url(self.app.conf.broker_url),
                    self.counters.last_error,
                    backoff,
                )
            finally:
                self.counters.connected = False
                self._receiver = None
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

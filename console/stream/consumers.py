"""``/ws/stream``: JSON events for scripts and the console's own pages.

The client sends ``{"subscribe": [topics]}`` (and may send ``{"unsubscribe": [...]}``); the server
sends one JSON object per event. Each client has a bounded :class:`ClientBuffer` flushed by its
own task, so a slow client only ever costs its buffer: its updates are coalesced, then dropped
oldest first, and it is told ``{"type": "stream.dropped", "data": {"count": n}}``. (The socket
in front of the buffer is kept small too: console/stream/protocol.py.)

Batches arrive through the channel layer's groups (``stream_batch``), or, with the in-memory
layer, straight from the publisher in this process (``take_events``, see messaging/stream.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected

from console.json_limits import json_nesting_error
from console.roles import can_read_bodies, role_of
from console.stream import limits
from console.stream.buffer import ClientBuffer
from console.stream.protocol import SEND_MANY
from messaging.stream import TOPICS, group_for, is_in_process, subscribe_locally, unsubscribe_locally
from messaging.stream_routes import queue_key, watched

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
# A screen shows a page of queues, not thousands: past this a client should watch every queue.
MAX_WATCHED_QUEUES = 2000


@database_sync_to_async
def _access(user) -> tuple[str | None, bool]:
    return role_of(user), can_read_bodies(user)


class StreamConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.role, self.reads_bodies = await _access(self.scope.get("user"))
        if self.role is None:
            # 4401: no credentials, 4403: credentials without a role. Accept-then-close lets
            # browsers read the code.
            await self.accept()
            code = 4401 if not getattr(self.scope.get("user"), "is_authenticated", False) else 4403
            await self.close(code=code)
            return
        self.counted_user: int | None = None
        refusal = limits.admit(self.scope["user"].pk)
        if refusal is not None:
            self.role = None  # nothing more is read from it
            await self.accept()
            await self.close(code=refusal[0], reason=refusal[1])
            return
        self.counted_user = self.scope["user"].pk
        self.topics: set[str] = set()
        # With {"batch": true} each flush is one WebSocket message, a JSON array of its events: a
        # 10,000-queue round is then a few messages per client, not thousands of frames.
        self.batched = False
        # The queues whose samples this client wants (``{"queues": [ids]}``); None: every queue.
        self.queue_keys: frozenset[str] | None = None
        self.buffer = ClientBuffer(settings.SWITCHYARD_STREAM_CLIENT_BUFFER)
        self.wakeup = asyncio.Event()
        self.flusher = asyncio.create_task(self._flush_loop())
        await self.accept()
        await self._send_json(
            {
                "topic": "stream",
                "type": "stream.hello",
                "data": {"topics": list(TOPICS), "role": self.role},
                "ts": time.time(),
            }
        )

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted_user", None) is not None:
            limits.release(self.counted_user)
            self.counted_user = None
        flusher = getattr(self, "flusher", None)
        if flusher is not None:
            flusher.cancel()
        for topic in getattr(self, "topics", ()):
            await self._leave(topic)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if getattr(self, "role", None) is None:
            return
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE_BYTES:
            await self._error("send one JSON object of at most 64 KiB")
            return
        nesting = json_nesting_error(text_data)
        if nesting:
            await self._error(nesting)
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self._error("not JSON")
            return
        if not isinstance(message, dict):
            await self._error('send an object such as {"subscribe": ["queues"]}')
            return
        if "batch" in message:
            if not isinstance(message["batch"], bool):
                await self._error("batch takes true or false")
                return
            self.batched = message["batch"]
        if "queues" in message:
            keys = _queue_keys(message["queues"])
            if isinstance(keys, str):
                await self._error(keys)
                return
            self.queue_keys = keys
            if "queues" in self.topics and is_in_process(self.channel_layer):
                subscribe_locally("queues", self, self.queue_keys)
        await self._change_subscriptions(message)

    async def _change_subscriptions(self, message: dict[str, Any]) -> None:
        wanted, unwanted = message.get("subscribe", []), message.get("unsubscribe", [])
        if not isinstance(wanted, list) or not isinstance(unwanted, list):
            await self._error("subscribe and unsubscribe take lists of topics")
            return
        unknown = [t for t in wanted + unwanted if t not in TOPICS]
        if unknown:
            await self._error(f"unknown topics {unknown!r}; topics are {list(TOPICS)}")
            return
        for topic in wanted:
            if topic not in self.topics:
                await self._join(topic)
                self.topics.add(topic)
        for topic in unwanted:
            if topic in self.topics:
                await self._leave(topic)
                self.topics.discard(topic)
        watching = None if self.queue_keys is None else sorted(k.split(":", 1)[1] for k in self.queue_keys)
        data = {"topics": sorted(self.topics), "queues": watching}
        await self._send_json({"topic": "stream", "type": "stream.subscribed", "data": data, "ts": time.time()})

    async def _join(self, topic: str) -> None:
        if is_in_process(self.channel_layer):
            subscribe_locally(topic, self, self.queue_keys if topic == "queues" else None)
        else:
            await self.channel_layer.group_add(group_for(topic), self.channel_name)

    async def _leave(self, topic: str) -> None:
        if is_in_process(self.channel_layer):
            unsubscribe_locally(topic, self)
        else:
            await self.channel_layer.group_discard(group_for(topic), self.channel_name)

    async def stream_batch(self, message: dict[str, Any]) -> None:
        """A batch from the channel layer (several processes): see :meth:`take_events`. Every
        process gets the whole batch; this client keeps the queues it watches (a set lookup each)."""
        events = message.get("events", [])
        if self.queue_keys is not None and events and events[0].get("topic") == "queues":
            events = watched(events, self.queue_keys)
        self.take_events(events)

    def take_events(self, events: list[dict[str, Any]]) -> None:
        """Buffer a published batch and return at once (never wait on the client). In-process
        delivery has already left out the queues this client does not watch."""
        wanted = [event for event in events if event.get("topic") in self.topics]
        if wanted:
            self.buffer.add_all(wanted)
        self.wakeup.set()

    async def _flush_loop(self) -> None:
        interval = settings.SWITCHYARD_STREAM_FLUSH_INTERVAL
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                events, dropped = self.buffer.drain()
                texts = [event["text"] if self.reads_bodies else event["viewer_text"] for event in events]
                if dropped:
                    notice = {"topic": "stream", "type": "stream.dropped", "data": {"count": dropped}}
                    texts.insert(0, json.dumps({**notice, "ts": time.time()}))
                await self._send_texts(texts)
                await asyncio.sleep(interval)
        except (asyncio.CancelledError, ClientDisconnected):
            pass  # closed by the client, or by the keepalive (console/stream/protocol.py)
        except Exception:
            log.warning("stream: client flush failed; closing", exc_info=True)
            await self.close()

    async def _send_texts(self, texts: list[str]) -> None:
        """Each text as its own WebSocket message; in one write where the server offers it."""
        if not texts:
            return
        if self.batched:
            texts = ["[" + ",".join(texts) + "]"]
        if SEND_MANY in self.scope.get("extensions", {}):
            await self.base_send({"type": SEND_MANY, "texts": texts})
            return
        for text in texts:
            await self.send(text_data=text)

    async def _error(self, detail: str) -> None:
        await self._send_json({"topic": "stream", "type": "stream.error", "data": {"error": detail}, "ts": time.time()})

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, default=str))


def _queue_keys(value: Any) -> frozenset[str] | None | str:
    """The event keys of ``{"queues": [ids]}`` (null: every queue), or why the value is refused."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return "queues takes a list of queue ids (as in GET queues), or null for every queue"
    if len(value) > MAX_WATCHED_QUEUES:
        return f"at most {MAX_WATCHED_QUEUES} queues; send null to watch every queue"
    return frozenset(queue_key(v) for v in value)

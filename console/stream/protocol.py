"""The WebSocket protocol ``manage.py serve`` runs: uvicorn's websockets-sansio one with small send
buffers and a way to send several messages at once.

A client that stops reading must cost the server its :class:`~console.stream.buffer.ClientBuffer`
(bounded, coalesced to the latest state, overflow counted and reported as ``stream.dropped``)
and little else. With the operating system's defaults the kernel grows a socket's send buffer
to megabytes and the transport buffers without limit, so a stalled client first swallowed
minutes of stale events there (never coalesced, never reported) and the keepalive closed it
before its own buffer ever filled. Capping both makes back-pressure reach the consumer after a
few seconds of events; a reading client never comes near the cap (an event is a few hundred
bytes, a client gets tens per second).

Sending: a consumer flushes several events at a time, and one ASGI ``websocket.send`` per event
meant one ``send()`` system call per event per client (8,000 a second with 200 clients, a third
of the server's event loop). The scope's ``extensions`` advertise :data:`SEND_MANY`; a message
``{"type": SEND_MANY, "texts": [...]}`` sends each text as its own WebSocket text message (what
clients see is unchanged) in one write. A consumer under another server sends one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

# Per connection: the kernel's send buffer (Linux doubles the figure for its bookkeeping) and
# the transport's high-water mark, above which uvicorn makes the consumer's send() wait.
SEND_BUFFER_BYTES = 16 * 1024
# ASGI extension (in ``scope["extensions"]``) and message type: several text messages in one write.
SEND_MANY = "switchyard.websocket.send_many"


class BoundedSendWebSocketProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not every socket family takes the option
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(high=SEND_BUFFER_BYTES)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"][SEND_MANY] = {}

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            return
        texts: list[str] = message["texts"]
        open_for_messages = self.handshake_complete and self.initial_response is None and not self.close_sent
        if not open_for_messages:
            for text in texts:  # whatever the server says to a send in this state, it says to each
                await super().send({"type": "websocket.send", "text": text})
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        try:
            for text in texts:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))


def uvicorn_websocket_options() -> dict[str, object]:
    """The WebSocket part of ``uvicorn.Config`` for the console (``serve`` and the tests' live server)."""
    return {
        "ws": "console.stream.protocol:BoundedSendWebSocketProtocol",
        # Deflate is per connection (each client has its own compressor), so it meant compressing
        # every event once per client: with 200 clients a sixth of the server's CPU, to save a
        # few hundred bytes of JSON per event.
        "ws_per_message_deflate": False,
        "ws_max_size": 1 << 20,
    }

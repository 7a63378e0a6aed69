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

Closing: uvicorn's keepalive (a ping every ``SWITCHYARD_WS_PING_INTERVAL`` s, a pong due within
``SWITCHYARD_WS_PING_TIMEOUT`` s) and a consumer's close both end with ``transport.close()``. That
waits for the transport's buffer to drain, and then the kernel keeps the connection (orphaned,
its send queue full) until the client takes the data and the FIN behind it. A client that stopped
reading does neither, so such clients stayed connected indefinitely (18 of 20 after 80 s, 36-45 KB
queued each). Here, when the keepalive gives up, the close frame gets :data:`CLOSE_FLUSH_S` to
leave; if anything is still unsent then (transport buffer or kernel send queue), the connection is
reset (``SO_LINGER`` 0, abort): no FIN_WAIT, buffers freed at once. A consumer's close gets the
same treatment after uvicorn's close timeout. A client that reads nothing is thus gone within
interval + timeout + :data:`CLOSE_FLUSH_S` seconds (41 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from typing import Any

from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

# Per connection: the kernel's send buffer (Linux doubles the figure for its bookkeeping) and
# the transport's high-water mark, above which uvicorn makes the consumer's send() wait.
SEND_BUFFER_BYTES = 16 * 1024
# How long a close frame may take to leave once the keepalive gives up, before a reset.
CLOSE_FLUSH_S = 1.0
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

    def keepalive_timeout(self) -> None:
        """uvicorn's, except that the connection is closed only once the close frame has left,
        and reset after :data:`CLOSE_FLUSH_S` if it has not."""
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.fail(1011, "keepalive ping timeout")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.close_timer = self.loop.call_later(CLOSE_FLUSH_S, self._close_or_reset)

    def _unsent_bytes(self) -> int:
        """Bytes not yet taken by the peer: the transport's buffer plus the kernel's send queue
        (sent but unacknowledged included). Unknown counts as some."""
        pending = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        try:
            queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        except (AttributeError, OSError):
            return pending + 1
        return pending + struct.unpack("i", queued)[0]

    def _close_or_reset(self) -> None:
        """Close if everything written has reached the peer; otherwise reset the connection,
        since a graceful close would wait on a peer that does not read."""
        self.close_timer = None
        if self.disconnected:
            return
        if self._unsent_bytes() == 0:
            self.transport.close()
            return
        sock = self.transport.get_extra_info("socket")
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"][SEND_MANY] = {}

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            if self.close_timer is not None and message["type"] == "websocket.close":
                # uvicorn waits close_timeout for the client's close reply, then closes; a client
                # that stopped reading never lets that close finish.
                self.close_timer.cancel()
                self.close_timer = self.loop.call_later(self.close_timeout, self._close_or_reset)
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
        "ws_ping_interval": settings.SWITCHYARD_WS_PING_INTERVAL,
        "ws_ping_timeout": settings.SWITCHYARD_WS_PING_TIMEOUT,
    }

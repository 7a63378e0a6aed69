"""A py-amqp connection whose socket I/O is batched, for moves of many messages on RabbitMQ.

py-amqp's TCP transport reads exactly the bytes it needs next: three ``recv`` calls per frame,
about ten per delivered message; and it writes each published message with its own ``sendall``.
At thousands of messages a second those system calls were a fifth of a move's time (profiled
in bench/README.md). :class:`BufferedConnection` reads up to :data:`READ_CHUNK` bytes per
``recv`` and parses frames out of its buffer, and :meth:`BufferedTCPTransport.corked` gathers
the frames written meanwhile into one ``sendall``. The frames on the wire are the same; only
the number of system calls changes. TLS connections keep py-amqp's own transport.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from struct import unpack_from
from typing import Any

import amqp
from amqp.exceptions import UnexpectedFrame
from amqp.transport import _UNAVAIL, TCPTransport, Transport  # _UNAVAIL: still connected after these

READ_CHUNK = 256 * 1024
# A corked batch goes out once it holds this much, so a large batch never sits whole in memory.
WRITE_FLUSH_BYTES = 1024 * 1024
FRAME_END = 0xCE
_RETRIED = (errno.EAGAIN, errno.EINTR)


class BufferedTCPTransport(TCPTransport):
    """py-amqp's TCP transport with buffered reads and optional corked writes (module docstring)."""

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._inbox = bytearray()
        self._start = 0  # where the next unread frame begins in ``_inbox``

    def frame_buffered(self) -> bool:
        """Whether a whole frame is already in the buffer (reading it needs no socket call)."""
        inbox, start = self._inbox, self._start
        if len(inbox) - start < 7:
            return False
        return len(inbox) > start + 7 + unpack_from(">I", inbox, start + 3)[0]

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """The next frame, as py-amqp's ``read_frame`` returns it. A time-out while a frame is
        incomplete consumes nothing: what arrived stays buffered for the next call."""
        inbox = self._inbox
        first = True
        while True:
            start = self._start
            if len(inbox) - start >= 7:
                frame_type, channel, size = unpack_from(">BHI", inbox, start)
                end = start + 7 + size
                if len(inbox) > end:
                    payload = bytes(inbox[start + 7 : end])
                    frame_end = inbox[end]
                    self._start = end + 1
                    if self._start == len(inbox):
                        inbox.clear()
                        self._start = 0
                    elif self._start > READ_CHUNK:
                        del inbox[: self._start]
                        self._start = 0
                    if frame_end != FRAME_END:
                        raise UnexpectedFrame(f"Received frame_end {frame_end:#04x} while expecting 0xce")
                    return frame_type, channel, payload
            self._receive(initial=first and len(inbox) == start)
            first = False

    def _receive(self, initial: bool) -> None:
        while True:
            try:
                received = self._quick_recv(READ_CHUNK)
            except TimeoutError:
                raise
            except OSError as exc:
                if exc.errno in _RETRIED:
                    if initial and self.raise_on_initial_eintr:
                        raise TimeoutError() from None
                    continue
                if exc.errno not in _UNAVAIL:
                    self.connected = False
                raise
            if not received:
                self.connected = False
                raise OSError("Server unexpectedly closed connection")
            self._inbox += received
            return

    @contextmanager
    def corked(self) -> Iterator[None]:
        """Frames written inside go out together (one ``sendall`` per :data:`WRITE_FLUSH_BYTES`),
        in order, when the block ends, also when it raises: the broker then has every frame a
        caller counted as sent."""
        pending: list[bytes] = []
        size = 0
        send = self._write

        def gather(data: Any) -> None:
            nonlocal size
            # py-amqp hands over a view of a buffer it reuses for the next frame: copy it.
            pending.append(bytes(data))
            size += len(pending[-1])
            if size >= WRITE_FLUSH_BYTES:
                flush()

        def flush() -> None:
            nonlocal size
            if pending:
                data = b"".join(pending)
                pending.clear()
                size = 0
                send(data)

        self._write = gather
        try:
            yield
        finally:
            self._write = send
            flush()


class BufferedConnection(amqp.Connection):
    """``amqp.Connection`` over :class:`BufferedTCPTransport` (TLS: py-amqp's own)."""

    def Transport(  # noqa: N802 - py-amqp's name for the transport factory
        self,
        host: str,
        connect_timeout: float | None,
        ssl: Any = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        socket_settings: Any = None,
        **kwargs: Any,
    ) -> Any:
        if ssl:
            return Transport(
                host,
                connect_timeout=connect_timeout,
                ssl=ssl,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                socket_settings=socket_settings,
                **kwargs,
            )
        return BufferedTCPTransport(
            host,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            socket_settings=socket_settings,
            **kwargs,
        )

    def blocking_read(self, timeout: float | None = None) -> Any:
        """py-amqp's ``blocking_read``, without setting and restoring the socket's time-out (two
        system calls) for a frame that is already buffered."""
        transport = self.transport
        if isinstance(transport, BufferedTCPTransport) and transport.frame_buffered():
            return self.on_inbound_frame(transport.read_frame())
        return super().blocking_read(timeout)

    @contextmanager
    def corked(self) -> Iterator[None]:
        """Gather the frames written inside into few writes (see the module docstring)."""
        transport = self.transport
        if isinstance(transport, BufferedTCPTransport):
            with transport.corked():
                yield
        else:
            yield

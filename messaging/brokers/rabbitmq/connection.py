"""The AMQP side of the RabbitMQ adapter: URL parsing, connecting, passive declares.

Used when the management API cannot answer. A passive ``queue.declare`` only asks; it never
creates, changes or consumes anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import amqp
import amqp.exceptions

from messaging.brokers.base import BrokerError, QueueStats
from messaging.brokers.urls import redact_url, scrub_secret

CONNECT_TIMEOUT_S = 2.0
IO_TIMEOUT_S = 5.0
#: What py-amqp raises when the broker cannot be reached or refuses (sockets, TLS, AMQP errors).
AMQP_FAILURES = (OSError, amqp.exceptions.AMQPError)


@dataclass(frozen=True)
class AmqpAddress:
    """Where and as whom to connect. ``vhost`` is None when the URL names none."""

    host: str
    port: int
    user: str
    password: str
    vhost: str | None
    ssl: bool

    @property
    def connect_vhost(self) -> str:
        """The vhost an AMQP connection opens: the named one, else ``/`` as Kombu does."""
        return self.vhost if self.vhost is not None else "/"


def parse_amqp_url(url: str) -> AmqpAddress:
    """``amqp://user:pass@host:port/vhost``; ``//`` or ``/%2F`` name the vhost ``/``.

    An empty path (``amqp://host`` or ``amqp://host/``) names no vhost. Credentials default to
    ``guest``/``guest`` and the port to 5672 (5671 for ``amqps``), as in Kombu.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerError(f"bad AMQP URL {redact_url(url)}: {exc}", permanent=True) from None
    ssl = parts.scheme.lower() == "amqps"
    path = parts.path.removeprefix("/")
    return AmqpAddress(
        host=parts.hostname or "localhost",
        port=port or (5671 if ssl else 5672),
        user=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        vhost=unquote(path) if path else None,
        ssl=ssl,
    )


@contextmanager
def amqp_connection(address: AmqpAddress, url: str) -> Iterator[amqp.Connection]:
    """An open py-amqp connection with short timeouts; failures raise :class:`BrokerError`."""
    conn = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.user,
        password=address.password,
        virtual_host=address.connect_vhost,
        ssl=address.ssl,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=IO_TIMEOUT_S,
        write_timeout=IO_TIMEOUT_S,
        heartbeat=0,
    )
    try:
        try:
            conn.connect()
        except AMQP_FAILURES as exc:
            raise _broker_error("connect", exc, url) from None
        yield conn
    finally:
        # Closing a broken connection must not hide the real error.
        with suppress(*AMQP_FAILURES):
            conn.close() if conn.connected else conn.collect()


def passive_declares(address: AmqpAddress, url: str, names: list[str]) -> tuple[list[QueueStats], list[str]]:
    """Depth (ready messages) and consumers of each existing queue among ``names``.

    Returns the stats and the names RabbitMQ does not know. One connection; a channel is reused
    until a declare fails, since a refused declare (404 not found, 405 exclusive to another
    connection) closes its channel.
    """
    stats: list[QueueStats] = []
    missing: list[str] = []
    with amqp_connection(address, url) as conn:
        channel = None
        for name in names:
            if channel is None:
                channel = _open_channel(conn, url)
            try:
                _, depth, consumers = channel.queue_declare(name, passive=True)
            except amqp.exceptions.NotFound:
                missing.append(name)
                channel = None
                continue
            except amqp.exceptions.ChannelError:
                stats.append(QueueStats(name=name, vhost=address.connect_vhost))
                channel = None
                continue
            except AMQP_FAILURES as exc:
                raise _broker_error("passive declare", exc, url) from None
            stats.append(QueueStats(name=name, vhost=address.connect_vhost, depth=depth, consumers=consumers))
    return stats, missing


def check_connect(address: AmqpAddress, url: str) -> None:
    """Return when an AMQP connection opens; raise :class:`BrokerError` otherwise."""
    with amqp_connection(address, url):
        pass


def _open_channel(conn: amqp.Connection, url: str) -> amqp.Channel:
    try:
        return conn.channel()
    except AMQP_FAILURES as exc:
        raise _broker_error("open channel", exc, url) from None


def _broker_error(doing: str, exc: BaseException, url: str) -> BrokerError:
    # Wrong credentials or a vhost the user may not use will not fix themselves.
    permanent = isinstance(exc, (amqp.exceptions.AccessRefused, amqp.exceptions.NotAllowed))
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    else:
        reason = str(exc) or type(exc).__name__
    message = f"AMQP {doing} to {redact_url(url)} failed: {reason}"
    return BrokerError(scrub_secret(message, url), permanent=permanent)

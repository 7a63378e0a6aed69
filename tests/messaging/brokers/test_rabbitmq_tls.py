"""An ``amqps://`` broker is reached over TLS by every connection the adapter opens, moves and
counts included: a plain AMQP greeting would send the credentials in clear to the TLS port."""

from __future__ import annotations

import socket
import threading

import pytest

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.brokers.rabbitmq import RabbitMQBroker

TLS_HANDSHAKE = 0x16
AMQP_GREETING = b"AMQP"


@pytest.fixture
def first_bytes_listener():
    """(port, seen): a local listener that keeps the first bytes of each connection and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    seen.append(conn.recv(8))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    server.close()
    thread.join(timeout=5)


def test_counting_and_moving_on_amqps_speak_tls_first(first_bytes_listener):
    port, seen = first_bytes_listener
    config = BrokerConfig(
        name="tls", url=f"amqps://app:s3cret@127.0.0.1:{port}/prod", management_url="http://127.0.0.1:1"
    )
    with RabbitMQBroker(config) as broker, pytest.raises(BrokerError):
        broker.count("orders")
    assert seen, "the adapter never connected"
    assert seen[0][:1] == bytes([TLS_HANDSHAKE]), f"first bytes {seen[0]!r}: not a TLS handshake"
    assert not any(AMQP_GREETING in first for first in seen)


def test_amqps_default_management_url_is_https_on_15671():
    broker = RabbitMQBroker(BrokerConfig(name="tls", url="amqps://app:s3cret@rabbit.internal/prod"))
    try:
        assert broker.http.base.startswith("https://rabbit.internal:15671")
    finally:
        broker.close()

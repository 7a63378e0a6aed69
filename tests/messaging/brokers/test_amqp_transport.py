"""The batched-I/O py-amqp connection used by RabbitMQ moves (messaging/brokers/amqp_transport.py):
same messages on the wire as py-amqp's own transport, against the real broker."""

from __future__ import annotations

import os
import socket
import struct
import time

import amqp
import pytest

from messaging.brokers.rabbitmq.buffered_transport import READ_CHUNK, BufferedConnection, BufferedTCPTransport
from tests.action_helpers import rabbit_vhost  # noqa: F401


def connect(vhost: str, cls=BufferedConnection) -> amqp.Connection:
    conn = cls(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost, read_timeout=10)
    conn.connect()
    return conn


def sample_messages() -> list[amqp.Message]:
    """Empty, small, larger than a frame (131,072 bytes: split into body frames) and larger than
    a read, with nested headers of every common type."""
    bodies = [b"", b"x", os.urandom(1000), os.urandom(200_000), os.urandom(READ_CHUNK * 3 + 17)]
    headers = {
        "id": "t-1",
        "retries": 3,
        "big": 2**40,
        "ratio": 0.25,
        "flag": True,
        "none": None,
        "raw": b"\x00\xff",
        "x-death": [{"queue": "orders", "count": 1, "reason": "rejected"}],
        "text": "é ☃ <script>",
    }
    return [
        amqp.Message(body, content_type="application/octet-stream", application_headers={**headers, "n": n})
        for n, body in enumerate(bodies)
    ]


def received(vhost: str, queue: str, count: int, cls) -> list[amqp.Message]:
    conn = connect(vhost, cls)
    try:
        channel = conn.channel()
        got: list[amqp.Message] = []
        channel.basic_consume(queue, callback=got.append, no_ack=True)
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                pass
        return got
    finally:
        conn.close()


@pytest.mark.parametrize("publisher", [BufferedConnection, amqp.Connection])
def test_messages_cross_intact_either_way_round(rabbit_vhost, publisher):  # noqa: F811
    """Published by one transport, read by the other: bodies, headers and properties equal."""
    config, vhost = rabbit_vhost
    reader = amqp.Connection if publisher is BufferedConnection else BufferedConnection
    sent = sample_messages()
    conn = connect(vhost, publisher)
    try:
        channel = conn.channel()
        channel.queue_declare("q", auto_delete=False)
        corked = conn.corked() if isinstance(conn, BufferedConnection) else _nothing()
        with corked:
            for message in sent:
                channel.basic_publish(message, exchange="", routing_key="q")
    finally:
        conn.close()
    got = received(vhost, "q", len(sent), reader)
    # py-amqp hands an empty body over as "", whichever transport read it.
    assert [m.body or b"" for m in got] == [m.body for m in sent]
    assert [m.properties["application_headers"] for m in got] == [m.properties["application_headers"] for m in sent]
    assert {m.properties["content_type"] for m in got} == {"application/octet-stream"}


class _nothing:  # noqa: N801 - stands where a context manager is expected
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_frames_written_in_a_corked_block_that_raises_still_reach_the_broker(rabbit_vhost):  # noqa: F811
    """A publish counted as sent is on the wire even when the block fails after it, so publisher
    confirm numbers stay in step with the broker's."""
    config, vhost = rabbit_vhost
    conn = connect(vhost)
    try:
        channel = conn.channel()
        channel.queue_declare("q", auto_delete=False)
        channel.confirm_select()
        with pytest.raises(RuntimeError), conn.corked():
            for n in range(5):
                channel.basic_publish(amqp.Message(str(n).encode()), exchange="", routing_key="q")
            raise RuntimeError("fails after five publishes")
    finally:
        conn.close()
    assert [m.body for m in received(vhost, "q", 5, BufferedConnection)] == [b"0", b"1", b"2", b"3", b"4"]


def test_a_read_time_out_mid_frame_keeps_what_arrived():
    """A frame split across reads, with a time-out between its parts, is read whole after it."""
    ours, theirs = socket.socketpair()
    try:
        transport = BufferedTCPTransport.__new__(BufferedTCPTransport)
        transport.sock = ours
        transport.raise_on_initial_eintr = True
        transport._setup_transport()
        ours.settimeout(0.1)
        payload = b"abc" * 1000
        frame = struct.pack(">BHI", 3, 1, len(payload)) + payload + b"\xce"
        theirs.sendall(frame[:5])
        with pytest.raises(TimeoutError):
            transport.read_frame()
        theirs.sendall(frame[5:2000])
        with pytest.raises(TimeoutError):
            transport.read_frame()
        theirs.sendall(frame[2000:] + frame)  # the rest, then a second frame at once
        assert transport.read_frame() == (3, 1, payload)
        assert transport.frame_buffered()
        assert transport.read_frame() == (3, 1, payload)
        assert not transport.frame_buffered()
        theirs.sendall(struct.pack(">BHI", 1, 0, 1) + b"x" + b"\x00")
        with pytest.raises(amqp.exceptions.UnexpectedFrame):
            transport.read_frame()
        theirs.close()
        with pytest.raises(OSError, match="unexpectedly closed"):
            transport.read_frame()
        assert transport.connected is False
    finally:
        ours.close()

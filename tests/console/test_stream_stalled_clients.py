"""Clients that stop reading are disconnected within the keepalive's bound, and one user (or all
users together) cannot open more WebSocket connections than the caps allow.

Real TCP clients against a live uvicorn server: raw sockets with a tiny receive buffer do the
WebSocket handshake, subscribe, and never read again while events flow, so the server's send
buffers fill and its close frame can never be flushed. Their TCP state shows when the server
really let go (a reset moves them out of ESTABLISHED whether or not they read)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from console.stream.protocol import CLOSE_FLUSH_S
from messaging.stream import make_event, publish
from tests.waiting import wait_for

PING_INTERVAL_S = 1.0
PING_TIMEOUT_S = 1.0
TCP_ESTABLISHED = 1


def handshake(port: int, token: str, receive_buffer: int = 1024) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/stream?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def text_frame(text: str) -> bytes:
    """A masked (client-to-server) WebSocket text frame."""
    payload = text.encode()
    mask = os.urandom(4)
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def pump_events(stop: threading.Event) -> None:
    """2 KB queue events, 100 a second: a client that does not read fills any socket buffer."""
    serial = 0
    while not stop.is_set():
        serial += 1
        events = [make_event("queues", "queue.sample", {"name": f"q{serial}-{i}", "pad": "x" * 2000}) for i in range(5)]
        publish("queues", events)
        time.sleep(0.05)


@pytest.fixture
def short_keepalive(settings):
    settings.SWITCHYARD_WS_PING_INTERVAL = PING_INTERVAL_S
    settings.SWITCHYARD_WS_PING_TIMEOUT = PING_TIMEOUT_S
    settings.SWITCHYARD_STREAM_FLUSH_INTERVAL = 0.05
    return PING_INTERVAL_S + PING_TIMEOUT_S + CLOSE_FLUSH_S  # the documented bound


def open_connections(console) -> int:
    return sum(1 for protocol in console.server.server_state.connections if hasattr(protocol, "conn"))


def test_clients_that_stop_reading_are_disconnected_within_the_keepalive_bound(
    live_console, make_user, short_keepalive
):
    console = live_console(monitor=False)
    _, token = make_user("viewer")
    stop = threading.Event()
    pump = threading.Thread(target=pump_events, args=(stop,), daemon=True)
    stalled = []
    try:
        for _ in range(8):
            sock = handshake(console.port, token)
            sock.sendall(text_frame(json.dumps({"subscribe": ["queues", "alerts"]})))
            stalled.append(sock)
        subscribed_at = time.monotonic()
        pump.start()
        closed_after: dict[int, float] = {}
        bound = short_keepalive + 1.5  # plus scheduling slack on a busy 2-core box
        while time.monotonic() - subscribed_at < bound + 5 and len(closed_after) < len(stalled):
            for i, sock in enumerate(stalled):
                if i not in closed_after and tcp_state(sock) != TCP_ESTABLISHED:
                    closed_after[i] = time.monotonic() - subscribed_at
            time.sleep(0.05)
        print(f"\nstalled clients closed after (s): {sorted(round(s, 2) for s in closed_after.values())}")
        assert len(closed_after) == len(stalled), f"still connected: {len(stalled) - len(closed_after)} of 8"
        assert max(closed_after.values()) <= bound, closed_after
        wait_for(lambda: open_connections(console) == 0, timeout=5, message="the server to drop them")
    finally:
        stop.set()
        if pump.is_alive():
            pump.join(5)
        for sock in stalled:
            sock.close()


def test_a_reading_client_stays_connected_past_the_keepalive(live_console, make_user, short_keepalive):
    console = live_console(monitor=False)
    _, token = make_user("viewer")
    with connect(f"{console.ws_url}/ws/stream?token={token}", open_timeout=10) as ws:
        ws.send(json.dumps({"subscribe": ["queues"]}))
        deadline = time.monotonic() + short_keepalive * 2
        while time.monotonic() < deadline:
            publish("queues", [make_event("queues", "queue.sample", {"name": "q"}, key="q")])
            with pytest.raises(TimeoutError):
                while True:
                    ws.recv(timeout=0.2)
        ws.send(json.dumps({"subscribe": ["tasks"]}))
        assert "stream.subscribed" in ws.recv(timeout=5)


def test_the_connection_past_a_users_cap_is_refused(live_console, make_user, settings):
    settings.SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER = 3
    console = live_console(monitor=False)
    _, token = make_user("viewer")
    _, other_token = make_user("viewer")
    url = f"{console.ws_url}/ws/stream?token="
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(url + token, open_timeout=10)) for _ in range(3)]
        for ws in held:
            assert "stream.hello" in ws.recv(timeout=5)
        with connect(url + token, open_timeout=10) as extra:
            with pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=5)
            assert closed.value.rcvd.code == 4429, closed.value
        with connect(url + other_token, open_timeout=10) as other:
            assert "stream.hello" in other.recv(timeout=5)
        held.pop().close()
        # The freed slot is taken again once the server has seen the close.
        wait_for(lambda: _admitted(url + token), timeout=5, message="the freed slot")


def test_connections_past_the_total_cap_are_refused(live_console, make_user, settings):
    settings.SWITCHYARD_STREAM_MAX_CONNECTIONS = 2
    console = live_console(monitor=False)
    url = f"{console.ws_url}/ws/stream?token="
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(url + make_user("viewer")[1], open_timeout=10)) for _ in range(2)]
        for ws in held:
            assert "stream.hello" in ws.recv(timeout=5)
        with connect(url + make_user("admin")[1], open_timeout=10) as extra:
            with pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=5)
            assert closed.value.rcvd.code == 1013, closed.value


def _admitted(url: str) -> bool:
    with connect(url, open_timeout=10) as ws:
        try:
            return "stream.hello" in ws.recv(timeout=5)
        except ConnectionClosed:
            return False


def test_a_deeply_nested_message_gets_a_stream_error_and_the_socket_stays_open(live_console, make_user):
    console = live_console(monitor=False)
    _, token = make_user("viewer")
    with connect(f"{console.ws_url}/ws/stream?token={token}", open_timeout=10) as ws:
        assert "stream.hello" in ws.recv(timeout=5)
        ws.send("[" * 30_000 + "]" * 30_000)
        error = json.loads(ws.recv(timeout=5))
        assert error["type"] == "stream.error" and "nests" in error["data"]["error"], error
        ws.send(json.dumps({"subscribe": ["queues"]}))
        assert "stream.subscribed" in ws.recv(timeout=5)

"""Every broker call the monitor makes ends within a bound, and its Celery threads stop on shutdown,
against a broker that refuses connections (a closed port) and one that accepts TCP and never
answers (a local socket server that never replies). A call stuck in Kombu's retry loop once kept
the test suite from exiting until its watchdog fired."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.celery import apps, control
from messaging.celery.service import CeleryWatch

BOUND_S = 10.0
ROOT = Path(__file__).resolve().parents[3]


class SilentServer:
    """Accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def broker_url(transport: str, port: int) -> str:
    if transport == "redis":
        return f"redis://127.0.0.1:{port}/0"
    return f"amqp://guest:guest@127.0.0.1:{port}//"


def unanswerable(kind: str, transport: str, request) -> str:
    port = request.getfixturevalue("silent_server").port if kind == "silent" else closed_port()
    return broker_url(transport, port)


def call_in_thread(fn) -> tuple[float, object]:
    """(seconds taken, what the call returned or raised); the call is abandoned after 3 bounds."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(3 * BOUND_S)
    return time.monotonic() - started, outcome[0] if outcome else "still running"


@pytest.mark.parametrize("transport", ["redis", "amqp"])
@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_every_control_call_to_an_unanswering_broker_fails_within_the_bound(kind, transport, request):
    app = apps.app_for(BrokerConfig(name=f"bounded-{kind}-{transport}", url=unanswerable(kind, transport, request)))
    calls = {
        "enable_events": lambda: control.enable_events(app),
        "inspect": lambda: control.inspect_workers(app),
        "revoke": lambda: control.revoke(app, "a-task-id"),
        "pool_grow": lambda: control.run_command(app, "w@h", control.Command("pool_grow", {"n": 1})),
        "connect": lambda: app.connection_for_read().ensure_connection(max_retries=None),
    }
    outcomes: dict[str, tuple[float, object]] = {}
    threads = [
        threading.Thread(target=lambda n=n, f=f: outcomes.__setitem__(n, call_in_thread(f)), daemon=True)
        for n, f in calls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * BOUND_S)
    for name, (took, result) in outcomes.items():
        assert took < BOUND_S, f"{name} took {took:.1f}s: {result!r}"
        assert isinstance(result, Exception), f"{name}: {result!r}"
        if name != "connect":
            assert isinstance(result, BrokerError)
    assert set(outcomes) == set(calls)


def test_kombu_retry_loop_of_a_monitor_connection_gives_up():
    """The loop the hung suite was in: ``Connection.ensure`` (every broadcast publishes with
    ``retry=True`` and no limit) reconnecting forever to a broker that went away."""
    url = broker_url("redis", closed_port())

    class Revivable:
        def revive(self, channel) -> None:
            pass

    def publish_to_a_gone_broker() -> None:
        raise ConnectionRefusedError("the broker went away")

    app = apps.app_for(BrokerConfig(name="bounded-ensure", url=url))
    with app.connection_for_write() as connection:
        took, result = call_in_thread(lambda: connection.ensure(Revivable(), publish_to_a_gone_broker)())
    assert took < BOUND_S and isinstance(result, Exception), (took, result)
    # Plain Kombu, for contrast, is still retrying after the bound.
    plain = Connection(url, connect_timeout=1, transport_options={"max_retries": 2})
    took, result = call_in_thread(lambda: plain.ensure(Revivable(), publish_to_a_gone_broker)())
    assert result == "still running"


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_the_monitors_celery_threads_stop_within_the_bound(kind, request, transactional_db, settings):
    settings.SWITCHYARD_INSPECT_INTERVAL = 0.5
    watch = CeleryWatch(BrokerConfig(name=f"stop-{kind}", url=unanswerable(kind, "redis", request)))
    watch.start()
    time.sleep(1.5)  # into their broker calls
    started = time.monotonic()
    assert watch.stop(timeout=BOUND_S)
    assert time.monotonic() - started < BOUND_S
    assert not [t.name for t in watch._threads if t.is_alive()]


def test_a_process_whose_monitor_talked_to_a_silent_broker_exits_promptly(silent_server, tmp_path):
    """Interpreter exit joins executor threads: one stuck in a broker call would hang it."""
    script = textwrap.dedent(
        f"""
        import django, threading, time
        django.setup()
        from messaging.brokers.base import BrokerConfig
        from messaging.celery import apps, control
        from messaging.celery.events import EventCapture
        from messaging.celery.writer import EventCounters

        app = apps.app_for(BrokerConfig(name="exit", url={broker_url("redis", silent_server.port)!r}))
        capture = EventCapture(app, lambda events: len(events), EventCounters())
        threading.Thread(target=capture.run, daemon=True).start()
        for call in (lambda: control.inspect_workers(app), lambda: control.enable_events(app)):
            threading.Thread(target=call, daemon=True).start()
        time.sleep(1.0)
        capture.stop()
        print("leaving", flush=True)
        """
    )
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="console.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        PYTHONPATH=str(ROOT),
    )
    started = time.monotonic()
    try:
        finished = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3 * BOUND_S
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process had not exited {3 * BOUND_S:.0f}s after its monitor stopped")
    assert "leaving" in finished.stdout, finished.stderr[-2000:]
    assert time.monotonic() - started < 2 * BOUND_S

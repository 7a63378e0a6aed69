"""``manage.py demo`` on a terminal: a status line, the workers' output in log files, and a clean
stop however often it is asked to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.celery_helpers import REDIS_URL
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.celery


@pytest.fixture
def demo_keyprefix() -> str:
    prefix = f"sydemo-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def test_demo_prints_status_lines_and_stops_cleanly_when_told_twice(tmp_path, demo_keyprefix) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text(
        f'[brokers.demo]\nurl = "{REDIS_URL}"\ntransport_options = {{ global_keyprefix = "{demo_keyprefix}" }}\n'
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_DEMO_")}
    environ["SWITCHYARD_CONFIG"] = str(config)
    log_dir = tmp_path / "logs"
    output = tmp_path / "terminal.txt"
    command = [sys.executable, "manage.py", "demo", "--no-serve", "--rate", "20", "--status-interval", "1"]
    with open(output, "w") as terminal:
        demo = subprocess.Popen(
            [*command, "--log-dir", str(log_dir)], cwd=ROOT, env=environ, stdout=terminal, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: "workers 2/2 online" in output.read_text(), timeout=45, message="both workers online")
        wait_for(lambda: " DLQ 0" not in output.read_text().splitlines()[-1], timeout=30, message="a dead letter")
        # make passes a SIGTERM to its child that the child's process group already got.
        demo.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    terminal = output.read_text()
    assert "Traceback" not in terminal, terminal
    assert "demo: stopped" in terminal, terminal
    assert f'demo: workers on broker "demo" of {config} ({REDIS_URL}, key prefix "{demo_keyprefix}")' in terminal
    worker_log = (log_dir / "demo-default.log").read_text()
    assert "task events: ON" in worker_log
    assert "ValueError: the demo's failing task" in worker_log  # the deliberate failures, off the terminal

    app = Celery("probe", set_as_current=False)
    app.conf.update(broker_url=REDIS_URL, broker_transport_options={"global_keyprefix": demo_keyprefix})
    assert app.control.ping(timeout=1.0) == [], "a demo worker outlived the demo"
    dead_letters = redis.Redis.from_url(REDIS_URL).llen(f"{demo_keyprefix}demo.default.dlq")
    assert dead_letters > 0, json.dumps({"dlq": dead_letters})


def test_a_stop_signal_repeated_at_once_does_not_interrupt_the_stopping(monkeypatch) -> None:
    """make passes on the SIGTERM its process group already got: the copy can land while the demo
    unwinds from the first, before its children are stopped, and must not cut that short."""
    from messaging.demo import workload

    clock = iter([100.0, 100.01, 100.0 + workload.REPEAT_WINDOW_S + 1])
    monkeypatch.setattr(workload.time, "monotonic", lambda: next(clock))
    stop = workload._StopRequest()
    with pytest.raises(KeyboardInterrupt):
        stop(signal.SIGTERM, None)
    stop(signal.SIGTERM, None)  # the same request, passed on by make
    with pytest.raises(KeyboardInterrupt):
        stop(signal.SIGINT, None)  # a new request, later: the operator means it

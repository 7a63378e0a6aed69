"""The demo: real Celery worker subprocesses plus a producer loop in this process.

``run()`` returns when interrupted (Ctrl-C) and always stops every worker it started.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent


def start_workers(environ: dict[str, str]) -> list[subprocess.Popen]:
    from messaging.demo.app import DEFAULT_QUEUE, EMAIL_QUEUE, PRIORITY_QUEUE

    plans = [
        ("demo-default", "prefork", 2, [DEFAULT_QUEUE, PRIORITY_QUEUE]),
        ("demo-emails", "prefork", 1, [EMAIL_QUEUE]),
    ]
    processes = []
    for name, pool, concurrency, queues in plans:
        command = [
            sys.executable, "-m", "celery", "-A", "messaging.demo.app", "worker", "-P", pool, "-c", str(concurrency),
            "-Q", ",".join(queues), "-n", f"{name}@%h", "-l", "WARNING",
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, env=environ, cwd=ROOT, start_new_session=True))
    return processes


def produce_forever(rate: float) -> None:
    from messaging.demo import app as demo

    while True:
        roll = random.random()
        if roll < 0.45:
            demo.add.delay(random.randint(1, 100), random.randint(1, 100))
        elif roll < 0.65:
            demo.send_email.delay(f"user{random.randint(1, 999)}@example.com")
        elif roll < 0.75:
            demo.urgent.apply_async((random.randint(0, 9),), priority=random.randint(0, 9))
        elif roll < 0.85:
            demo.flaky.delay(0.6)
        elif roll < 0.93:
            demo.slow.delay(random.uniform(1, 6))
        else:
            demo.fail.delay("the demo's failing task: it lands in <queue>.dlq with its death record")
        time.sleep(random.expovariate(rate))


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(rate: float = 3.0, serve: list[str] | None = None) -> None:
    # SIGTERM (a supervisor, `timeout`) stops the demo like Ctrl-C does, so its workers and console
    # are stopped too instead of being left running.
    signal.signal(signal.SIGTERM, _stop)
    environ = dict(os.environ)
    environ.setdefault("SWITCHYARD_DEMO_TASK_EVENTS", "0")  # the monitor turns them on (enable_events)
    processes = start_workers(environ)
    if serve:
        processes.append(subprocess.Popen([sys.executable, "manage.py", *serve], cwd=ROOT, start_new_session=True))
    try:
        produce_forever(rate)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

"""The demo: real Celery worker subprocesses, a producer loop in this process and, optionally, the
console. Every process writes to its own log file; the terminal gets one status line at a time.

``run()`` returns when interrupted (Ctrl-C, SIGTERM) and always stops every process it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_LOG_DIR = ROOT / "logs" / "demo"
PING_TIMEOUT_S = 1.0
REPEAT_WINDOW_S = 2.0
DELIBERATE_FAILURE = "the demo's failing task: it lands in <queue>.dlq with its death record"


@dataclass
class Child:
    """A process the demo started, and where its output goes."""

    name: str
    process: subprocess.Popen
    log_path: Path
    exit_reported: bool = False


def _spawn(name: str, command: list[str], environ: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as output:
        # Its own session: stopping it with killpg also stops its pool processes.
        process = subprocess.Popen(
            command, env=environ, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return Child(name, process, log_path)


def worker_plans() -> list[tuple[str, str, int, list[str]]]:
    """(node name, pool, concurrency, queues) of each demo worker."""
    from messaging.demo.app import DEFAULT_QUEUE, EMAIL_QUEUE, PRIORITY_QUEUE

    return [
        ("demo-default", "prefork", 2, [DEFAULT_QUEUE, PRIORITY_QUEUE]),
        ("demo-emails", "prefork", 1, [EMAIL_QUEUE]),
    ]


class QueueConflict(Exception):
    """The broker refuses to declare a demo queue as the demo declares it (RabbitMQ's
    ``PRECONDITION_FAILED``: the queue exists with other arguments)."""


def declare_queues() -> bool:
    """Declares the demo's queues, its dead-letter queues included, as its workers will, so that a
    conflict is reported before anything starts. Returns False when the broker cannot be reached
    (the workers and the producer keep trying on their own); raises :class:`QueueConflict`."""
    from messaging.demo.app import DEAD_LETTER_QUEUES, WORK_QUEUES, app

    with app.connection_for_write() as connection:
        try:
            connection.ensure_connection(max_retries=1)
        except OperationalError as exc:
            log.warning("demo: could not declare the queues: %s", exc)
            return False
        channel = connection.channel()
        try:
            for queue in (*WORK_QUEUES, *DEAD_LETTER_QUEUES):
                queue.bind(channel).declare()
        except connection.channel_errors as exc:
            raise QueueConflict(f"{queue.name}: {exc}") from None
        finally:
            with contextlib.suppress(*connection.connection_errors, *connection.channel_errors):
                channel.close()
    return True


def start_workers(environ: dict[str, str], log_dir: Path) -> list[Child]:
    children = []
    for name, pool, concurrency, queues in worker_plans():
        command = [
            sys.executable, "-m", "celery", "-A", "messaging.demo.app", "worker", "-P", pool, "-c", str(concurrency),
            "-Q", ",".join(queues), "-n", f"{name}@%h", "-E", "-l", "WARNING",
        ]  # fmt: skip
        children.append(_spawn(name, command, environ, log_dir))
    return children


class Producer:
    """Sends a mix of tasks at ``rate`` per second on average; counts what it sent by task name."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.sent: Counter[str] = Counter()
        self.publish_errors = 0

    def send_one(self) -> None:
        from messaging.demo import app as demo

        roll = random.random()
        if roll < 0.45:
            task, args, options = demo.add, (random.randint(1, 100), random.randint(1, 100)), {}
        elif roll < 0.65:
            task, args, options = demo.send_email, (f"user{random.randint(1, 999)}@example.com",), {}
        elif roll < 0.75:
            task, args, options = demo.urgent, (random.randint(0, 9),), {"priority": random.randint(0, 9)}
        elif roll < 0.85:
            task, args, options = demo.flaky, (0.6,), {}
        elif roll < 0.93:
            task, args, options = demo.slow, (random.uniform(1, 6),), {}
        else:
            task, args, options = demo.fail, (DELIBERATE_FAILURE,), {}
        try:
            task.apply_async(args, **options)
        except OperationalError as exc:  # the broker is down: keep trying, say so on the status line
            self.publish_errors += 1
            log.warning("demo: could not publish %s: %s", task.name, exc)
            time.sleep(1)
            return
        self.sent[task.name] += 1

    def pause(self) -> float:
        return random.expovariate(self.rate)


def workers_online() -> int | None:
    """Demo workers answering a ping now, or None when the broker cannot be asked."""
    from messaging.demo.app import app

    names = tuple(f"{name}@" for name, *_ in worker_plans())
    try:
        replies = app.control.ping(timeout=PING_TIMEOUT_S)
    except OperationalError as exc:
        log.warning("demo: could not ping the workers: %s", exc)
        return None
    return sum(1 for reply in replies for hostname in reply if hostname.startswith(names))


def dead_letters() -> int | None:
    """Messages in the demo queues' dead-letter queues, or None when the broker cannot tell."""
    from messaging.brokers.base import BrokerConfig, BrokerError
    from messaging.brokers.registry import broker_for
    from messaging.demo.app import BROKER_OPTIONS, BROKER_URL, QUEUES
    from messaging.integrations.celery_dlq import DEFAULT_SUFFIX

    with broker_for(BrokerConfig(name="demo", url=BROKER_URL, options=dict(BROKER_OPTIONS))) as broker:
        try:
            counts = [broker.count(queue + DEFAULT_SUFFIX) for queue in QUEUES]
        except BrokerError as exc:
            log.warning("demo: could not count dead letters: %s", exc)
            return None
    if any(count is None for count in counts):
        return None
    return sum(counts)


def status_line(elapsed_s: float, online: int | None, expected: int, producer: Producer, dlq: int | None) -> str:
    """One line for the terminal: ``demo 0:02:10  workers 2/2 online  sent 412 (31 fail on purpose)  DLQ 17``."""
    minutes, seconds = divmod(int(elapsed_s), 60)
    failing = producer.sent["demo.fail"] + producer.sent["demo.flaky"]
    parts = [
        f"demo {minutes // 60}:{minutes % 60:02d}:{seconds:02d}",
        f"workers {'?' if online is None else online}/{expected} online",
        f"sent {sum(producer.sent.values())} ({failing} fail or retry on purpose)",
        f"DLQ {'-' if dlq is None else dlq}",
    ]
    if producer.publish_errors:
        parts.append(f"publish errors {producer.publish_errors}")
    return "  ".join(parts)


class _StopRequest:
    """The SIGINT/SIGTERM handler while the demo runs: the first signal stops it. A repeat within
    REPEAT_WINDOW_S is the same request arriving twice (make passes on the signal its process
    group already got) and must not cut short the stopping of the children it started."""

    def __init__(self) -> None:
        self.asked_at: float | None = None

    def __call__(self, signum: int, frame: object) -> None:
        now = time.monotonic()
        repeat = self.asked_at is not None and now - self.asked_at <= REPEAT_WINDOW_S
        self.asked_at = now
        if not repeat:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """This process's log records (the producer's, Celery's, Kombu's) go to ``path`` instead of the
    terminal while the demo runs, with their formatting and redaction kept."""
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    with open(path, "w") as stream:
        terminals = [handler.setStream(stream) for handler in handlers]
        try:
            yield
        finally:
            for handler, terminal in zip(handlers, terminals):
                handler.setStream(terminal)


def run(
    rate: float = 3.0,
    serve: list[str] | None = None,
    log_dir: Path = DEFAULT_LOG_DIR,
    status_interval: float = 10.0,
    say: Callable[[str], None] = print,
) -> None:
    # SIGTERM (a supervisor, `timeout`) stops the demo like Ctrl-C does, so its workers and console
    # are stopped too instead of being left running.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop_request = _StopRequest()
    for sig in handlers:
        signal.signal(sig, stop_request)
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _logging_to(log_dir / "producer.log"):
            _run(rate, serve, log_dir, status_interval, say)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _run(
    rate: float, serve: list[str] | None, log_dir: Path, status_interval: float, say: Callable[[str], None]
) -> None:
    environ = dict(os.environ)
    children: list[Child] = []
    try:
        children.extend(start_workers(environ, log_dir))
        if serve:
            children.append(_spawn("console", [sys.executable, "manage.py", *serve], environ, log_dir))
        say(f"demo: logs in {log_dir}/ ({', '.join(c.log_path.name for c in children)}, producer.log)")
        producer = Producer(rate)
        started = time.monotonic()
        next_status = started + min(status_interval, 5.0)  # the first line once the workers are up
        while True:
            producer.send_one()
            time.sleep(producer.pause())
            if time.monotonic() >= next_status:
                for child in children:
                    if child.process.poll() is not None and not child.exit_reported:
                        child.exit_reported = True
                        say(f"demo: {child.name} exited with code {child.process.returncode}; see {child.log_path}")
                online, expected = workers_online(), len(worker_plans())
                say(status_line(time.monotonic() - started, online, expected, producer, dead_letters()))
                next_status = time.monotonic() + status_interval
    except KeyboardInterrupt:
        pass
    finally:
        _stop_children(children)
        say(f"demo: stopped; logs in {log_dir}/")


def _stop_children(children: list[Child], grace_s: float = 15.0) -> None:
    """SIGTERM to each main process (a Celery worker then finishes its running tasks, a warm
    shutdown), SIGKILL to whatever is left of its process group after ``grace_s``, or at once when
    asked to stop again. A repeat within REPEAT_WINDOW_S is the same request arriving twice (make
    passes on the SIGTERM its process group already got)."""
    asked_at = time.monotonic()

    def hurry(signum: int, frame: object) -> None:
        if time.monotonic() - asked_at > REPEAT_WINDOW_S:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, hurry) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except KeyboardInterrupt:
        pass
    for sig in previous:
        signal.signal(sig, signal.SIG_IGN)  # the rest is quick and must not be cut short
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)  # pool processes it left behind, if any
        child.process.wait()

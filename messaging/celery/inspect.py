"""Periodic inspection of a broker's workers, in a background thread (never per request).

Every ``SWITCHYARD_INSPECT_INTERVAL`` seconds, or at once when a new worker appears or the event
stream reconnects: broadcast ``enable_events`` (workers started without ``-E`` then send task
events), then ask every worker for stats, active queues, registered, active, reserved and
scheduled tasks, store them on the worker rows, and give the monitor each queue's consumer count
(Redis has none of its own: one consumer per live worker consuming the queue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from celery import Celery
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from messaging.brokers.base import BrokerError
from messaging.celery import control
from messaging.celery.ingest import text
from messaging.celery.writer import Activity, EventWriter
from messaging.db import close_thread_connections
from messaging.models import Worker

log = logging.getLogger(__name__)

ENABLE_EVENTS_EVERY_S = 30.0
FAST_AFTER_NEW_WORKER_S = 15.0
INSPECT_FIELDS = [
    "pool", "concurrency", "prefetch_count", "queues", "registered", "active_tasks", "reserved", "scheduled",
    "inspected_at", "inspect_error",
]  # fmt: skip


def pool_name(stats: dict[str, Any]) -> str:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    pool = stats.get("pool") if isinstance(stats.get("pool"), dict) else {}
    implementation = text(pool.get("implementation"), 128)
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1] if module else ""


def concurrency_of(stats: dict[str, Any]) -> int | None:
    pool = stats.get("pool") if isinstance(stats.get("pool"), dict) else {}
    processes = pool.get("processes")
    if isinstance(processes, list):
        return len(processes)
    value = pool.get("max-concurrency")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def apply_replies(worker: Worker, replies: dict[str, Any], now) -> None:
    stats = replies.get("stats")
    if isinstance(stats, dict):
        worker.pool = pool_name(stats)
        worker.concurrency = concurrency_of(stats)
        prefetch = stats.get("prefetch_count")
        worker.prefetch_count = prefetch if isinstance(prefetch, int) and not isinstance(prefetch, bool) else None
    queues = replies.get("active_queues")
    if isinstance(queues, list):
        worker.queues = sorted({text(q.get("name"), 255) for q in queues if isinstance(q, dict) and q.get("name")})
    registered = replies.get("registered")
    if isinstance(registered, list):
        worker.registered = sorted(text(r, 255) for r in registered[:1000])
    worker.active_tasks = control.task_briefs(replies.get("active"))
    worker.reserved = control.task_briefs(replies.get("reserved"))
    worker.scheduled = control.task_briefs(replies.get("scheduled"))
    worker.inspected_at = now
    missing = [m for m in control.INSPECT_METHODS if m not in replies]
    worker.inspect_error = f"no answer to {', '.join(missing)}" if missing else ""


def store_inspection(broker: str, by_worker: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Save replies on the known workers' rows; return consumers per queue of the live workers."""
    now = timezone.now()
    rows = {w.hostname: w for w in Worker.objects.filter(broker=broker)}
    changed = []
    for hostname, replies in by_worker.items():
        worker = rows.get(hostname)
        if worker is None:  # only events make a worker known (and able to go offline)
            continue
        apply_replies(worker, replies, now)
        changed.append(worker)
    if changed:
        Worker.objects.bulk_update(changed, INSPECT_FIELDS, batch_size=200)
    consumers: Counter[str] = Counter()
    for worker in rows.values():
        if worker.status == Worker.ONLINE:
            consumers.update(set(worker.queues))
    return dict(consumers)


class Inspector:
    """A worker's control channel is up only after its ``worker-online`` event, so a broadcast sent
    when it appears can be missed. Each worker is therefore sent ``enable_events`` again right
    after it first answers an inspection, and the inspector polls every second for a while after
    a worker appears."""

    def __init__(self, broker: str, app: Celery, writer: EventWriter, activity: Activity) -> None:
        self.broker = broker
        self.app = app
        self.writer = writer
        self.activity = activity
        self.interval = settings.SWITCHYARD_INSPECT_INTERVAL
        self._poke = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._events_enabled: set[str] = set()
        self._fast_until = 0.0
        self.rounds = 0

    def poke(self, hostname: str | None = None) -> None:
        """Inspect (and enable events) now; ``hostname`` names a worker that just came online."""
        with self._lock:
            if hostname:
                self._events_enabled.discard(hostname)
            self._fast_until = time.monotonic() + FAST_AFTER_NEW_WORKER_S
        self._poke.set()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()

    def run(self) -> None:
        enabled_at = 0.0
        while not self._stop.is_set():
            self._poke.clear()
            try:
                if time.monotonic() - enabled_at >= ENABLE_EVENTS_EVERY_S:
                    control.enable_events(self.app)
                    enabled_at = time.monotonic()
                self.inspect_once()
            except BrokerError as exc:
                log.warning("celery inspection of %s failed: %s", self.broker, exc)
            except Exception:
                log.exception("celery inspection of %s failed", self.broker)
            finally:
                close_old_connections()
            fast = time.monotonic() < self._fast_until
            self._poke.wait(min(self.interval, 1.0) if fast else self.interval)
        close_thread_connections()

    def inspect_once(self) -> None:
        online = sum(1 for w in self.writer.workers.values() if w.status == "online")
        by_worker = control.inspect_workers(self.app, expected=online or None)
        with self._lock:
            newly = sorted(set(by_worker) - self._events_enabled)
            self._events_enabled.update(newly)
        if newly:
            control.enable_events(self.app, destination=newly)
        close_old_connections()
        consumers = store_inspection(self.broker, by_worker)
        for hostname, replies in by_worker.items():
            queues = replies.get("active_queues")
            if isinstance(queues, list):
                self.writer.worker_queues[hostname] = [text(q.get("name"), 255) for q in queues if isinstance(q, dict)]
        self.activity.set_consumers(consumers)
        self.rounds += 1


def refresh_worker(broker: str, app: Celery, hostname: str) -> None:
    """Inspect one worker now (after a control command changed it), at most about a second."""
    try:
        by_worker = control.inspect_workers(app, expected=1, destination=[hostname])
    except BrokerError as exc:
        log.warning("could not re-inspect %s after a command: %s", hostname, exc)
        return
    store_inspection(broker, by_worker)

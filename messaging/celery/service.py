"""Celery watching for the monitor: per broker, an event capture thread, a batch writer thread
and an inspector thread; plus task retention. :func:`celery_hooks` plugs them into MonitorHooks."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from messaging.brokers.base import BrokerConfig
from messaging.celery.apps import app_for, celery_brokers
from messaging.celery.events import EventCapture
from messaging.celery.inspect import Inspector
from messaging.celery.records import enforce_task_retention
from messaging.celery.writer import Activity, EventCounters, EventWriter
from messaging.config import SwitchyardConfig
from messaging.db import call_in_thread

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 60.0
# Longer than any one bounded broker call (apps.CONNECT_BUDGET_S), so threads end in it.
STOP_TIMEOUT_S = 12.0


class CeleryWatch:
    """Everything Switchyard learns from one broker's Celery workers."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.app = app_for(config)
        self.counters = EventCounters()
        self.activity = Activity()
        self.writer = EventWriter(config.name, self.counters, self.activity)
        self.inspector = Inspector(config.name, self.app, self.writer, self.activity)
        self.writer.on_new_worker = self.inspector.poke
        self.capture = EventCapture(self.app, self.writer.offer_many, self.counters, on_connected=self.inspector.poke)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        name = self.config.name
        self._threads = [
            threading.Thread(target=self.capture.run, name=f"celery-events:{name}", daemon=True),
            threading.Thread(target=self.writer.run, args=(self._stop,), name=f"celery-writer:{name}", daemon=True),
            threading.Thread(target=self.inspector.run, name=f"celery-inspect:{name}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Signal every thread, then wait for them all, ``timeout`` seconds in all (each broker
        call they may be in ends within a bound: ``apps``). True when every thread ended."""
        self.signal_stop()
        return self.join(time.monotonic() + timeout)

    def signal_stop(self) -> None:
        self.capture.stop()
        self.inspector.stop()
        self._stop.set()

    def join(self, deadline: float) -> bool:
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("celery: threads still running after stop: %s", ", ".join(alive))
        return not alive


class CeleryWatches:
    def __init__(self, config: SwitchyardConfig) -> None:
        self.watches = {b.name: CeleryWatch(b) for b in celery_brokers(config)}

    def activity(self, broker: str) -> tuple[dict[str, int] | None, dict[str, int] | None]:
        watch = self.watches.get(broker)
        if watch is None:
            return None, None
        return watch.activity.take()

    async def run(self, stop: asyncio.Event) -> None:
        """Background job of the monitor: start the threads, prune tasks, stop with the monitor."""
        for watch in self.watches.values():
            watch.start()
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    deleted = await loop.run_in_executor(None, call_in_thread, enforce_task_retention)
                    if deleted:
                        log.info("celery: task retention deleted %d record(s)", deleted)
                except Exception:
                    log.exception("celery: task retention failed; retrying later")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=RETENTION_EVERY_S)
                except TimeoutError:
                    pass
        finally:
            await loop.run_in_executor(None, self.stop)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop every broker's threads, ``timeout`` seconds in all; True when all ended."""
        for watch in self.watches.values():
            watch.signal_stop()
        deadline = time.monotonic() + timeout
        return all([watch.join(deadline) for watch in self.watches.values()])

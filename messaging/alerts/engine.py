"""Alerts inside the monitor: evaluation after each sample, timers, and the webhook worker.

Evaluation runs in one dedicated thread (never on the event loop, and never two at once), so a
slow database round never delays sampling, and webhooks are sent by :class:`DeliveryWorker`'s own
threads, so a hanging receiver delays neither.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.utils import timezone

from messaging import poison_counts
from messaging.alerts import evaluation, retention
from messaging.alerts.notify import DeliveryWorker
from messaging.alerts.task_figures import TaskFiguresProvider
from messaging.db import call_in_thread, shut_down_database_thread
from messaging.monitor import run_fenced
from messaging.stream import publish_async

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 600.0


class AlertEngine:
    def __init__(self, monitor: Any, task_figures: TaskFiguresProvider | None = None) -> None:
        """``task_figures``: the function polled for task figures (the Celery side's,
        ``messaging.celery.figures.task_figures``); None polls none."""
        self.monitor = monitor
        self.task_figures = task_figures
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")
        self.deliveries = DeliveryWorker()
        self.last_duration_s: float | None = None
        self.started_at = timezone.now()

    @property
    def interval(self) -> float:
        return float(self.monitor.interval)

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func`` in the alert thread. When the monitor is elected, inside a transaction that
        checks its fence first: a deposed leader neither moves alerts nor queues webhooks, so no
        notification is sent twice across a failover."""
        fence = getattr(self.monitor, "fence", None)
        if fence is not None:
            return await asyncio.get_running_loop().run_in_executor(self.executor, run_fenced, fence, func, *args)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call_in_thread, func, *args)

    async def after_sample(self, broker: str, events: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        # Broker reads (bounded) outside the fenced evaluation: only while a rule asks.
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.executor, call_in_thread, poison_counts.refresh_for_rules, broker
            )
        except Exception:
            log.exception("alerts: counting poison messages on %s failed; their figure stays as it was", broker)
        alert_events = await self._run(evaluation.evaluate_broker, broker, self.interval)
        self.last_duration_s = time.monotonic() - started
        await publish_async("alerts", alert_events)

    def background_jobs(self) -> list[Callable[[asyncio.Event], Awaitable[None]]]:
        return [self._timers, self.deliveries.run]

    async def _timers(self, stop: asyncio.Event) -> None:
        """Every interval: monitor staleness and polled task figures; now and then: retention."""
        brokers = [b.name for b in self.monitor.brokers]
        last_retention = 0.0
        try:
            while not stop.is_set():
                try:
                    await self._tick(brokers)
                    if time.monotonic() - last_retention > RETENTION_EVERY_S:
                        last_retention = time.monotonic()
                        counts = await self._run(retention.prune_history)
                        if any(counts.values()):
                            log.info("alerts: history retention %s", counts)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("alerts: timed evaluation failed; retrying next interval")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
                except TimeoutError:
                    pass
        finally:
            shut_down_database_thread(self.executor, wait=False)

    async def _tick(self, brokers: list[str]) -> None:
        events = await self._run(evaluation.evaluate_staleness, brokers, self.interval, self.started_at)
        provider = self.task_figures
        if provider is not None:
            figures = await self._run(provider)
            if figures is not None:
                events += await self._run(evaluation.evaluate_tasks, figures, self.interval, None, False)
        await publish_async("alerts", events)

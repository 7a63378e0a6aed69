"""The monitor: samples every broker on its own schedule, stores figures, publishes events.

One asyncio task per broker, so a slow or dead broker never delays the others. Broker I/O and
database writes run in worker threads; publishing happens on the event loop that owns the channel
layer. Other parts plug in through :class:`MonitorHooks` (Celery activity, alert evaluation).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, transaction

from messaging.brokers.base import Broker, BrokerError, BrokerSample
from messaging.brokers.registry import broker_for
from messaging.config import SwitchyardConfig
from messaging.db import call_in_thread, shut_down_database_thread
from messaging.history import enforce_retention
from messaging.leader import Fence, LeadershipLost
from messaging.sample_recorder import BrokerMemory, load_memory, record_down, record_sample, watched_queue_names
from messaging.stream import publish_async

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 300.0
# A sample that takes longer than this many intervals counts as a failure (broker hung).
SAMPLE_TIMEOUT_INTERVALS = 5
MIN_SAMPLE_TIMEOUT_S = 10.0
DOWN_LOG_EVERY_S = 60.0

SampleListener = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
ActivitySource = Callable[[str], tuple[dict[str, int] | None, dict[str, int] | None]]


@dataclass
class MonitorHooks:
    """Extension points. ``activity`` returns (consumed counts since the last call, consumer
    counts) per queue of a broker from Celery events, or (None, None) when unknown."""

    activity: ActivitySource | None = None
    after_sample: list[SampleListener] = field(default_factory=list)
    background: list[Callable[[asyncio.Event], Awaitable[None]]] = field(default_factory=list)


def settle_long_lived() -> None:
    """Take what the process holds now out of the garbage collector's scans (after a full
    collection, so no garbage is kept). The monitor calls it once its per-queue memory is built:
    at 10,000 queues its rows and histories made every full collection (one or two a round) cost
    ~100 ms of CPU. Later objects are collected as usual; frozen ones are still freed when no
    longer referenced, only a reference cycle among them would outlive its use."""
    gc.collect()
    gc.freeze()


def run_fenced(fence: Fence | None, func: Callable[..., Any], *args: Any) -> Any:
    """``func`` in one transaction that first checks the fence (when elected): a monitor that lost
    its lease writes nothing."""
    if fence is None:
        return call_in_thread(func, *args)

    def fenced() -> Any:
        with transaction.atomic():
            fence.check()
            return func(*args)

    return call_in_thread(fenced)


class Monitor:
    """Samples, stores and publishes until stopped. With a ``fence`` (from leader election) every
    round's writes check it first, and the monitor stops itself at the first
    :class:`~messaging.leader.LeadershipLost`.

    The Celery event writer (a background job) is not fenced: it runs only for the term of the
    monitor that started it, and its task and worker rows are upserts keyed by task id and
    hostname, so a deposed leader finishing a batch writes the same state again, never a
    duplicate row."""

    def __init__(
        self,
        config: SwitchyardConfig,
        interval: float,
        hooks: MonitorHooks | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.config = config
        self.fence = fence
        self.interval = interval
        self.hooks = hooks or MonitorHooks()
        self.brokers: list[Broker] = [broker_for(c) for c in config.brokers]
        self.memories = {b.name: BrokerMemory() for b in self.brokers}
        self.rounds = 0
        # The Celery watching build_monitor plugs in (messaging.celery.service.CeleryWatches), for
        # whoever inspects this monitor's event capture (its counters: tests, diagnostics); None
        # when the monitor runs without it.
        self.celery: Any = None
        self.last_round_at: float | None = None
        self._down_since: dict[str, float] = {}
        self._down_logged_at: dict[str, float] = {}
        self._io = ThreadPoolExecutor(max_workers=max(2, len(self.brokers)), thread_name_prefix="sample")
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")
        self._stop: asyncio.Event | None = None

    def _lost(self, exc: LeadershipLost) -> None:
        log.warning("monitor: stopping: %s", exc)
        if self._stop is not None:
            self._stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set (or, when elected, until the lease is lost)."""
        self._stop = stop
        log.info("monitor: watching %d broker(s) every %.1fs", len(self.brokers), self.interval)
        tasks = [asyncio.create_task(self._broker_loop(b, stop), name=f"sample:{b.name}") for b in self.brokers]
        tasks.append(asyncio.create_task(self._retention_loop(stop), name="retention"))
        tasks += [asyncio.create_task(job(stop)) for job in self.hooks.background]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for broker in self.brokers:
                broker.close()
            self._io.shutdown(wait=False, cancel_futures=True)
            # A write already under way finishes before run() returns: whoever stops the monitor
            # (a test flushing its database, a successor taking over) must not meet it later.
            await asyncio.to_thread(shut_down_database_thread, self._db)

    async def _broker_loop(self, broker: Broker, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.sample_once(broker)
            except asyncio.CancelledError:
                raise
            except LeadershipLost as exc:
                self._lost(exc)
                return
            except Exception:
                log.exception("monitor: round for broker %s failed; retrying next interval", broker.name)
            delay = max(self.interval - (time.monotonic() - started), 0.05)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def sample_once(self, broker: Broker) -> list[dict[str, Any]]:
        """One round for one broker: sample, store, publish what changed. Returns every queue's
        current ``queue.sample`` event (and the broker's), as ``after_sample`` listeners get them."""
        loop = asyncio.get_running_loop()
        memory = self.memories[broker.name]
        first_round = not memory.loaded
        if first_round:
            await loop.run_in_executor(self._db, call_in_thread, load_memory, memory, broker.name)
        if self.fence is not None:
            self.fence.check_local()
        known = sorted(set(broker.config.queues) | set(memory.known_queue_names()))
        watched = await loop.run_in_executor(self._db, call_in_thread, watched_queue_names, broker.name)
        started, taken_at = time.monotonic(), time.time()
        timeout = max(self.interval * SAMPLE_TIMEOUT_INTERVALS, MIN_SAMPLE_TIMEOUT_S)
        try:
            sample = await asyncio.wait_for(loop.run_in_executor(self._io, broker.sample, known, watched), timeout)
        except (TimeoutError, BrokerError, OSError) as exc:
            reason = str(exc) or f"no answer within {timeout:.0f}s"
            self._log_down(broker.name, reason)
            published = await self._write(
                memory,
                loop.run_in_executor(
                    self._db, run_fenced, self.fence, record_down, broker.config, memory, reason, broker.default_vhost
                ),
            )
            events = published
        else:
            if self._down_since.pop(broker.name, None) is not None:
                log.warning("monitor: broker %s is back up", broker.name)
            duration = round(time.monotonic() - started, 4)
            published, events = await self._store_sample(broker, memory, sample, duration, taken_at)
            if first_round:
                await loop.run_in_executor(self._db, settle_long_lived)
        self.rounds += 1
        self.last_round_at = time.time()
        if self.fence is not None:
            await self.fence.extend()
        await publish_async("queues", published)
        for listener in self.hooks.after_sample:
            try:
                await listener(broker.name, events)
            except Exception:
                log.exception("monitor: after-sample hook %r failed", listener)
        return events

    async def _store_sample(
        self, broker: Broker, memory: BrokerMemory, sample: BrokerSample, duration: float, taken_at: float
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Store a successful sample (with Celery's consumed and consumer counts when known);
        returns (events to publish, every queue's events). A round that cannot be stored is
        recorded as failed (:meth:`_record_failed_round`) and raised."""
        consumed, consumers = (None, None)
        if self.hooks.activity is not None:
            consumed, consumers = self.hooks.activity(broker.name)
        arguments = (broker.config, memory, sample, duration, consumed, consumers, taken_at)
        job = asyncio.get_running_loop().run_in_executor(self._db, run_fenced, self.fence, record_sample, *arguments)
        try:
            outcome = await self._write(memory, job)
        except LeadershipLost:
            raise
        except Exception as exc:
            await self._record_failed_round(broker, memory, exc)
            raise
        return outcome.published, outcome.all_events

    async def _record_failed_round(self, broker: Broker, memory: BrokerMemory, exc: Exception) -> None:
        """The broker answered but its sample could not be stored: say so (broker down with the
        reason, figures unknown, health 503) rather than go on showing the last figures as if
        they were current. Best effort: the database may be what failed."""
        reason = f"sampling round failed: {type(exc).__name__}: {exc}"[:2000]
        loop = asyncio.get_running_loop()
        try:
            published = await loop.run_in_executor(
                self._db,
                run_fenced,
                self.fence,
                record_down,
                broker.config,
                memory,
                reason,
                broker.default_vhost,
                True,
            )
        except LeadershipLost:
            raise
        except Exception as again:
            memory.forget_writes()
            log.warning("monitor: could not record the failed round of %s either: %s", broker.name, again)
            return
        await publish_async("queues", published)

    @staticmethod
    async def _write(memory: BrokerMemory, job: Awaitable[Any]) -> Any:
        """Await a round's database write; if the database refused it (locked past the busy
        timeout, connection dropped), the transaction rolled back: resynchronise the memory with
        the database next round and let the loop retry (the error is logged there)."""
        try:
            return await job
        except DatabaseError:
            memory.forget_writes()
            raise

    def _log_down(self, broker: str, reason: str) -> None:
        """Log a broker going down once, then at most every DOWN_LOG_EVERY_S while it stays down."""
        now = time.monotonic()
        last = self._down_logged_at.get(broker)
        if broker not in self._down_since or last is None or now - last >= DOWN_LOG_EVERY_S:
            still = " still" if broker in self._down_since else ""
            log.warning("monitor: broker %s is%s down: %s", broker, still, reason)
            self._down_logged_at[broker] = now
        self._down_since.setdefault(broker, now)

    async def _retention_loop(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                counts = await loop.run_in_executor(self._db, run_fenced, self.fence, enforce_retention)
                if counts["folded"] or counts["expired"]:
                    log.info("monitor: history retention %s", counts)
            except asyncio.CancelledError:
                raise
            except LeadershipLost as exc:
                self._lost(exc)
                return
            except Exception:
                log.exception("monitor: history retention failed; retrying later")
            try:
                await asyncio.wait_for(stop.wait(), timeout=RETENTION_EVERY_S)
            except TimeoutError:
                pass

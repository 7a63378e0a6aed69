"""The batch writer: folds events from a bounded queue into bounded memory, then writes them.

receiver thread --offer_many()--> bounded queue (``inbox``) --> writer thread --> bulk upserts + stream events

The queue waits, then drops and counts, when the writer falls behind (``messaging.celery.inbox``).
Memory holds at most ``SWITCHYARD_TASK_MEMORY`` task states (least recently used forgotten;
finished tasks are forgotten once written) and one state per worker. A task forgotten and seen
again is merged with its stored row, so nothing written is lost by forgetting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction

from messaging.celery.inbox import EventInbox
from messaging.celery.ingest import (
    READY_STATES,
    TASK_EVENT_STATES,
    WORKER_EVENTS,
    MalformedEvent,
    TaskState,
    WorkerState,
    fold_task,
    fold_worker,
    is_late,
    local_utcoffset,
    merge_stored,
    normalize,
)
from messaging.celery.lru import LRU
from messaging.celery.records import (
    EVENT_OF_STATE,
    WORKER_EVENT_FIELDS,
    as_datetime,
    as_epoch,
    state_from_record,
    task_summary,
    upsert_tasks,
    worker_summary,
)
from messaging.db import close_thread_connections
from messaging.duplicates import duplicate_deliveries
from messaging.models import EventStream, TaskRecord, Worker
from messaging.stream import make_event, publish

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.25
BATCH_MAX = 5000
# More task updates than this in one flush are not streamed one by one: pages get one
# ``tasks.burst`` event and reload what they show (a 10,000-event burst must not flood browsers).
STREAM_TASKS_PER_FLUSH = 200
COUNTERS_EVERY_S = 1.0


# The stream names a task update after the event behind its current state.
class EventCounters:
    """What an operator needs to trust the task list: how many events came, and how many were
    dropped, malformed, unknown, late or (heartbeats) missing. Each counter has one writing thread."""

    def __init__(self) -> None:
        self.received = 0
        self.malformed = 0  # receiver: undecodable; writer: not an event
        self.malformed_decode = 0
        self.unknown = 0
        self.dropped = 0
        self.late = 0
        self.heartbeats_missed = 0
        self.disconnects = 0
        self.connected = False
        self.connected_since: float | None = None
        self.last_event_at: float | None = None
        self.last_error = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "malformed": self.malformed + self.malformed_decode,
            "unknown": self.unknown,
            "dropped": self.dropped,
            "late": self.late,
            "heartbeats_missed": self.heartbeats_missed,
            "disconnects": self.disconnects,
            "connected": self.connected,
        }


class Activity:
    """Consumed-message counts and consumer counts per queue for the monitor (Redis has neither)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._consumed: Counter[str] = Counter()
        self._consumers: dict[str, int] | None = None
        self.task_events_seen = False

    def count_consumed(self, queue: str) -> None:
        with self._lock:
            self._consumed[queue] += 1

    def set_consumers(self, counts: dict[str, int]) -> None:
        with self._lock:
            self._consumers = dict(counts)

    def take(self) -> tuple[dict[str, int] | None, dict[str, int] | None]:
        """(consumed since the last call, consumers) per queue; None where unknown."""
        with self._lock:
            consumed = dict(self._consumed) if self.task_events_seen else None
            self._consumed.clear()
            return consumed, self._consumers


class EventWriter:
    def __init__(
        self,
        broker: str,
        counters: EventCounters,
        activity: Activity,
        on_new_worker: Callable[[str], None] | None = None,
        queue_size: int | None = None,
        memory: int | None = None,
    ) -> None:
        self.broker = broker
        self.counters = counters
        self.activity = activity
        self.on_new_worker = on_new_worker
        self.inbox = EventInbox(queue_size or settings.SWITCHYARD_EVENT_QUEUE_SIZE, counters)
        self.tasks: LRU[str, TaskState] = LRU(memory or settings.SWITCHYARD_TASK_MEMORY)
        self.workers: LRU[str, WorkerState] = LRU(10_000)
        self.worker_queues: dict[str, list[str]] = {}
        self.written = 0
        self._counters_saved_at = 0.0
        self._loaded_workers = False
        # Tasks received or started in this batch: their duplicate deliveries are counted once the
        # stored timeline is merged in (write()).
        self._delivered: set[str] = set()

    def offer(self, event: dict[str, Any]) -> bool:
        """Hand one raw event to the writer. False (and counted) when dropped."""
        return self.inbox.offer((event,)) == 1

    def offer_many(self, events: Sequence[dict[str, Any]]) -> int:
        """Hand raw events to the writer, in order; returns how many were taken (the rest were
        dropped and counted: :meth:`EventInbox.offer`)."""
        return self.inbox.offer(events)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once(FLUSH_EVERY_S)
            except Exception:
                log.exception("celery events (%s): writing a batch failed; continuing", self.broker)
                stop.wait(1.0)
        close_thread_connections()

    def run_once(self, wait_s: float) -> int:
        """Take what is queued (waiting up to ``wait_s`` for the first event), fold, write, publish."""
        batch = self.inbox.take(BATCH_MAX, wait_s)
        close_old_connections()
        if not self._loaded_workers:
            self._load_workers()
        dirty_tasks, dirty_workers, worker_events = self.fold(batch)
        expired = self._expire_workers(time.time())
        for state in expired:
            dirty_workers[state.hostname] = state
            key = f"worker:{state.hostname}"
            worker_events.append(make_event("workers", "worker.offline", worker_summary(state), key))
        if dirty_tasks or dirty_workers:
            self.write(dirty_tasks, dirty_workers)
        if time.monotonic() - self._counters_saved_at >= COUNTERS_EVERY_S:
            self.save_counters()
        if worker_events:
            publish("workers", worker_events)
        if dirty_tasks:
            publish("tasks", self._task_events(dirty_tasks))
        return len(batch)

    def fold(self, batch: list[dict[str, Any]]):
        dirty_tasks: dict[str, TaskState] = {}
        dirty_workers: dict[str, WorkerState] = {}
        worker_events: list[dict[str, Any]] = []
        counters = self.counters
        here = local_utcoffset()
        for raw in batch:
            try:
                event = normalize(raw, here=here)
            except MalformedEvent:
                counters.malformed += 1
                continue
            kind = event["type"]
            if is_late(event):
                counters.late += 1
            if kind in TASK_EVENT_STATES:
                task_id = event["uuid"]
                state = dirty_tasks.get(task_id) or self.tasks.get(task_id)
                state = fold_task(state, event, self.broker)
                self.tasks.put(task_id, state)
                dirty_tasks[task_id] = state
                self.activity.task_events_seen = True
                if kind == "task-received":
                    self._delivered.add(task_id)
                    queue = state.queue or self._only_queue(state.worker)
                    if queue:
                        self.activity.count_consumed(queue)
                elif kind == "task-started":
                    self._delivered.add(task_id)
            elif kind in WORKER_EVENTS:
                hostname = event["hostname"]
                before = self.workers.get(hostname)
                missed_before = before.heartbeats_missed if before else 0
                state, changed = fold_worker(before, event, self.broker)
                counters.heartbeats_missed += state.heartbeats_missed - missed_before
                self.workers.put(hostname, state)
                dirty_workers[hostname] = state
                event_type = f"worker.{changed}" if changed else "worker.heartbeat"
                worker_events.append(make_event("workers", event_type, worker_summary(state), f"worker:{hostname}"))
                if changed == "online" and self.on_new_worker:
                    self.on_new_worker(hostname)
            else:
                counters.unknown += 1
                continue
            counters.last_event_at = event["local_received"]
        return dirty_tasks, dirty_workers, worker_events

    def _only_queue(self, hostname: str) -> str:
        queues = self.worker_queues.get(hostname) or []
        return queues[0] if len(queues) == 1 else ""

    def _expire_workers(self, now: float) -> list[WorkerState]:
        expired = []
        for state in self.workers.values():
            if state.expired(now):
                state.status, state.status_since = "offline", now
                expired.append(state)
        return expired

    def _load_workers(self) -> None:
        """Start from the stored workers so one seen online before a restart can be expired."""
        now = time.time()
        for row in Worker.objects.filter(broker=self.broker, status=Worker.ONLINE):
            self.workers.put(
                row.hostname,
                WorkerState(
                    hostname=row.hostname,
                    broker=self.broker,
                    status="online",
                    status_since=as_epoch(row.status_since) or now,
                    last_heartbeat=as_epoch(row.last_heartbeat),
                    last_seen_local=now,
                    freq=row.heartbeat_freq_s or 2.0,
                ),
            )
            self.worker_queues[row.hostname] = [q for q in row.queues if isinstance(q, str)]
        self._loaded_workers = True

    def write(self, dirty_tasks: dict[str, TaskState], dirty_workers: dict[str, WorkerState]) -> None:
        incomplete = [s for s in dirty_tasks.values() if not s.complete]
        for start in range(0, len(incomplete), 500):
            chunk = {s.task_id: s for s in incomplete[start : start + 500]}
            for row in TaskRecord.objects.filter(task_id__in=list(chunk)):
                merge_stored(chunk[row.task_id], state_from_record(row))
            for state in chunk.values():
                state.complete = True
        for task_id in self._delivered:
            state = dirty_tasks.get(task_id)
            if state is not None:
                state.duplicate_deliveries = duplicate_deliveries(state.events)
        self._delivered.clear()
        records = list(dirty_tasks.values())
        workers = [
            Worker(
                broker=self.broker,
                hostname=s.hostname,
                status=s.status,
                status_since=as_datetime(s.status_since),
                last_heartbeat=as_datetime(s.last_heartbeat),
                heartbeat_freq_s=s.freq,
                pid=s.pid,
                sw_ident=s.sw_ident,
                sw_ver=s.sw_ver,
                sw_sys=s.sw_sys,
                loadavg=s.loadavg,
                active=s.active,
                processed=s.processed,
            )
            for s in dirty_workers.values()
        ]
        with transaction.atomic():
            if records:
                upsert_tasks(records)
            if workers:
                Worker.objects.bulk_create(
                    workers,
                    update_conflicts=True,
                    unique_fields=["broker", "hostname"],
                    update_fields=WORKER_EVENT_FIELDS,
                )
        self.written += len(records)
        # Finished tasks leave memory once written; a late event for one is merged with its row.
        for state in dirty_tasks.values():
            if state.state in READY_STATES:
                self.tasks.forget(state.task_id)

    def _task_events(self, dirty_tasks: dict[str, TaskState]) -> list[dict[str, Any]]:
        states = sorted(dirty_tasks.values(), key=lambda s: s.updated_at)
        events = []
        if len(states) > STREAM_TASKS_PER_FLUSH:
            burst = {"count": len(states), "broker": self.broker}
            events.append(make_event("tasks", "tasks.burst", burst, "tasks:burst"))
            states = states[-STREAM_TASKS_PER_FLUSH:]
        for state in states:
            kind = EVENT_OF_STATE.get(state.state, "updated")
            events.append(make_event("tasks", f"task.{kind}", task_summary(state), f"task:{state.task_id}"))
        return events

    def save_counters(self) -> None:
        c = self.counters
        EventStream.objects.update_or_create(
            broker=self.broker,
            defaults={
                "connected": c.connected,
                "connected_since": as_datetime(c.connected_since),
                "last_event_at": as_datetime(c.last_event_at),
                "last_error": c.last_error[:500],
                "received": c.received,
                "malformed": c.malformed + c.malformed_decode,
                "unknown": c.unknown,
                "dropped": c.dropped,
                "late": c.late,
                "heartbeats_missed": c.heartbeats_missed,
                "disconnects": c.disconnects,
            },
        )
        self._counters_saved_at = time.monotonic()

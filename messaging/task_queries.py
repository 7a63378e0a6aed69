"""Reading task and worker records for pages and the API (no broker I/O here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone

from messaging.models import EventStream, Queue, TaskRecord, Worker

# Counting a million filtered rows is slow: counts stop here and say so.
COUNT_CAP = 10_000
WAIT_WINDOW_S = 900.0
WAIT_SAMPLE_MAX = 5000
# Sortable columns of the task list: the allow-list of what ``?sort=`` may name ("-" for descending).
# Every order ends with the row id so that paging is stable among equal values.
TASK_ORDERS = {
    "created": "created_at",
    "received": "received_at",
    "started": "started_at",
    "finished": "finished_at",
    "runtime": "runtime_s",
    "name": "name",
    "state": "state",
    "worker": "worker",
}
DEFAULT_TASK_ORDER = "-created"


@dataclass(frozen=True)
class TaskFilters:
    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None  # any part of the hostname, case-insensitive
    worker_hostname: str | None = None  # exactly this hostname (a worker's own page)
    broker: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    search_content: bool = False  # may the search look into args/kwargs (operators only)


def task_order(sort: str | None) -> str:
    """The allow-listed sort key for ``sort`` ("name", "-runtime", ...); anything else is the default."""
    if sort and sort.lstrip("-") in TASK_ORDERS and sort.count("-") <= 1 and not sort.endswith("-"):
        return sort
    return DEFAULT_TASK_ORDER


def tasks(filters: TaskFilters, sort: str | None = None) -> QuerySet[TaskRecord]:
    """Tasks matching ``filters``, newest first (by the time of the task's first event) unless
    ``sort`` names an allow-listed column (``TASK_ORDERS``, "-" for descending); unknown times sort last.

    Name and worker match any part of the value, case-insensitively (``demo.send`` finds
    ``demo.send_email``; an exact name matches too). That is a substring scan (``ILIKE '%x%'``),
    which no B-tree index serves: the page reads the newest rows through the ``created_at`` index
    and stops at a page, and counts stop at COUNT_CAP, so the worst case is one pass over the kept
    rows for a term that matches almost nothing."""
    rows = TaskRecord.objects.all()
    if filters.state:
        rows = rows.filter(state=filters.state.upper())
    if filters.name:
        rows = rows.filter(name__icontains=filters.name)
    if filters.queue:
        rows = rows.filter(queue=filters.queue)
    if filters.worker:
        rows = rows.filter(worker__icontains=filters.worker)
    if filters.worker_hostname:
        rows = rows.filter(worker=filters.worker_hostname)
    if filters.broker:
        rows = rows.filter(broker=filters.broker)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.search:
        term = filters.search.strip()
        match = Q(task_id=term) | Q(root_id=term) | Q(parent_id=term)
        if filters.search_content and not _is_uuid(term):
            match |= Q(args__contains=term) | Q(kwargs__contains=term)
        rows = rows.filter(match)
    key = task_order(sort)
    column = TASK_ORDERS[key.lstrip("-")]
    if key.startswith("-"):
        return rows.order_by(F(column).desc(nulls_last=True), "-id")
    return rows.order_by(F(column).asc(nulls_last=True), "id")


def _is_uuid(term: str) -> bool:
    try:
        uuid.UUID(term)
    except ValueError:
        return False
    return True


def capped_count(rows: QuerySet) -> tuple[int, bool]:
    """(count, exact?): at most COUNT_CAP rows are counted."""
    counted = rows.order_by()[: COUNT_CAP + 1].count()
    return (COUNT_CAP, False) if counted > COUNT_CAP else (counted, True)


def task_by_id(task_id: str) -> TaskRecord | None:
    return TaskRecord.objects.filter(task_id=task_id).first()


def workers(broker: str | None = None, status: str | None = None) -> QuerySet[Worker]:
    rows = Worker.objects.all()
    if broker:
        rows = rows.filter(broker=broker)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("status", "hostname")


def workers_named(hostname: str, broker: str | None = None) -> list[Worker]:
    rows = Worker.objects.filter(hostname=hostname)
    if broker:
        rows = rows.filter(broker=broker)
    return list(rows[:2])


def with_task_counters(workers: list[Worker]) -> list[Worker]:
    """Sets ``failed`` and ``retried`` on each worker: of the task rows the console keeps, how many
    this worker ran that ended in FAILURE, and how many were retried (retries > 0, or in RETRY now).
    ``processed`` stays the worker's own count since it started (from its heartbeats).
    One grouped query over the listed workers' rows (the ``worker`` index)."""
    hostnames = {w.hostname for w in workers}
    counts: dict[tuple[str, str], dict] = {}
    if hostnames:
        grouped = (
            TaskRecord.objects.filter(worker__in=hostnames)
            .filter(Q(state=TaskRecord.FAILURE) | Q(state=TaskRecord.RETRY) | Q(retries__gt=0))
            .values("broker", "worker")
            .annotate(
                failed=Count("id", filter=Q(state=TaskRecord.FAILURE)),
                retried=Count("id", filter=Q(state=TaskRecord.RETRY) | Q(retries__gt=0)),
            )
            .order_by()
        )
        counts = {(row["broker"], row["worker"]): row for row in grouped}
    for worker in workers:
        row = counts.get((worker.broker, worker.hostname), {})
        worker.failed = row.get("failed", 0)
        worker.retried = row.get("retried", 0)
    return workers


def event_streams() -> list[EventStream]:
    return list(EventStream.objects.all())


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(fraction * len(sorted_values) + 0.999999) - 1))
    return sorted_values[index]


def queue_wait(queue: Queue, window_s: float = WAIT_WINDOW_S) -> dict[str, float | int | None]:
    """p50/p95 of the time tasks of this queue waited before starting, over the last window
    (the newest WAIT_SAMPLE_MAX starts). Null when no task of the queue started in the window."""
    since = timezone.now() - timedelta(seconds=window_s)
    waits = list(
        TaskRecord.objects.filter(broker=queue.broker, queue=queue.name, started_at__gte=since, wait_s__isnull=False)
        .order_by("-started_at")
        .values_list("wait_s", flat=True)[:WAIT_SAMPLE_MAX]
    )
    waits.sort()
    return {
        "wait_p50_s": percentile(waits, 0.50),
        "wait_p95_s": percentile(waits, 0.95),
        "wait_samples": len(waits),
        "wait_window_s": window_s,
    }


MAX_DUPLICATE_NAMES = 200


def duplicates_by_name(since: datetime | None = None, broker: str | None = None) -> list[dict[str, Any]]:
    """Duplicate deliveries (``messaging.duplicates``) per task name among the task records kept
    (those updated at or after ``since`` when given), most first:
    ``[{name, broker, tasks, deliveries, last_at}]``."""
    rows = TaskRecord.objects.filter(duplicate_deliveries__gt=0)
    if since is not None:
        rows = rows.filter(updated_at__gte=since)
    if broker:
        rows = rows.filter(broker=broker)
    grouped = (
        rows.values("name", "broker")
        .annotate(tasks=Count("id"), deliveries=Sum("duplicate_deliveries"), last_at=Max("updated_at"))
        .order_by("-deliveries", "name")[:MAX_DUPLICATE_NAMES]
    )
    return [{**row, "last_at": row["last_at"].isoformat() if row["last_at"] else None} for row in grouped]

"""Task and worker records: folding in-memory states into database rows and back, the
summaries streamed to browsers, and task retention. No threads here (see ``store``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone

from messaging.celery.ingest import TASK_EVENT_STATES, TaskState, WorkerState
from messaging.models import JourneyMark, TaskRecord

EVENT_OF_STATE = {state: event[5:] for event, state in TASK_EVENT_STATES.items()}

TASK_FIELDS = [
    "broker", "name", "state", "queue", "worker", "args", "kwargs", "result", "exception", "traceback",
    "retries", "eta", "expires", "root_id", "parent_id", "sent_at", "received_at", "started_at",
    "finished_at", "runtime_s", "wait_s", "created_at", "updated_at", "events", "duplicate_deliveries",
]  # fmt: skip
WORKER_EVENT_FIELDS = [
    "status", "status_since", "last_heartbeat", "heartbeat_freq_s", "pid", "sw_ident", "sw_ver", "sw_sys",
    "loadavg", "active", "processed",
]  # fmt: skip


def as_datetime(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def as_epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


# Fields a task state and its row share as they are, and the moments (epoch seconds in memory,
# datetimes in the database).
COPIED_FIELDS = (
    "broker", "name", "state", "queue", "worker", "args", "kwargs", "result", "exception", "traceback",
    "retries", "eta", "expires", "root_id", "parent_id", "runtime_s", "duplicate_deliveries",
)  # fmt: skip
MOMENT_FIELDS = ("sent_at", "received_at", "started_at", "finished_at")


def record_from_state(state: TaskState) -> TaskRecord:
    return TaskRecord(
        task_id=state.task_id,
        **{name: getattr(state, name) for name in COPIED_FIELDS},
        **{name: as_datetime(getattr(state, name)) for name in MOMENT_FIELDS},
        wait_s=state.wait_s,
        created_at=as_datetime(state.created_at),
        updated_at=as_datetime(state.updated_at),
        events=state.events,
    )


def _moment_adapter(connection: Any) -> Callable[[float | None], Any]:
    """Epoch seconds -> the value the backend's ``adapt_datetimefield_value`` gives for that moment.

    SQLite in UTC (the default: no database ``TIME_ZONE``) stores the naive UTC datetime's ``str``;
    that is computed directly (the aware one's ``str`` less its ``+00:00``), skipping Django's
    aware/naive checks (a fifth of the writer's time in bench/ingest.py, six moments per row).
    Every other backend or time zone goes through the backend's own adapter."""
    if connection.vendor == "sqlite" and connection.timezone is UTC:

        def moment(epoch: float | None) -> Any:
            return None if epoch is None else str(datetime.fromtimestamp(epoch, UTC))[:-6]

        return moment
    adapt = connection.ops.adapt_datetimefield_value

    def adapted(epoch: float | None) -> Any:
        return None if epoch is None else adapt(datetime.fromtimestamp(epoch, UTC))

    return adapted


def _timeline_adapter(connection: Any) -> Callable[[list[dict[str, Any]]], Any]:
    """A task's timeline -> the JSON value the backend stores. SQLite stores JSON text: orjson
    writes it (compact, the same values; the stdlib encoder took a sixth of the writer's time).
    A timeline orjson cannot write (an integer beyond 64 bits) and other backends take the
    backend's JSON adapter with the field's encoder."""
    adapt, encoder = connection.ops.adapt_json_value, TaskRecord._meta.get_field("events").encoder
    if connection.vendor != "sqlite" or encoder is not None:
        return lambda events: adapt(events, encoder)

    def timeline(events: list[dict[str, Any]]) -> str:
        try:
            return orjson.dumps(events).decode()
        except orjson.JSONEncodeError:
            return adapt(events, encoder)

    return timeline


def upsert_tasks(states: list[TaskState]) -> None:
    """Store task states: one ``INSERT ... ON CONFLICT (task_id) DO UPDATE`` per 500 rows, the
    statement ``bulk_create(update_conflicts=True, update_fields=TASK_FIELDS)`` sends, but without
    model instances and Django's per-value preparation chain, which took about 40% of the
    writer's time in bench/ingest.py. Values are prepared as the fields prepare them: datetimes as
    the backend adapts them (:func:`_moment_adapter`), the JSON timeline as the backend's JSON
    adapter would (:func:`_timeline_adapter`); the rest are plain str/int/float."""
    ops = connection.ops
    quote = ops.quote_name
    names = ["task_id", *TASK_FIELDS]
    fields = [TaskRecord._meta.get_field(n) for n in names]
    columns = ", ".join(quote(f.column) for f in fields)
    updates = ", ".join(f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields[1:])
    sql = (
        f"INSERT INTO {quote(TaskRecord._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608 (names from the model)
        f"ON CONFLICT ({quote('task_id')}) DO UPDATE SET {updates}"
    )
    when, timeline = _moment_adapter(connection), _timeline_adapter(connection)
    rows = [
        (
            s.task_id, s.broker, s.name, s.state, s.queue, s.worker, s.args, s.kwargs, s.result, s.exception,
            s.traceback, s.retries, s.eta, s.expires, s.root_id, s.parent_id, when(s.sent_at), when(s.received_at),
            when(s.started_at), when(s.finished_at), s.runtime_s, s.wait_s, when(s.created_at), when(s.updated_at),
            timeline(s.events), s.duplicate_deliveries,
        )
        for s in states
    ]  # fmt: skip
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            cursor.executemany(sql, rows[start : start + 500])


def state_from_record(row: TaskRecord) -> TaskState:
    events = [e for e in row.events if isinstance(e, dict)] if isinstance(row.events, list) else []
    return TaskState(
        task_id=row.task_id,
        created_at=row.created_at.timestamp(),
        state_at=max((e.get("at", 0) for e in events), default=0.0),
        **{name: getattr(row, name) for name in COPIED_FIELDS},
        **{name: as_epoch(getattr(row, name)) for name in MOMENT_FIELDS},
        updated_at=row.updated_at.timestamp(),
        events=events,
        complete=True,
    )


def task_summary(state: TaskState) -> dict[str, Any]:
    """What a ``task.*`` stream event carries (args/kwargs/result are stripped for viewers)."""
    return {
        "id": state.task_id,
        "broker": state.broker,
        "name": state.name,
        "state": state.state,
        "queue": state.queue,
        "worker": state.worker,
        "args": state.args[:1000],
        "kwargs": state.kwargs[:1000],
        "result": state.result[:1000],
        "exception": state.exception[:1000],
        "retries": state.retries,
        "sent_at": state.sent_at,
        "received_at": state.received_at,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "runtime_s": state.runtime_s,
        "wait_s": state.wait_s,
        "created_at": state.created_at,
    }


def worker_summary(state: WorkerState) -> dict[str, Any]:
    return {
        "hostname": state.hostname,
        "broker": state.broker,
        "status": state.status,
        "last_heartbeat": state.last_heartbeat,
        "freq": state.freq,
        "active": state.active,
        "processed": state.processed,
        "loadavg": state.loadavg,
    }


def enforce_task_retention(now: datetime | None = None, chunk: int = 5000) -> int:
    """Delete task records older than SWITCHYARD_TASK_RETENTION_HOURS, then the oldest beyond
    SWITCHYARD_TASK_RETENTION_COUNT, in chunks (short write locks). Returns rows deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.SWITCHYARD_TASK_RETENTION_HOURS)
    deleted = 0
    while True:
        ids = list(TaskRecord.objects.filter(updated_at__lt=cutoff).values_list("id", flat=True)[:chunk])
        if not ids:
            break
        deleted += TaskRecord.objects.filter(id__in=ids).delete()[0]
    # Journey marks (messaging/journeys/marks.py) go by the same age.
    while True:
        ids = list(JourneyMark.objects.filter(at__lt=cutoff).values_list("id", flat=True)[:chunk])
        if not ids:
            break
        deleted += JourneyMark.objects.filter(id__in=ids).delete()[0]
    keep = settings.SWITCHYARD_TASK_RETENTION_COUNT
    boundary = list(TaskRecord.objects.order_by("-id").values_list("id", flat=True)[keep : keep + 1])
    if boundary:
        while True:
            ids = list(TaskRecord.objects.filter(id__lte=boundary[0]).values_list("id", flat=True)[:chunk])
            if not ids:
                break
            deleted += TaskRecord.objects.filter(id__in=ids).delete()[0]
    return deleted

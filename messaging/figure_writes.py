"""Writing a round's queue figures: only the rows whose figures changed, and of those only the
columns that changed (with the row's sample stamps), one ``executemany`` per set of changed columns;
and the round's history points, in one ``executemany``.

``last_stored`` (kept by the caller per broker, see :class:`messaging.sample_recorder.BrokerMemory`)
maps a queue's id to the figures last written for it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from django.db import connection, models

from messaging.models import Queue, QueueSample

# The head's identity is stored with the figures but is not itself a change worth an event (a
# changed head shows as a changed oldest_age_s anyway); neither are the sample stamps or the DLQ
# link as an object (its id is a change field). They are written with every changed row.
STAMP_FIELDS = ["sampled_at", "last_seen_at", "head_digest", "head_first_seen_at"]
CHANGE_FIELDS = [
    "depth",
    "unacked",
    "consumers",
    "publish_rate",
    "consume_rate",
    "oldest_age_s",
    "oldest_age_exact",
    "time_to_drain_s",
    "trend",
    "present",
    "is_dlq",
    "queue_type",
    "status",
    "partitions",
    "details",
    "dlq_id",
]
#: Every column a round writes.
FIGURE_FIELDS = CHANGE_FIELDS + STAMP_FIELDS


def stored_figures(queue: Queue) -> tuple:
    """The figures of ``queue`` compared with those last stored (:data:`CHANGE_FIELDS`)."""
    return _figures_of(queue)


# Values of these types reach the database as they are through the field's own preparation, so
# it is skipped for them: at 10,000 changed queues Django's per-value preparation cost a second.
_PASSED_AS_IS: dict[type[models.Field], tuple[type, ...]] = {
    models.FloatField: (float,),
    models.BigIntegerField: (int,),
    models.IntegerField: (int,),
    models.BooleanField: (bool,),
    models.CharField: (str,),
    models.ForeignKey: (int,),
}


def _db_value_preparer(field: models.Field) -> Callable[[Any], Any]:
    """``field.get_db_prep_save`` for one statement's values: what the field passes on unchanged
    is not sent through it, and any other value (a datetime: every queue of a round shares the
    round's time) is prepared once per distinct value."""
    kinds = _PASSED_AS_IS.get(type(field), ())
    prepared: dict[Any, Any] = {}

    def prepare(value: Any) -> Any:
        if value is None or type(value) in kinds:
            return value
        if isinstance(value, (list, dict)):  # a JSON field's value: not hashable, never shared
            return field.get_db_prep_save(value, connection)
        try:
            return prepared[value]
        except KeyError:
            result = prepared[value] = field.get_db_prep_save(value, connection)
            return result

    return prepare


def store_changed_figures(last_stored: dict[int, tuple], queues: list[Queue]) -> list[Queue]:
    """Write the figures of the queues whose figures changed since they were last stored: the
    changed columns and the stamps (:data:`STAMP_FIELDS`), one ``executemany`` per set of changed
    columns (Django's bulk_update spends seconds building CASE expressions for 1,000 rows; a round
    where only the head's age moved rewrites one figure, not twenty). A row not stored before gets
    every column. ``sampled_at`` is not a change: the API reads the broker's last sample time instead."""
    changed: list[Queue] = []
    by_columns: dict[tuple[int, ...], list[Queue]] = {}
    figures_of: dict[int, tuple] = {}
    for queue in queues:
        figures = stored_figures(queue)
        last = last_stored.get(queue.id)
        if last == figures:
            continue
        columns = _changed_columns(last, figures)
        by_columns.setdefault(columns, []).append(queue)
        figures_of[queue.id] = figures
        changed.append(queue)
    for columns, rows in by_columns.items():
        _update(columns, rows)
    for queue in changed:
        last_stored[queue.id] = figures_of[queue.id]
    return changed


_figures_of = operator.attrgetter(*CHANGE_FIELDS)
_EVERY_COLUMN = tuple(range(len(CHANGE_FIELDS)))


def _changed_columns(last: tuple | None, figures: tuple) -> tuple[int, ...]:
    if last is None or len(last) != len(figures):
        return _EVERY_COLUMN
    return tuple(i for i, (before, now) in enumerate(zip(last, figures)) if before != now) or _EVERY_COLUMN


def _update(columns: tuple[int, ...], queues: list[Queue]) -> None:
    fields = [Queue._meta.get_field(CHANGE_FIELDS[i]) for i in columns]
    fields += [Queue._meta.get_field(name) for name in STAMP_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Only quoted column names from the model go into the text; values are parameters.
    sql = f"UPDATE {quote(Queue._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    preparers = [_db_value_preparer(f) for f in fields]
    values_of = operator.attrgetter(*[f.attname for f in fields])
    rows = [[prepare(value) for prepare, value in zip(preparers, values_of(q))] + [q.id] for q in queues]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


#: A raw history point's columns, in :class:`messaging.queue_sampling.HistoryPoint`'s order.
HISTORY_FIELDS = [
    "queue",
    "at",
    "depth",
    "depth_max",
    "unacked",
    "consumers",
    "publish_rate",
    "consume_rate",
    "oldest_age_s",
]


def store_history_points(points: list[tuple]) -> None:
    """Insert raw history points (``span_s`` 0) in one ``executemany``: through ``bulk_create``
    a round that changed 10,000 queues spent ~1 s building model instances and SQL."""
    if not points:
        return
    fields = [QueueSample._meta.get_field(name) for name in HISTORY_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * (len(fields) + 1))
    # Only quoted column names from the model go into the text; values are parameters.
    sql = f"INSERT INTO {quote(QueueSample._meta.db_table)} ({columns}, {quote('span_s')}) VALUES ({marks})"  # noqa: S608
    preparers = [_db_value_preparer(f) for f in fields]
    rows = [[prepare(value) for prepare, value in zip(preparers, point)] + [0] for point in points]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)

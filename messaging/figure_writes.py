"""Writing a round's queue figures: only the rows whose figures changed, in one ``executemany``.

``last_stored`` (kept by the caller per broker, see :class:`messaging.sample_recorder.BrokerMemory`)
maps a queue's id to the figures last written for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection, models

from messaging.models import Queue

FIGURE_FIELDS = [
    "depth",
    "unacked",
    "consumers",
    "publish_rate",
    "consume_rate",
    "oldest_age_s",
    "oldest_age_exact",
    "time_to_drain_s",
    "trend",
    "sampled_at",
    "present",
    "last_seen_at",
    "is_dlq",
    "dlq",
    "queue_type",
    "head_digest",
    "head_first_seen_at",
    "status",
    "partitions",
    "details",
]
# The head's identity is stored with the figures but is not itself a change worth an event (a
# changed head shows as a changed oldest_age_s anyway).
CHANGE_FIELDS = [
    name
    for name in FIGURE_FIELDS
    if name not in ("sampled_at", "last_seen_at", "dlq", "head_digest", "head_first_seen_at")
] + ["dlq_id"]


def stored_figures(queue: Queue) -> tuple:
    return tuple(getattr(queue, name) for name in CHANGE_FIELDS)


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
    """Write the figures of the queues whose figures changed since they were last stored, in one
    ``executemany`` (Django's bulk_update spends seconds building CASE expressions for 1,000 rows).
    ``sampled_at`` is not a change: the API reads the broker's last sample time instead."""
    figures = {q.pk: stored_figures(q) for q in queues}
    changed = [q for q in queues if last_stored.get(q.pk) != figures[q.pk]]
    if not changed:
        return changed
    fields = [Queue._meta.get_field(name) for name in FIGURE_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Only quoted column names from the model go into the text; values are parameters.
    sql = f"UPDATE {quote(Queue._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    preparers = [_db_value_preparer(f) for f in fields]
    attnames = [f.attname for f in fields]
    rows = [[prepare(getattr(q, name)) for prepare, name in zip(preparers, attnames)] + [q.pk] for q in changed]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    for queue in changed:
        last_stored[queue.pk] = figures[queue.pk]
    return changed

"""Reading queues and their history for pages and the API (no broker I/O: the monitor samples)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When

from messaging.history import chart_points
from messaging.lag import DRAINING, GROWING, IDLE, STALLED, STEADY
from messaging.models import BrokerState, Queue, QueueSample

# What a queue list can be sorted by (a leading "-" sorts descending). Unknown figures (null)
# sort last either way, and ties go by broker, vhost and name, so pages never overlap.
ORDERINGS = ("name", "broker", "depth", "unacked", "oldest_age_s", "trend", "worst")
TRENDS = (GROWING, STALLED, DRAINING, STEADY, IDLE)
#: What a row is: a queue, or on Kafka a topic or one consumer group's view of one topic.
KINDS = ("queue", "topic", "consumer-group")


def queues(
    broker: str | None = None,
    name: str | None = None,
    dlq: bool | None = None,
    include_absent: bool = False,
    system: bool = False,
    trend: str | None = None,
    ordering: str | None = None,
    kind: str | None = None,
) -> QuerySet[Queue]:
    """Queues as last sampled. ``name`` matches a case-insensitive substring; ``trend`` is one of
    :data:`TRENDS`, ``kind`` one of :data:`KINDS`. Other clients' Celery plumbing (event queues,
    worker mailboxes) and Kafka's internal topics are left out unless ``system``. Sorted by
    ``ordering`` (one of :data:`ORDERINGS`, ``-`` for descending; raises ValueError for any
    other), else by broker, vhost and name. Read rows through :func:`page`, :func:`each` or
    :func:`queue_by_id`: they load what a row shows (its DLQ, the queue a DLQ collects from, its
    broker's ``broker_status``, ``broker_error`` and ``broker_sampled_at``) for those rows only."""
    rows = Queue.objects.all()
    if not include_absent:
        rows = rows.filter(present=True)
    if not system:
        rows = rows.filter(is_system=False)
    if broker:
        rows = rows.filter(broker=broker)
    if name:
        rows = rows.filter(name__icontains=name)
    if dlq is not None:
        rows = rows.filter(is_dlq=dlq)
    if trend:
        rows = rows.filter(trend=trend)
    if kind:
        rows = rows.filter(kind=kind)
    if ordering:
        rows = rows.order_by(*order_by(ordering))
    return rows


# "worst" (no "-worst"): what the on-call engineer looks at first (docs/UI: worst first). DLQs holding or
# growing dead letters, then stalled, then growing queues, then the rest; within each, the
# oldest waiting message first, then the deepest.
_WORST_RANK = Case(
    When(Q(is_dlq=True) & (Q(depth__gt=0) | Q(trend=GROWING)), then=Value(0)),
    When(trend=STALLED, then=Value(1)),
    When(trend=GROWING, then=Value(2)),
    default=Value(3),
)
_WORST = [_WORST_RANK.asc(), F("oldest_age_s").desc(nulls_last=True), F("depth").desc(nulls_last=True)]
_TIE = ["broker", "vhost", "name", "id"]


def order_by(ordering: str) -> list[Any]:
    """The ORDER BY of one of :data:`ORDERINGS` (``-`` for descending but for worst); raises
    ValueError for any other."""
    field = ordering.removeprefix("-")
    if field not in ORDERINGS or ordering == "-worst":
        raise ValueError(f"cannot sort queues by {ordering!r}")
    if field == "worst":
        return [*_WORST, *_TIE]
    key = F(field).desc(nulls_last=True) if ordering.startswith("-") else F(field).asc(nulls_last=True)
    return [key, *(t for t in _TIE if t != field)]


def page(rows: QuerySet[Queue], offset: int, limit: int) -> list[Queue]:
    """One page of ``rows`` (from :func:`queues`) that loads only the page: the filter and sort
    run over ids alone (indexed sort keys, no joins), then the page's rows come with their DLQ
    in one query, the queues DLQs collect from in another and the broker states in a third. A page of 100 out
    of 10,000 queues costs the same as out of 100 (issue 18 item 3)."""
    ids = list(rows.values_list("pk", flat=True)[offset : offset + limit])
    return _rows_in_order(rows, ids)


def each(rows: QuerySet[Queue], chunk: int = 500) -> Iterator[list[Queue]]:
    """Every row of ``rows`` in order, ``chunk`` rows at a time (the whole list, streamed: its
    memory is one chunk whatever the fleet's size). Which rows and their order are fixed by the
    first query; a queue deleted meanwhile is left out."""
    ids = list(rows.values_list("pk", flat=True))
    for first in range(0, len(ids), chunk):
        found = _rows_in_order(rows, ids[first : first + chunk])
        if found:
            yield found


def _rows_in_order(rows: QuerySet[Queue], ids: list[int]) -> list[Queue]:
    if not ids:
        return []
    # The chosen rows are read again by id alone; what no list shows (Kafka partitions and SQS
    # details, JSON to decode; the monitor's bookkeeping) stays in the database.
    found = Queue.objects.filter(pk__in=ids).select_related("dlq").defer(*_DETAIL_ONLY)
    by_id = {queue.pk: queue for queue in found}
    ordered = [by_id[pk] for pk in ids if pk in by_id]
    return _with_broker_state(_with_sources(ordered))


_NOT_LISTED = ("partitions", "details", "head_digest", "head_first_seen_at", "first_seen_at", "last_seen_at")
_DETAIL_ONLY = (*_NOT_LISTED, *(f"dlq__{field}" for field in _NOT_LISTED))


def _with_sources(rows: list[Queue]) -> list[Queue]:
    """Each DLQ row with the queues it collects from (what ``Queue.dead_letter_source`` reads):
    one query for the DLQs among ``rows``, none when there are none (Django's prefetch machinery
    cost a fifth of a page's CPU)."""
    dlqs = {queue.pk: queue for queue in rows if queue.is_dlq}
    for queue in rows:
        queue._prefetched_sources = []
    if dlqs:
        sources = Queue.objects.filter(dlq_id__in=list(dlqs)).only("id", "broker", "vhost", "name", "dlq_id")
        for source in sources:
            dlqs[source.dlq_id]._prefetched_sources.append(source)
    return rows


def _with_broker_state(rows: list[Queue]) -> list[Queue]:
    """Each row with its broker's state (one query for every broker): ``broker_status`` and
    ``broker_error`` (None for a broker never checked), and ``broker_sampled_at``, the broker's
    last good sample while it is up (figures are stored only when they change)."""
    states = {state.name: state for state in BrokerState.objects.only("name", "status", "error", "last_sampled_at")}
    for queue in rows:
        state = states.get(queue.broker)
        queue.broker_status = state.status if state else None
        queue.broker_error = state.error if state else None
        queue.broker_sampled_at = state.last_sampled_at if state and state.status == BrokerState.UP else None
    return rows


def queue_by_id(queue_id: str) -> Queue | None:
    """The queue with this public id, with what :func:`queues` rows carry, or None (ids are
    decimal strings)."""
    if not queue_id.isdigit() or len(queue_id) > 18:
        return None
    queue = Queue.objects.filter(pk=int(queue_id)).select_related("dlq").first()
    return _with_broker_state(_with_sources([queue]))[0] if queue else None


def history(queue: Queue, since_s: float = 3600.0) -> list[QueueSample]:
    """The chart's points (:func:`messaging.history.chart_points`: stored on change, flat segments filled)."""
    return chart_points(queue, since_s)


def broker_states() -> list[BrokerState]:
    return list(BrokerState.objects.all())


def fleet_summary() -> dict[str, Any]:
    """The overview's first glance over every listed queue, in two queries whatever the fleet's
    size: how many queues, messages waiting and in flight, dead-letter queues holding messages and
    how many, and the queue whose oldest message has waited longest (None when none waits)."""
    listed = Queue.objects.filter(present=True, is_system=False)
    totals = listed.aggregate(
        queues=Count("id"),
        waiting=Sum("depth"),
        in_flight=Sum("unacked"),
        dlqs_holding=Count("id", filter=Q(is_dlq=True, depth__gt=0)),
        dead_letters=Sum("depth", filter=Q(is_dlq=True)),
    )
    oldest = (
        listed.filter(is_dlq=False, oldest_age_s__gt=0)
        .order_by(F("oldest_age_s").desc(nulls_last=True))
        .only("id", "name", "broker", "oldest_age_s")
        .first()
    )
    return {**totals, "oldest": oldest}

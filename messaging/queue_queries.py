"""Reading queues and their history for pages and the API (no broker I/O: the monitor samples)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum

from messaging.history import chart_points
from messaging.lag import DRAINING, GROWING, IDLE, STALLED, STEADY
from messaging.models import BrokerState, Queue, QueueSample

# What a queue list can be sorted by (a leading "-" sorts descending). Unknown figures (null)
# sort last either way, and ties go by broker, vhost and name, so pages never overlap.
ORDERINGS = ("name", "broker", "depth", "unacked", "oldest_age_s", "trend")
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
    other), else by broker, vhost and name. Each row carries its
    broker's ``broker_status`` and ``broker_error``."""
    rows = Queue.objects.select_related("dlq").prefetch_related(
        Prefetch(
            "dead_letter_sources", queryset=Queue.objects.only("id", "name", "dlq_id"), to_attr="_prefetched_sources"
        )
    )
    rows = rows.annotate(
        broker_sampled_at=Subquery(
            BrokerState.objects.filter(name=OuterRef("broker"), status=BrokerState.UP).values("last_sampled_at")[:1]
        ),
        broker_status=Subquery(BrokerState.objects.filter(name=OuterRef("broker")).values("status")[:1]),
        broker_error=Subquery(BrokerState.objects.filter(name=OuterRef("broker")).values("error")[:1]),
    )
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
        rows = rows.order_by(*_order_by(ordering))
    return rows


def _order_by(ordering: str) -> list[Any]:
    field = ordering.removeprefix("-")
    if field not in ORDERINGS:
        raise ValueError(f"cannot sort queues by {ordering!r}")
    tie = ["broker", "vhost", "name", "id"]
    key = F(field).desc(nulls_last=True) if ordering.startswith("-") else F(field).asc(nulls_last=True)
    return [key, *(t for t in tie if t != field)]


def queue_by_id(queue_id: str) -> Queue | None:
    """The queue with this public id, or None (ids are decimal strings)."""
    if not queue_id.isdigit() or len(queue_id) > 18:
        return None
    return queues(include_absent=True, system=True).filter(pk=int(queue_id)).first()


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

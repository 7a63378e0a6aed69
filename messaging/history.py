"""Bounded queue history: raw points for ``SWITCHYARD_HISTORY_RAW_HOURS``, then one point per
queue per minute (mean depth and unacked, peak depth, fewest consumers) for
``SWITCHYARD_HISTORY_ROLLUP_DAYS``, then nothing.

A raw point is stored only when a queue's figures changed (plus a rare keep-alive,
:data:`messaging.queue_sampling.HISTORY_KEEPALIVE_S`): between two points the figures were those of
the first. :func:`chart_points` draws those flat segments back for a window."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Max, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from messaging.models import Queue, QueueSample

CHART_FIELDS = ("at", "depth", "unacked", "consumers", "span_s", "depth_max")

ROLLUP_SPAN_S = 60


def enforce_retention(now=None) -> dict[str, int]:
    """Fold raw points past the raw window into minute points and drop what is past the rollup
    window. Returns counts for the log."""
    now = now or timezone.now()
    raw_cutoff = now - timedelta(hours=settings.SWITCHYARD_HISTORY_RAW_HOURS)
    rollup_cutoff = now - timedelta(days=settings.SWITCHYARD_HISTORY_ROLLUP_DAYS)
    # Only whole minutes are folded, so a minute is never folded twice.
    fold_before = raw_cutoff.replace(second=0, microsecond=0)
    with transaction.atomic():
        old_raw = QueueSample.objects.filter(span_s=0, at__lt=fold_before)
        minutes = (
            old_raw.annotate(minute=TruncMinute("at"))
            .values("queue_id", "minute")
            .annotate(
                mean_depth=Avg("depth"),
                peak_depth=Max("depth"),
                mean_unacked=Avg("unacked"),
                fewest_consumers=Min("consumers"),
                mean_publish_rate=Avg("publish_rate"),
                mean_consume_rate=Avg("consume_rate"),
                peak_oldest_age_s=Max("oldest_age_s"),
            )
        )
        rollups = [
            QueueSample(
                queue_id=row["queue_id"],
                at=row["minute"],
                span_s=ROLLUP_SPAN_S,
                depth=None if row["mean_depth"] is None else round(row["mean_depth"]),
                depth_max=row["peak_depth"],
                unacked=None if row["mean_unacked"] is None else round(row["mean_unacked"]),
                consumers=row["fewest_consumers"],
                publish_rate=row["mean_publish_rate"],
                consume_rate=row["mean_consume_rate"],
                oldest_age_s=row["peak_oldest_age_s"],
            )
            for row in minutes
        ]
        QueueSample.objects.bulk_create(rollups, batch_size=500)
        folded, _ = old_raw.delete()
        expired, _ = QueueSample.objects.filter(at__lt=rollup_cutoff).delete()
    return {"folded": folded, "rollups": len(rollups), "expired": expired}


def chart_points(queue: Queue, since_s: float, now: datetime | None = None) -> list[QueueSample]:
    """The history points of the last ``since_s`` seconds, oldest first, with the flat segments
    that on-change writes leave out filled in: the figures of the last point before the window are
    carried to its start, and the last point's to the queue's latest sample when its figures are
    still the queue's. Carried points are not stored (no pk). A null point (broker down, queue
    gone) is never carried: the gap stays."""
    now = now or timezone.now()
    start = now - timedelta(seconds=since_s)
    stored = QueueSample.objects.filter(queue=queue).only(*CHART_FIELDS)
    points = list(stored.filter(at__gte=start).order_by("at"))
    before = stored.filter(at__lt=start).order_by("-at").first()
    if before is not None and before.depth is not None and (not points or points[0].at > start):
        points.insert(0, _carried(queue, before, start))
    latest = _sampled_at(queue)
    last = points[-1] if points else None
    if (
        last is not None
        and latest is not None
        and last.at < latest
        and last.depth is not None
        and (last.depth, last.unacked, last.consumers) == (queue.depth, queue.unacked, queue.consumers)
    ):
        points.append(_carried(queue, last, latest))
    return points


def _sampled_at(queue: Queue) -> datetime | None:
    """When the queue's current figures were last confirmed: its broker's last sample (unchanged
    rows are not rewritten, see messaging.queue_queries.queues), else the row's own stamp."""
    if not queue.present:
        return None
    return getattr(queue, "broker_sampled_at", None) or queue.sampled_at


def _carried(queue: Queue, point: QueueSample, at: datetime) -> QueueSample:
    return QueueSample(
        queue_id=queue.pk,
        at=at,
        depth=point.depth,
        depth_max=point.depth,
        unacked=point.unacked,
        consumers=point.consumers,
    )

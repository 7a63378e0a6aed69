"""Bounded queue history: raw points for ``SWITCHYARD_HISTORY_RAW_HOURS``, then one point per
queue per minute (mean depth and unacked, peak depth, fewest consumers) for
``SWITCHYARD_HISTORY_ROLLUP_DAYS``, then nothing."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Max, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from messaging.models import QueueSample

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

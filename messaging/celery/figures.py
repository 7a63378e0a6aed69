"""Task figures for alert rules (``workers_online``, ``task_failure_rate``), read from what the
event side stored. Unknown is None: a broker where no Celery worker was ever seen has no
"workers online" figure, so "no workers online" cannot fire on a console that watches no Celery."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from messaging.alerts.task_figures import TaskFigures
from messaging.models import TaskRecord, Worker

FAILURE_RATE_WINDOW_S = 300.0


def task_figures(window_s: float = FAILURE_RATE_WINDOW_S) -> TaskFigures:
    """Workers online now, and failed / finished tasks over the last ``window_s`` seconds."""
    workers = Worker.objects.aggregate(seen=Count("id"), online=Count("id", filter=Q(status=Worker.ONLINE)))
    since = timezone.now() - timedelta(seconds=window_s)
    finished = TaskRecord.objects.filter(
        updated_at__gte=since, state__in=(TaskRecord.SUCCESS, TaskRecord.FAILURE)
    ).aggregate(total=Count("id"), failed=Count("id", filter=Q(state=TaskRecord.FAILURE)))
    # Tasks updated in the window (a redelivery updates its task): their extra deliveries.
    duplicates = TaskRecord.objects.filter(updated_at__gte=since, duplicate_deliveries__gt=0).aggregate(
        extra=Sum("duplicate_deliveries")
    )
    return TaskFigures(
        workers_online=workers["online"] if workers["seen"] else None,
        task_failure_rate=round(finished["failed"] / finished["total"], 4) if finished["total"] else None,
        # None where no Celery worker was ever seen, like workers_online.
        duplicate_deliveries=(duplicates["extra"] or 0) if workers["seen"] else None,
    )

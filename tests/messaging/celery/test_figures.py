"""Task figures for alert rules: unknown until there is something to count."""

from datetime import timedelta

from django.utils import timezone

from messaging.celery.figures import task_figures
from messaging.models import TaskRecord, Worker


def task(state: str, age_s: float = 0.0, n: int = 0) -> TaskRecord:
    at = timezone.now() - timedelta(seconds=age_s)
    return TaskRecord.objects.create(
        task_id=f"t-{state}-{age_s}-{n}", broker="b", state=state, created_at=at, updated_at=at
    )


def test_unknown_without_workers_or_finished_tasks(db):
    figures = task_figures()
    assert figures.workers_online is None and figures.task_failure_rate is None


def test_counts_online_workers_and_recent_failures(db):
    Worker.objects.create(broker="b", hostname="w1", status=Worker.ONLINE)
    Worker.objects.create(broker="b", hostname="w2", status=Worker.OFFLINE)
    for n in range(3):
        task(TaskRecord.SUCCESS, n=n)
    task(TaskRecord.FAILURE)
    task(TaskRecord.FAILURE, age_s=3600)  # outside the window
    task(TaskRecord.STARTED)  # not finished
    figures = task_figures()
    assert figures.workers_online == 1
    assert figures.task_failure_rate == 0.25
    Worker.objects.update(status=Worker.OFFLINE)
    assert task_figures().workers_online == 0

"""What Switchyard itself saw happen to a task's message outside Celery's events: the death record
it read when an action took the message from a dead-letter queue, and the action that took it."""

from __future__ import annotations

from django.db import models


class JourneyMark(models.Model):
    """One step of a task's journey that no Celery event reports. ``action`` is the action's id
    (kept as a number: the step stays when the action row is deleted). Pruned with task records."""

    DEAD_LETTERED, REQUEUED, MOVED, BROWSED = "dead_lettered", "requeued", "moved", "browsed"

    task_id = models.CharField(max_length=255)
    at = models.DateTimeField()
    kind = models.CharField(max_length=16)
    place = models.CharField(max_length=1024, blank=True, default="")
    by = models.CharField(max_length=255, blank=True, default="")
    action = models.BigIntegerField(null=True)
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["task_id", "at"], name="journey_mark_task"),
            models.Index(fields=["at"], name="journey_mark_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.task_id} at {self.at}"

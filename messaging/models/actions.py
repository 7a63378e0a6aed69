"""Operator actions on messages (requeue, move, delete, purge) as durable, resumable rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Action(models.Model):
    """One operator action. ``budget`` is the number of messages present when the operator
    confirmed ("all" means those, oldest first, never what arrived later); ``requested`` what was
    asked for (the ids given, or the budget); ``done`` the messages moved or deleted (in a dry run:
    that would be), ``failed`` those selected but gone before they could be taken, ``duplicated``
    those that may exist twice after an interruption (RabbitMQ's unconfirmed batch).

    A run claims the row (``claim_token``, ``heartbeat_at``); a run that stops beating is
    interrupted: the row becomes ``failed`` with ``interrupted`` set and can be resumed."""

    REQUEUE, MOVE, DELETE, PURGE = "requeue", "move", "delete", "purge"
    KINDS = [(k, k) for k in (REQUEUE, MOVE, DELETE, PURGE)]
    PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "pending", "running", "succeeded", "failed", "cancelled"
    STATES = [(s, s) for s in (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)]
    FINAL = (SUCCEEDED, FAILED, CANCELLED)

    kind = models.CharField(max_length=16, choices=KINDS)
    state = models.CharField(max_length=16, choices=STATES, default=PENDING, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    broker = models.CharField(max_length=64)
    queue = models.ForeignKey("messaging.Queue", null=True, on_delete=models.SET_NULL, related_name="actions")
    queue_name = models.CharField(max_length=1024)
    vhost = models.CharField(max_length=255, blank=True, default="")
    target = models.CharField(max_length=1024, blank=True, default="")
    selection = models.JSONField(default=dict)
    budget = models.BigIntegerField(default=0)
    requested = models.BigIntegerField(default=0)
    scanned = models.BigIntegerField(default=0)
    done = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    duplicated = models.BigIntegerField(default=0)
    # Messages published to the target whose source copy was not yet acknowledged: if the run
    # dies now they may end up twice (RabbitMQ); counted into ``duplicated`` on resume.
    in_doubt = models.BigIntegerField(default=0)
    # Copies the broker re-delivered at the source after they were moved (RabbitMQ lost the acks
    # in a crash): acknowledged there without publishing them again (see MovedMessage).
    already_moved = models.BigIntegerField(default=0)
    rate = models.FloatField(null=True)
    dry_run = models.BooleanField(default=False)
    create_target = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    interrupted = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    claim_token = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True)
    # When its Celery task was last sent (Celery workers only); null while a send is owed.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    runs = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.broker}:{self.queue_name} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL

    @property
    def progress_key(self) -> str:
        """The action's progress record on the broker (Redis keeps exact counters there)."""
        return f"switchyard.action.{self.pk}.progress"


class MovedMessage(models.Model):
    """One message an action moved (or deleted) on RabbitMQ, by identity, recorded once the
    target confirmed it and before its source copy is acknowledged. A later run of the action
    recognises a copy the broker re-delivers (a crash lost the acknowledgement) and acknowledges it
    without publishing it twice. One row per message (copies with the same identity are rows of
    their own); the rows go when the action ends for good or is deleted."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")
    run = models.IntegerField()
    identity = models.CharField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["action", "identity"], name="moved_action_identity")]

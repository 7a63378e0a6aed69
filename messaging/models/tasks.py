"""Celery workers, task records and the health of each broker's event stream.

Task rows are written in batches by the event writer (``messaging.celery.ingest``) and pruned by
count and age; worker rows are few (one per hostname per broker).
"""

from __future__ import annotations

from django.db import models


class Worker(models.Model):
    """A Celery worker as its events and the last inspection describe it. ``None`` is unknown."""

    ONLINE, OFFLINE = "online", "offline"
    STATUS_CHOICES = [(ONLINE, "online"), (OFFLINE, "offline")]

    broker = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255)
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=ONLINE)
    status_since = models.DateTimeField(null=True)
    last_heartbeat = models.DateTimeField(null=True)
    heartbeat_freq_s = models.FloatField(null=True)
    pid = models.IntegerField(null=True)
    sw_ident = models.CharField(max_length=64, blank=True, default="")
    sw_ver = models.CharField(max_length=64, blank=True, default="")
    sw_sys = models.CharField(max_length=64, blank=True, default="")
    loadavg = models.JSONField(null=True)
    active = models.IntegerField(null=True)
    processed = models.BigIntegerField(null=True)
    # From inspection (``inspect().stats()`` and friends); refreshed in the background.
    pool = models.CharField(max_length=128, blank=True, default="")
    concurrency = models.IntegerField(null=True)
    prefetch_count = models.IntegerField(null=True)
    queues = models.JSONField(default=list)
    registered = models.JSONField(default=list)
    active_tasks = models.JSONField(null=True)
    reserved = models.JSONField(null=True)
    scheduled = models.JSONField(null=True)
    inspected_at = models.DateTimeField(null=True)
    inspect_error = models.CharField(max_length=500, blank=True, default="")
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["broker", "hostname"]
        constraints = [models.UniqueConstraint(fields=["broker", "hostname"], name="worker_unique_hostname")]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.status})"


class TaskRecord(models.Model):
    """One Celery task as folded from its events. Content fields (args, kwargs, result) are the
    repr strings Celery puts in events, capped in length; ``*_truncated`` says when they were cut."""

    PENDING, RECEIVED, STARTED = "PENDING", "RECEIVED", "STARTED"
    SUCCESS, FAILURE, RETRY, REVOKED, REJECTED = "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED"
    STATES = (PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED, REJECTED)

    task_id = models.CharField(max_length=255, unique=True)
    broker = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16)
    queue = models.CharField(max_length=255, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    args = models.TextField(blank=True, default="")
    kwargs = models.TextField(blank=True, default="")
    result = models.TextField(blank=True, default="")
    exception = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    retries = models.IntegerField(default=0)
    eta = models.CharField(max_length=64, blank=True, default="")
    expires = models.CharField(max_length=64, blank=True, default="")
    root_id = models.CharField(max_length=255, blank=True, default="")
    parent_id = models.CharField(max_length=255, blank=True, default="")
    sent_at = models.DateTimeField(null=True)
    received_at = models.DateTimeField(null=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    runtime_s = models.FloatField(null=True)
    wait_s = models.FloatField(null=True)
    # Time of the earliest event seen: the list's "newest first" order.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The event timeline, oldest first, capped (see ingest.MAX_TIMELINE).
    events = models.JSONField(default=list)
    # Deliveries beyond the first that were not a retry or a re-run after a failure: the same id
    # received or started again (messaging.duplicates).
    duplicate_deliveries = models.IntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="task_created"),
            models.Index(fields=["state", "-created_at"], name="task_state_created"),
            models.Index(fields=["name", "-created_at"], name="task_name_created"),
            models.Index(fields=["state", "name", "-created_at"], name="task_state_name_created"),
            models.Index(fields=["queue", "-created_at"], name="task_queue_created"),
            models.Index(fields=["worker", "-created_at"], name="task_worker_created"),
            models.Index(fields=["broker", "queue", "started_at"], name="task_queue_started"),
            models.Index(fields=["updated_at"], name="task_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.name}[{self.task_id}] {self.state}"


class EventStream(models.Model):
    """Counters of one broker's Celery event stream, so an operator sees what was lost."""

    broker = models.CharField(max_length=64, unique=True)
    connected = models.BooleanField(default=False)
    connected_since = models.DateTimeField(null=True)
    last_event_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    received = models.BigIntegerField(default=0)
    malformed = models.BigIntegerField(default=0)
    unknown = models.BigIntegerField(default=0)
    dropped = models.BigIntegerField(default=0)
    late = models.BigIntegerField(default=0)
    heartbeats_missed = models.BigIntegerField(default=0)
    disconnects = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["broker"]

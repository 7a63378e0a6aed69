"""Alert rules, alerts (one row per episode of a (rule, labels) series) and webhook deliveries."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class AlertRule(models.Model):
    """A condition on one figure, watched over every series (broker, queue, ...) it matches.

    ``threshold`` is compared with ``op``; rules on ``trend`` compare the queue's trend with
    ``trend`` instead. ``only_if_backlog`` adds "while messages wait" (depth > 0) to the condition,
    e.g. ``consumers == 0`` only matters when something is waiting. ``queue_kind`` narrows queue
    rules to work queues or dead-letter queues. ``keep_firing_for_s`` (default: two sample
    intervals) keeps a firing alert firing through short dips so a flapping value does not flap it.
    """

    INFO, WARNING, CRITICAL = "info", "warning", "critical"
    SEVERITIES = (INFO, WARNING, CRITICAL)
    ANY, WORK, DLQ = "any", "work", "dlq"
    QUEUE_KINDS = (ANY, WORK, DLQ)

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    metric = models.CharField(max_length=32)
    op = models.CharField(max_length=2, default=">")
    threshold = models.FloatField(default=0)
    trend = models.CharField(max_length=16, blank=True, default="")
    only_if_backlog = models.BooleanField(default=False)
    queue_kind = models.CharField(max_length=8, default=ANY)
    for_s = models.FloatField(default=0)
    keep_firing_for_s = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=16, default=WARNING)
    broker = models.CharField(max_length=255, default="*")
    queue = models.CharField(max_length=1024, default="*")
    enabled = models.BooleanField(default=True)
    webhook_url = models.CharField(max_length=2000, blank=True, default="")
    # Set on the rules installed by default, so installing them again adds none twice.
    default_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """One episode of one series: pending -> firing -> resolved (or pending -> resolved when the
    condition cleared before ``for_s``; then ``fired_at`` stays null). A series has at most one
    open (unresolved) alert; resolved ones stay as history until retention removes them.

    ``held`` is True while the figure is unknown (broker down, no sample): the alert keeps its
    state instead of resolving or firing on a made-up number.
    """

    PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
    STATES = (PENDING, FIRING, RESOLVED)

    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    rule_name = models.CharField(max_length=200)
    metric = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    fingerprint = models.CharField(max_length=16, db_index=True)
    labels = models.JSONField(default=dict)
    broker = models.CharField(max_length=255, blank=True, default="", db_index=True)
    state = models.CharField(max_length=8, choices=[(s, s) for s in STATES], db_index=True)
    value = models.FloatField(null=True)
    threshold = models.FloatField(null=True)
    held = models.BooleanField(default=False)
    summary = models.CharField(max_length=1000, blank=True, default="")
    description = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True)
    resolved_at = models.DateTimeField(null=True, db_index=True)
    last_true_at = models.DateTimeField(null=True)
    evaluated_at = models.DateTimeField(null=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")
    acknowledged_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"], condition=Q(resolved_at__isnull=True), name="alert_one_open_per_series"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_name} {self.labels} ({self.state})"


class WebhookDelivery(models.Model):
    """One notification to send to one webhook: kept as a row so a restart resumes it, and so
    the operator can see what was sent, how often, and why it failed. ``url`` may hold
    credentials: show it only through ``redact_url``."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
    STATUSES = (PENDING, DELIVERED, FAILED)

    alert = models.ForeignKey(Alert, null=True, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16)  # firing | resolved
    url = models.CharField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(max_length=12, default=PENDING, db_index=True)
    attempts = models.IntegerField(default=0)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    response_status = models.IntegerField(null=True)
    next_attempt_at = models.DateTimeField(null=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["created_at", "id"]

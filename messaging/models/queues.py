"""Brokers and queues as last sampled, and their history."""

from __future__ import annotations

from django.db import models


class BrokerState(models.Model):
    """The last word on one configured broker: up, down (with the reason) or not yet checked."""

    UP, DOWN, UNKNOWN = "up", "down", "unknown"
    STATUS_CHOICES = [(UP, "up"), (DOWN, "down"), (UNKNOWN, "unknown")]

    name = models.CharField(max_length=64, unique=True)
    transport = models.CharField(max_length=16)
    redacted_url = models.CharField(max_length=1024)
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=UNKNOWN)
    error = models.TextField(blank=True, default="")
    warning = models.TextField(blank=True, default="")
    checked_at = models.DateTimeField(null=True)
    last_sampled_at = models.DateTimeField(null=True)
    status_since = models.DateTimeField(null=True)
    sample_duration_s = models.FloatField(null=True)
    configured = models.BooleanField(default=True)
    # Set while sampling rounds fail inside Switchyard (not a broker outage: the round could not
    # be stored); cleared by the next good round. The health endpoint answers 503 meanwhile.
    round_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Queue(models.Model):
    """One queue on one broker with its latest figures. ``None`` figures are unknown, not zero.

    The primary key is the queue's stable id in URLs and the API: names may hold any character.
    """

    broker = models.CharField(max_length=64)
    vhost = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=1024)

    depth = models.BigIntegerField(null=True)
    unacked = models.BigIntegerField(null=True)
    consumers = models.IntegerField(null=True)
    publish_rate = models.FloatField(null=True)
    consume_rate = models.FloatField(null=True)
    oldest_age_s = models.FloatField(null=True)
    oldest_age_exact = models.BooleanField(default=False)
    time_to_drain_s = models.FloatField(null=True)
    trend = models.CharField(max_length=16, blank=True, default="")
    sampled_at = models.DateTimeField(null=True)
    # Which message was at the head and since when (epoch s): a monitor that starts or takes over
    # goes on with the lower bound of ``oldest_age_s`` instead of restarting it from zero.
    head_digest = models.CharField(max_length=64, blank=True, default="")
    head_first_seen_at = models.FloatField(null=True, blank=True)

    is_dlq = models.BooleanField(default=False)
    dlq = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="dead_letter_sources"
    )
    queue_type = models.CharField(max_length=32, blank=True, default="")
    # "queue"; on Kafka "topic" (depth = retained records) or "consumer-group" (one row per group
    # and topic, named ``group@topic``: depth = lag), with the topic and group it is about.
    kind = models.CharField(max_length=16, default="queue")
    topic = models.CharField(max_length=255, blank=True, default="")
    group = models.CharField(max_length=255, blank=True, default="")
    # A consumer group's Burrow-style status (messaging.brokers.kafka.status), "" when not judged.
    status = models.CharField(max_length=16, blank=True, default="")
    # Per-partition offsets of a Kafka row as last sampled, for the queue detail.
    partitions = models.JSONField(null=True, blank=True)
    # What the broker says about the queue beyond the figures (SQS: type, visibility timeout,
    # retention, maxReceiveCount), label -> value as the adapter chose them, for the queue page.
    details = models.JSONField(null=True, blank=True)
    present = models.BooleanField(default=True)
    # Celery plumbing of other clients (event queues, worker mailboxes): listed only on request.
    is_system = models.BooleanField(default=False)
    # Sampled even when discovery cannot find it (Redis: a move target nothing binds).
    watched = models.BooleanField(default=False)
    # The broker's name is not storable as it is (not UTF-8, NUL, too long): ``name`` is a
    # displayable escape of it that does not address the broker's queue, so nothing acts on it.
    name_escaped = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["broker", "vhost", "name"]
        constraints = [models.UniqueConstraint(fields=["broker", "vhost", "name"], name="queue_unique_name")]
        # One per sort key of the queue list with its ties (messaging.queue_queries.ORDERINGS), so a
        # page of 100 reads 100 index entries instead of sorting the fleet (issue 18 item 3).
        # Figures are indexed descending: "-depth" (deepest first, null last) is the one asked for.
        indexes = [
            models.Index(fields=["-depth", "broker", "vhost", "name"], name="queue_depth_desc"),
            models.Index(fields=["-unacked", "broker", "vhost", "name"], name="queue_unacked_desc"),
            models.Index(fields=["-oldest_age_s", "broker", "vhost", "name"], name="queue_oldest_desc"),
            models.Index(fields=["name", "broker", "vhost"], name="queue_name"),
            models.Index(fields=["trend", "broker", "vhost", "name"], name="queue_trend"),
        ]

    def __str__(self) -> str:
        return f"{self.broker}:{self.vhost}/{self.name}" if self.vhost else f"{self.broker}:{self.name}"

    @property
    def public_id(self) -> str:
        return str(self.pk)

    @property
    def dead_letter_source(self) -> Queue | None:
        sources = getattr(self, "_prefetched_sources", None)
        if sources is None:
            sources = list(self.dead_letter_sources.all()[:1])
        return sources[0] if sources else None


class QueueSample(models.Model):
    """A point of a queue's history. Raw points cover one sample (``span_s`` = 0); older history is
    folded into per-minute points whose figures are the minute's mean (depth, unacked) and
    minimum (consumers), with ``depth_max`` keeping the peak."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    span_s = models.IntegerField(default=0)
    depth = models.BigIntegerField(null=True)
    depth_max = models.BigIntegerField(null=True)
    unacked = models.BigIntegerField(null=True)
    consumers = models.IntegerField(null=True)
    publish_rate = models.FloatField(null=True)
    consume_rate = models.FloatField(null=True)
    oldest_age_s = models.FloatField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["queue", "at"], name="sample_queue_at"),
            models.Index(fields=["span_s", "at"], name="sample_span_at"),
        ]
        ordering = ["at"]

"""JSON shapes of docs/api.md. Unknown figures stay ``null``; URLs are shown redacted."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.models import BrokerState, Queue, QueueSample
from messaging.queue_shape import queue_fields


class BrokerSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="redacted_url")
    status = serializers.ChoiceField(choices=["up", "down", "unknown"])
    error = serializers.CharField(allow_null=True)
    warning = serializers.CharField(allow_null=True)  # null when there is none, as to_representation says

    class Meta:
        model = BrokerState
        fields = ["name", "transport", "url", "status", "error", "warning", "checked_at", "sample_duration_s"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["error"] = data["error"] or None
        data["warning"] = data["warning"] or None
        return data


class QueueSerializer(serializers.ModelSerializer):
    """A queue as the API gives it: :func:`messaging.queue_shape.queue_fields` and what only the
    API adds. The fields declare the schema; :meth:`to_representation` builds the row directly
    (GET /api/v1/queues over 1,000 queues spent most of its time in DRF's per-field machinery,
    bench/README.md)."""

    id = serializers.CharField(source="public_id", read_only=True)
    dlq = serializers.CharField(read_only=True, allow_null=True, help_text="the queue's dead-letter queue")
    dead_letter_source = serializers.CharField(
        read_only=True, allow_null=True, help_text="for a DLQ: the queue it collects from"
    )
    system = serializers.BooleanField(source="is_system", read_only=True)
    sampled_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="when the figures were measured: the broker's last good sample for a queue still seen "
        "(figures are stored only when they change), else when they were last written",
    )
    broker_status = serializers.ChoiceField(
        choices=["up", "down", "unknown"],
        read_only=True,
        help_text="the broker's state: figures of a broker that is down are null, not stale",
    )
    broker_error = serializers.CharField(
        read_only=True, allow_null=True, help_text="why the broker is down (null while it is up)"
    )
    kind = serializers.ChoiceField(
        choices=["queue", "topic", "consumer-group"],
        read_only=True,
        help_text="queue; on Kafka a topic (depth = retained records) or a consumer group on one topic "
        "(name group@topic, depth = lag in messages, oldest_age_s = lag as time)",
    )
    topic = serializers.CharField(read_only=True, allow_null=True, help_text="Kafka rows: the topic")
    group = serializers.CharField(read_only=True, allow_null=True, help_text="consumer-group rows: the group")
    status = serializers.ChoiceField(
        choices=["ok", "growing", "stalled", "stopped", "no members"],
        read_only=True,
        allow_null=True,
        help_text="consumer-group rows: the Burrow-style status over the last samples (null when not judged)",
    )

    class Meta:
        model = Queue
        fields = [
            "id",
            "broker",
            "vhost",
            "name",
            "depth",
            "unacked",
            "consumers",
            "publish_rate",
            "consume_rate",
            "oldest_age_s",
            "oldest_age_exact",
            "time_to_drain_s",
            "trend",
            "is_dlq",
            "dlq",
            "dead_letter_source",
            "queue_type",
            "present",
            "system",
            "sampled_at",
            "broker_status",
            "broker_error",
            "kind",
            "topic",
            "group",
            "status",
        ]

    def to_representation(self, queue: Queue) -> dict:
        broker_sampled_at = getattr(queue, "broker_sampled_at", None)
        when = broker_sampled_at if queue.present and broker_sampled_at else queue.sampled_at
        source = queue.dead_letter_source
        broker_status = getattr(queue, "broker_status", None)
        broker_down = broker_status == BrokerState.DOWN
        row = {
            **queue_fields(queue),
            "dead_letter_source": source.name if source else None,
            "queue_type": queue.queue_type,
            "sampled_at": _to_datetime(when) if when else None,
            "broker_status": broker_status or "unknown",
            "broker_error": (getattr(queue, "broker_error", None) or None) if broker_down else None,
        }
        return {name: row[name] for name in QueueSerializer.Meta.fields}


_to_datetime = serializers.DateTimeField().to_representation


class QueueSampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = QueueSample
        fields = ["at", "depth", "unacked", "consumers", "span_s", "depth_max"]


class PartitionSerializer(serializers.Serializer):
    partition = serializers.IntegerField()
    low = serializers.IntegerField(allow_null=True, help_text="first retained offset")
    high = serializers.IntegerField(allow_null=True, help_text="end offset (the next record's)")
    retained = serializers.IntegerField(required=False, allow_null=True, help_text="topic rows: high - low")
    committed = serializers.IntegerField(
        required=False, allow_null=True, help_text="consumer-group rows: the group's committed offset"
    )
    lag = serializers.IntegerField(required=False, allow_null=True, help_text="consumer-group rows: high - committed")
    lag_timestamp = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="consumer-group rows: epoch seconds of the record at the committed offset (null when not lagging)",
    )


class QueueDetailSerializer(QueueSerializer):
    history = serializers.SerializerMethodField()
    partitions = serializers.SerializerMethodField()
    details = serializers.SerializerMethodField()

    class Meta(QueueSerializer.Meta):
        fields = QueueSerializer.Meta.fields + ["history", "partitions", "details"]

    @extend_schema_field(QueueSampleSerializer(many=True))
    def get_history(self, queue: Queue) -> list[dict]:
        return QueueSampleSerializer(self.context.get("history", []), many=True).data

    @extend_schema_field(PartitionSerializer(many=True, allow_null=True))
    def get_partitions(self, queue: Queue) -> list[dict] | None:
        """Kafka rows: per-partition offsets as last sampled; null for queues."""
        return queue.partitions if queue.present else None

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_details(self, queue: Queue) -> dict | None:
        """What the broker says beyond the figures (SQS: visibility timeout, retention,
        maxReceiveCount...), label -> value; null where the adapter reports none."""
        return queue.details or None

    def to_representation(self, queue: Queue) -> dict:
        return {
            **super().to_representation(queue),
            "history": self.get_history(queue),
            "partitions": self.get_partitions(queue),
            "details": self.get_details(queue),
        }


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "error"])
    brokers = serializers.DictField(child=serializers.CharField())
    monitor = serializers.DictField(required=False)
    failing = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="brokers whose sampling rounds fail inside Switchyard, with the reason (then 503)",
    )


class DeathSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(allow_null=True)
    time = serializers.FloatField(allow_null=True)
    exception_type = serializers.CharField(allow_null=True)
    exception_message = serializers.CharField(allow_null=True)
    partition = serializers.IntegerField(allow_null=True, required=False, help_text="Kafka: where the record failed")
    offset = serializers.IntegerField(allow_null=True, required=False, help_text="Kafka: where the record failed")


class MessageSerializer(serializers.Serializer):
    id = serializers.CharField()
    position = serializers.IntegerField()
    task = serializers.CharField(allow_null=True)
    task_id = serializers.CharField(allow_null=True)
    args = serializers.JSONField(allow_null=True)
    kwargs = serializers.JSONField(allow_null=True)
    headers = serializers.DictField()
    body = serializers.CharField(allow_null=True)
    body_encoding = serializers.ChoiceField(choices=["utf-8", "base64"])
    content_type = serializers.CharField(allow_null=True)
    size_bytes = serializers.IntegerField()
    redelivered = serializers.BooleanField()
    death = DeathSerializer(allow_null=True)
    key = serializers.CharField(
        allow_null=True, required=False, help_text="Kafka: the record's key (text, or 0x + hex); null for viewers"
    )
    partition = serializers.IntegerField(allow_null=True, required=False, help_text="Kafka: the record's partition")
    offset = serializers.IntegerField(allow_null=True, required=False, help_text="Kafka: the record's offset")
    timestamp = serializers.FloatField(allow_null=True, required=False, help_text="Kafka: the record's timestamp")


class BrowseSideEffectsSerializer(serializers.Serializer):
    taken_and_requeued = serializers.IntegerField()
    changes = serializers.ListField(child=serializers.CharField())
    queue_type = serializers.CharField(allow_null=True)
    delivery_limit = serializers.IntegerField(allow_null=True)
    highest_delivery_count = serializers.IntegerField(allow_null=True)


class MessagePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = MessageSerializer(many=True)
    browse = BrowseSideEffectsSerializer(
        allow_null=True, help_text="what this browse did to the broker; null where reading is free (Redis)"
    )


class BrowseRequestSerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=0, default=50)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    accept_delivery_limit_risk = serializers.BooleanField(
        required=False,
        default=False,
        help_text="browse a quorum queue with a delivery limit although a message at its limit would be lost",
    )


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    user = serializers.CharField()
    action = serializers.CharField()
    broker = serializers.CharField()
    queue = serializers.CharField()
    params = serializers.DictField()
    outcome = serializers.CharField()


class AuditPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = AuditEntrySerializer(many=True)

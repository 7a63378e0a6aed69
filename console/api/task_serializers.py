"""JSON shapes of tasks and workers (docs/api.md, "Workers" and "Tasks"). Unless the caller may
read message bodies, content (args, kwargs, result and the args of the tasks a worker holds) is
null and an exception shows its type only, without message or traceback (``messaging.visibility``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from console.roles import can_read_bodies
from messaging.models import EventStream, TaskRecord, Worker
from messaging.visibility import for_viewer


def _may_read(serializer: serializers.BaseSerializer) -> bool:
    request = serializer.context.get("request")
    return bool(request is not None and can_read_bodies(request.user))


class TaskSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="task_id")
    args = serializers.CharField(allow_null=True, help_text="null for viewers")
    kwargs = serializers.CharField(allow_null=True, help_text="null for viewers")
    result = serializers.CharField(allow_null=True, help_text="null for viewers")
    exception = serializers.CharField(
        allow_null=True, help_text="the exception's repr; for viewers its type only (e.g. ValueError)"
    )
    traceback = serializers.CharField(allow_null=True, help_text="null for viewers")

    class Meta:
        model = TaskRecord
        fields = [
            "id", "name", "state", "queue", "worker", "broker", "args", "kwargs", "result", "exception",
            "traceback", "retries", "eta", "expires", "root_id", "parent_id", "sent_at", "received_at",
            "started_at", "finished_at", "runtime_s", "wait_s", "created_at", "updated_at", "duplicate_deliveries",
        ]  # fmt: skip

    def to_representation(self, instance: TaskRecord) -> dict[str, Any]:
        data = super().to_representation(instance)
        for key in ("args", "kwargs", "result", "exception", "traceback", "eta", "expires", "root_id", "parent_id"):
            data[key] = data[key] or None
        return data if _may_read(self) else for_viewer(data)


class TaskDetailSerializer(TaskSerializer):
    events = serializers.SerializerMethodField()

    class Meta(TaskSerializer.Meta):
        fields = TaskSerializer.Meta.fields + ["events"]

    def get_events(self, task: TaskRecord) -> list[dict[str, Any]]:
        """The event history, oldest first (the newest 50 events)."""
        events = task.events if isinstance(task.events, list) else []
        rows = sorted((e for e in events if isinstance(e, dict)), key=lambda e: e.get("at") or 0)
        # The timeline keeps no arguments, but a viewer must not see any that got there anyway.
        return rows if _may_read(self) else for_viewer(rows)


class WorkerSerializer(serializers.ModelSerializer):
    active_tasks = serializers.SerializerMethodField()
    reserved = serializers.SerializerMethodField()
    scheduled = serializers.SerializerMethodField()
    registered = serializers.ListField(child=serializers.CharField())
    queues = serializers.ListField(child=serializers.CharField())
    loadavg = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    failed = serializers.SerializerMethodField(
        help_text="tasks this worker ran that failed, among the task rows the console keeps"
    )
    retried = serializers.SerializerMethodField(
        help_text="tasks this worker ran that were retried, among the task rows the console keeps"
    )

    class Meta:
        model = Worker
        fields = [
            "hostname", "broker", "status", "status_since", "last_heartbeat", "heartbeat_freq_s", "pool",
            "concurrency", "active", "processed", "failed", "retried", "queues", "prefetch_count", "reserved",
            "scheduled", "active_tasks", "registered", "loadavg", "pid", "sw_ident", "sw_ver", "sw_sys", "inspected_at",
            "inspect_error",
        ]  # fmt: skip

    def _tasks(self, value: Any) -> list[dict[str, Any]] | None:
        if not isinstance(value, list):
            return None
        if _may_read(self):
            return value
        # Nested too: Celery's scheduled entries keep the task's args under "request".
        return [for_viewer(t) for t in value if isinstance(t, dict)]

    def get_failed(self, worker: Worker) -> int | None:
        return getattr(worker, "failed", None)

    def get_retried(self, worker: Worker) -> int | None:
        return getattr(worker, "retried", None)

    def get_active_tasks(self, worker: Worker) -> list[dict[str, Any]] | None:
        return self._tasks(worker.active_tasks)

    def get_reserved(self, worker: Worker) -> list[dict[str, Any]] | None:
        return self._tasks(worker.reserved)

    def get_scheduled(self, worker: Worker) -> list[dict[str, Any]] | None:
        return self._tasks(worker.scheduled)

    def to_representation(self, instance: Worker) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["inspect_error"] = data["inspect_error"] or None
        for key in ("pool", "sw_ident", "sw_ver", "sw_sys"):
            data[key] = data[key] or None
        return data


class EventStreamSerializer(serializers.ModelSerializer):
    class Meta:
        model = EventStream
        fields = [
            "broker", "connected", "connected_since", "last_event_at", "last_error", "received", "malformed",
            "unknown", "dropped", "late", "heartbeats_missed", "disconnects", "updated_at",
        ]  # fmt: skip

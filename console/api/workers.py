"""Celery workers: list, detail, remote control (admin), and the event streams' health."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.permissions import IsAdmin, IsViewer
from console.api.task_serializers import EventStreamSerializer, WorkerSerializer
from messaging import task_queries
from messaging.celery import control, operations
from messaging.models import Worker


def get_worker_or_404(hostname: str, broker: str | None) -> Worker:
    found = task_queries.workers_named(hostname[:255], broker)
    if not found:
        raise NotFound(f"no worker {hostname!r} has been seen")
    if len(found) > 1:
        raise ValidationError({"broker": "this hostname is known on several brokers: name the broker"})
    return found[0]


class WorkerList(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("broker", str), OpenApiParameter("status", str, enum=["online", "offline"])],
        responses=WorkerSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status not in (None, Worker.ONLINE, Worker.OFFLINE):
            raise ValidationError({"status": "online or offline"})
        rows = task_queries.workers(broker=request.query_params.get("broker") or None, status=status)
        rows = task_queries.with_task_counters(list(rows))
        return Response(WorkerSerializer(rows, many=True, context={"request": request}).data)


class WorkerDetail(APIView):
    @extend_schema(parameters=[OpenApiParameter("broker", str)], responses=WorkerSerializer)
    def get(self, request: Request, hostname: str) -> Response:
        worker = get_worker_or_404(hostname, request.query_params.get("broker") or None)
        task_queries.with_task_counters([worker])
        return Response(WorkerSerializer(worker, context={"request": request}).data)


class ControlBody(serializers.Serializer):
    command = serializers.ChoiceField(choices=list(control.COMMANDS))
    broker = serializers.CharField(required=False, help_text="needed only when the hostname is on several brokers")
    n = serializers.IntegerField(required=False, help_text="pool_grow / pool_shrink: processes (default 1)")
    max = serializers.IntegerField(required=False, help_text="autoscale")
    min = serializers.IntegerField(required=False, help_text="autoscale")
    queue = serializers.CharField(required=False, help_text="add_consumer / cancel_consumer")
    task = serializers.CharField(required=False, help_text="rate_limit / time_limit: task name")
    rate = serializers.CharField(required=False, help_text='rate_limit: e.g. "10/m"; "" removes it')
    soft = serializers.FloatField(required=False, help_text="time_limit: seconds")
    hard = serializers.FloatField(required=False, help_text="time_limit: seconds")
    confirm = serializers.CharField(required=False, help_text="shutdown / pool_restart: the worker's hostname, typed")


class WorkerControl(APIView):
    """Send one remote-control command to one worker (admin). Every command is audited. The
    answer says whether the worker answered within 2 s and what it said."""

    def get_permissions(self):
        return [IsViewer()] if self.request.method in SAFE_METHODS else [IsAdmin()]

    @extend_schema(exclude=True)
    def get(self, request: Request, hostname: str) -> Response:
        """The detail of a worker whose hostname ends in "/control" (the path says so)."""
        return WorkerDetail().get(request, f"{hostname}/control")

    @extend_schema(
        request=ControlBody,
        responses=inline_serializer(
            "ControlResult",
            {
                "hostname": serializers.CharField(),
                "command": serializers.CharField(),
                "arguments": serializers.DictField(),
                "answered": serializers.BooleanField(),
                "ok": serializers.BooleanField(),
                "reply": serializers.DictField(allow_null=True),
            },
        ),
    )
    def post(self, request: Request, hostname: str) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"command": "send a JSON object with a command"})
        broker = body.get("broker") if isinstance(body.get("broker"), str) else None
        worker = get_worker_or_404(hostname, broker)
        result = operations.control_worker(request.user, worker, body)
        return Response(
            {
                "hostname": worker.hostname,
                "command": result.command.name,
                "arguments": result.command.arguments,
                "answered": result.answered,
                "ok": result.ok,
                "reply": result.reply,
                "outcome": result.outcome,
            }
        )


class EventStreamList(APIView):
    """Per broker: is the event stream connected, and how many events came, were malformed,
    unknown, dropped (writer queue full), late, or (heartbeats) missing."""

    @extend_schema(responses=EventStreamSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(EventStreamSerializer(task_queries.event_streams(), many=True).data)

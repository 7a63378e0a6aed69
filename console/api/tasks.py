"""Celery tasks: list, detail with the event timeline, revoke (operator)."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.permissions import IsOperator, IsViewer
from console.api.task_serializers import TaskDetailSerializer, TaskSerializer
from console.roles import can_read_bodies
from messaging import task_queries
from messaging.celery import operations
from messaging.models import TaskRecord

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


def parse_int(value: str | None, field: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationError({field: "must be an integer"}) from None
    if not low <= number <= high:
        raise ValidationError({field: f"must be from {low} to {high}"})
    return number


def parse_time(value: str | None, field: str) -> datetime | None:
    """Epoch seconds or ISO 8601."""
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: "epoch seconds or an ISO 8601 time"}) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short(value: str | None, field: str, limit: int = 255) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > limit:
        raise ValidationError({field: f"at most {limit} characters"})
    return value


def filters_from(params, user) -> task_queries.TaskFilters:
    state = short(params.get("state"), "state", 16)
    if state and state.upper() not in TaskRecord.STATES:
        raise ValidationError({"state": f"one of {', '.join(TaskRecord.STATES)}"})
    return task_queries.TaskFilters(
        state=state,
        name=short(params.get("name"), "name"),
        queue=short(params.get("queue"), "queue"),
        worker=short(params.get("worker"), "worker"),
        broker=short(params.get("broker"), "broker", 64),
        since=parse_time(params.get("since"), "since"),
        until=parse_time(params.get("until"), "until"),
        search=short(params.get("q"), "q", 500),
        search_content=can_read_bodies(user),
    )


class TaskList(APIView):
    @extend_schema(
        operation_id="v1_tasks_list",
        parameters=[
            OpenApiParameter("state", str, description=f"one of {', '.join(TaskRecord.STATES)}"),
            OpenApiParameter("name", str, description="any part of the task name, case-insensitive"),
            OpenApiParameter("queue", str),
            OpenApiParameter("worker", str, description="any part of the worker hostname, case-insensitive"),
            OpenApiParameter("broker", str),
            OpenApiParameter("since", str, description="first event at or after (epoch seconds or ISO 8601)"),
            OpenApiParameter("until", str, description="first event before"),
            OpenApiParameter("q", str, description="task, root or parent id; operators also search args/kwargs"),
            OpenApiParameter(
                "sort",
                str,
                enum=[p + k for k in task_queries.TASK_ORDERS for p in ("", "-")],
                description="column to order by, '-' for descending; default -created (newest first)",
            ),
            OpenApiParameter("limit", int, description=f"default 50, at most {MAX_LIMIT}"),
            OpenApiParameter("offset", int),
        ],
        responses=inline_serializer(
            "TaskPage",
            {
                "count": serializers.IntegerField(help_text=f"capped at {task_queries.COUNT_CAP}"),
                "count_exact": serializers.BooleanField(),
                "results": TaskSerializer(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        filters = filters_from(request.query_params, request.user)
        limit = parse_int(request.query_params.get("limit"), "limit", 50, 1, MAX_LIMIT)
        offset = parse_int(request.query_params.get("offset"), "offset", 0, 0, MAX_OFFSET)
        sort = request.query_params.get("sort") or None
        if sort is not None and task_queries.task_order(sort) != sort:
            orders = ", ".join(task_queries.TASK_ORDERS)
            raise ValidationError({"sort": f"one of {orders}, with '-' for descending"})
        rows = task_queries.tasks(filters, sort)
        count, exact = task_queries.capped_count(rows)
        context = {"request": request}
        page = TaskSerializer(rows[offset : offset + limit], many=True, context=context).data
        return Response({"count": count, "count_exact": exact, "results": page})


def get_task_or_404(task_id: str) -> TaskRecord:
    task = task_queries.task_by_id(task_id[:255])
    if task is None:
        raise NotFound(f"no task with id {task_id!r} has been seen")
    return task


class TaskDetail(APIView):
    @extend_schema(responses=TaskDetailSerializer)
    def get(self, request: Request, task_id: str) -> Response:
        return Response(TaskDetailSerializer(get_task_or_404(task_id), context={"request": request}).data)


class RevokeBody(serializers.Serializer):
    terminate = serializers.BooleanField(required=False, default=False)


class TaskRevoke(APIView):
    """Revoke a task on every worker: a queued one is skipped when a worker gets it; ``terminate``
    also kills it if it is running (SIGTERM). Answers 202: workers apply it asynchronously."""

    def get_permissions(self):
        return [IsViewer()] if self.request.method in SAFE_METHODS else [IsOperator()]

    @extend_schema(exclude=True)
    def get(self, request: Request, task_id: str) -> Response:
        """The detail of a task whose id ends in "/revoke" (the path says so)."""
        return TaskDetail().get(request, f"{task_id}/revoke")

    @extend_schema(
        request=RevokeBody,
        responses={
            202: inline_serializer(
                "Revoked",
                {
                    "task_id": serializers.CharField(),
                    "terminate": serializers.BooleanField(),
                    "acknowledged_by": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
    )
    def post(self, request: Request, task_id: str) -> Response:
        body = RevokeBody(data=request.data if isinstance(request.data, dict) else {})
        if not isinstance(request.data, dict):
            raise ValidationError({"body": 'send a JSON object such as {"terminate": false}'})
        body.is_valid(raise_exception=True)
        terminate = body.validated_data["terminate"]
        task = get_task_or_404(task_id)
        acknowledged = operations.revoke_task(request.user, task, terminate)
        return Response({"task_id": task.task_id, "terminate": terminate, "acknowledged_by": acknowledged}, status=202)


class TaskDuplicates(APIView):
    """Duplicate deliveries per task name (docs/api.md, "Tasks")."""

    @extend_schema(
        operation_id="v1_tasks_duplicates",
        parameters=[
            OpenApiParameter("since", str, description="tasks updated at or after (epoch seconds or ISO 8601)"),
            OpenApiParameter("broker", str),
        ],
        responses=inline_serializer(
            "TaskDuplicates",
            {
                "results": inline_serializer(
                    "TaskDuplicatesRow",
                    {
                        "name": serializers.CharField(),
                        "broker": serializers.CharField(),
                        "tasks": serializers.IntegerField(),
                        "deliveries": serializers.IntegerField(help_text="deliveries beyond the first, summed"),
                        "last_at": serializers.DateTimeField(),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        since = parse_time(request.query_params.get("since"), "since")
        broker = short(request.query_params.get("broker"), "broker", 64)
        return Response({"results": task_queries.duplicates_by_name(since, broker)})

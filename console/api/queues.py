"""Brokers, queues and health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from console.api.serializers import (
    BrokerSerializer,
    HealthSerializer,
    QueueDetailSerializer,
    QueueSerializer,
)
from console.api.tasks import parse_int
from messaging import leader, queue_queries, task_queries
from messaging.models import Queue

MAX_QUEUE_PAGE = 1000
MAX_OFFSET = 10_000_000


def parse_bool(value: str | None, field: str) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValidationError({field: "use true or false"})


def parse_float(value: str | None, field: str, default: float, maximum: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValidationError({field: "must be a number"}) from None
    if not 0 < number <= maximum:
        raise ValidationError({field: f"must be between 0 and {maximum:g}"})
    return number


def stream_list(rows: QuerySet[Queue]) -> StreamingHttpResponse:
    """The whole list as one JSON array, written a chunk of rows at a time: 10,000 queues are
    never all in memory, as rows or as JSON. The chunks are read on the request's thread
    (``sync_to_async``) from an async iterator, which the ASGI server sends as they come."""

    async def chunks() -> AsyncIterator[bytes]:
        load = sync_to_async(_next_chunk, thread_sensitive=True)
        batches = await sync_to_async(queue_queries.each, thread_sensitive=True)(rows)
        yield b"["
        separator = b""
        while (batch := await load(batches)) is not None:
            yield separator + batch
            separator = b","
        yield b"]"

    return StreamingHttpResponse(chunks(), content_type="application/json")


def _next_chunk(batches: Iterator[list[Queue]]) -> bytes | None:
    batch = next(batches, None)
    if batch is None:
        return None
    data = QueueSerializer(batch, many=True).data
    return json.dumps(data, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()


def get_queue_or_404(queue_id: str) -> Queue:
    queue = queue_queries.queue_by_id(queue_id)
    if queue is None:
        raise NotFound(f"no queue with id {queue_id!r}")
    return queue


class BrokerList(APIView):
    @extend_schema(responses=BrokerSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(BrokerSerializer(queue_queries.broker_states(), many=True).data)


class QueueList(APIView):
    @extend_schema(
        operation_id="api_v1_queues_list",
        parameters=[
            OpenApiParameter("broker", str, description="broker name"),
            OpenApiParameter("name", str, description="case-insensitive substring of the queue name"),
            OpenApiParameter("dlq", bool, description="true: only dead-letter queues; false: none"),
            OpenApiParameter(
                "system",
                bool,
                description="true: also list other clients' Celery plumbing (celeryev.*, *.pidbox); "
                "Switchyard's own queues and inspection reply queues are never listed",
            ),
            OpenApiParameter("trend", str, enum=queue_queries.TRENDS, description="only queues with this trend"),
            OpenApiParameter(
                "kind",
                str,
                enum=queue_queries.KINDS,
                description="only rows of this kind (Kafka: topic, consumer-group)",
            ),
            OpenApiParameter(
                "ordering",
                str,
                enum=[o for field in queue_queries.ORDERINGS for o in (field, f"-{field}") if o != "-worst"],
                description="sort key, '-' for descending; unknown (null) figures last; default broker, vhost, name. "
                "worst: DLQs holding or growing dead letters, stalled, growing, then the rest, each oldest "
                "waiting message first",
            ),
            OpenApiParameter(
                "limit",
                int,
                description=f"1 to {MAX_QUEUE_PAGE}: answer one page as {{count, results}}; "
                "without it the answer is the whole list",
            ),
            OpenApiParameter("offset", int, description=f"with limit: rows to skip (default 0, at most {MAX_OFFSET})"),
        ],
        responses=PolymorphicProxySerializer(
            component_name="QueueListAnswer",
            serializers=[
                QueueSerializer(many=True),
                inline_serializer(
                    "QueuePage",
                    {"count": serializers.IntegerField(), "results": QueueSerializer(many=True)},
                ),
            ],
            resource_type_field_name=None,
            many=False,
        ),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        trend = params.get("trend") or None
        if trend is not None and trend not in queue_queries.TRENDS:
            raise ValidationError({"trend": f"one of {', '.join(queue_queries.TRENDS)}"})
        kind = params.get("kind") or None
        if kind is not None and kind not in queue_queries.KINDS:
            raise ValidationError({"kind": f"one of {', '.join(queue_queries.KINDS)}"})
        try:
            rows = queue_queries.queues(
                broker=params.get("broker") or None,
                name=params.get("name") or None,
                dlq=parse_bool(params.get("dlq"), "dlq"),
                system=bool(parse_bool(params.get("system"), "system")),
                trend=trend,
                ordering=params.get("ordering") or None,
                kind=kind,
            )
        except ValueError:
            raise ValidationError(
                {"ordering": f"one of {', '.join(queue_queries.ORDERINGS)}, each but worst optionally prefixed by '-'"}
            ) from None
        if params.get("limit") in (None, ""):
            if params.get("offset") not in (None, ""):
                raise ValidationError({"offset": "needs limit"})
            return stream_list(rows)
        limit = parse_int(params.get("limit"), "limit", MAX_QUEUE_PAGE, 1, MAX_QUEUE_PAGE)
        offset = parse_int(params.get("offset"), "offset", 0, 0, MAX_OFFSET)
        page = QueueSerializer(queue_queries.page(rows, offset, limit), many=True).data
        return Response({"count": rows.count(), "results": page})


class QueueDetail(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.NUMBER, description="seconds of history (default 3600)")],
        responses=QueueDetailSerializer,
    )
    def get(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        since = parse_float(request.query_params.get("since"), "since", 3600.0, 90 * 86400.0)
        history = queue_queries.history(queue, since)
        data = QueueDetailSerializer(queue, context={"history": history}).data
        # Celery task wait before start (p50/p95 over the last 15 minutes), null without task events.
        data.update(task_queries.queue_wait(queue))
        return Response(data)


class Health(APIView):
    """200 when the console itself works (database reachable); broker states are reported, not
    required: a console that can say "broker down" is healthy. Like every endpoint it needs a token
    (a load balancer uses a viewer token). ``monitor`` says which monitor process is active and
    since when (leader election), and this process's own part. A broker whose sampling rounds
    fail inside Switchyard (its figures cannot be stored) is the console failing: 503, and
    ``failing`` names the broker and the reason."""

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            states = queue_queries.broker_states()
            monitor = leader.describe()
        except Exception as exc:  # the database is the console's own health
            return Response({"status": "error", "brokers": {}, "detail": type(exc).__name__}, status=503)
        brokers = {b.name: b.status for b in states}
        failing = {b.name: b.round_error for b in states if b.round_error}
        if failing:
            return Response({"status": "error", "brokers": brokers, "monitor": monitor, "failing": failing}, status=503)
        return Response({"status": "ok", "brokers": brokers, "monitor": monitor})

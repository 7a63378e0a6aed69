"""Browsing messages and asking for operator actions on a queue (CONTRACT.md)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.permissions import IsAdmin, IsOperator, IsViewer
from console.api.queues import get_queue_or_404
from console.api.serializers import ActionSerializer, MessagePageSerializer, MoveRequestSerializer
from console.roles import can_read_bodies
from messaging import actions, messages
from messaging.actions import ActionRefused
from messaging.models import Action


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: "must be a whole number"}) from None
    if not 0 <= value <= maximum:
        raise ValidationError({name: f"must be between 0 and {maximum}"})
    return value


def body_of(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("the body must be a JSON object")
    return request.data


class QueueMessages(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        summary="Browse messages without consuming them",
        description=(
            "Oldest first. Redis: a plain read. RabbitMQ: " + messages.BROWSE_WARNING + " Calling this endpoint "
            "on a RabbitMQ queue is taken as consent. Viewers get args, kwargs and body as null and no "
            "argsrepr/kwargsrepr headers."
        ),
        parameters=[
            OpenApiParameter("limit", int, description=f"at most {messages.MAX_LIMIT} (default 50)"),
            OpenApiParameter("offset", int, description="messages to skip from the oldest end"),
        ],
        responses=MessagePageSerializer,
    )
    def get(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        limit = int_param(request, "limit", 50, messages.MAX_LIMIT)
        offset = int_param(request, "offset", 0, 10_000_000)
        count, found = messages.browse(queue, offset, limit, can_read_bodies(request.user))
        return Response({"count": count, "results": [m.as_dict() for m in found]})


class QueueMessageRaw(APIView):
    """The exact message body, whole (operators): the page shows at most 256 KB of it."""

    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[OpenApiParameter("position", int, description="where the browser saw it (looked at first)")],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, queue_id: str, message_id: str) -> HttpResponse:
        queue = get_queue_or_404(queue_id)
        position = int_param(request, "position", -1, 10_000_000) if request.query_params.get("position") else None
        raw = messages.find_raw(queue, message_id, position)
        if raw is None:
            raise NotFound("the message is no longer in the queue (or beyond the first 1,000)")
        response = HttpResponse(raw.body, content_type="application/octet-stream")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in message_id)[:80]
        response["Content-Disposition"] = f'attachment; filename="message-{safe}.bin"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class _MoveView(APIView):
    kind = Action.REQUEUE

    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        body = body_of(request)
        action = actions.request_move(
            request.user,
            queue,
            kind=self.kind,
            ids=body.get("ids"),
            all=body.get("all"),
            filter=body.get("filter"),
            target=body.get("target"),
            rate=body.get("rate"),
            dry_run=body.get("dry_run", False),
            create_target=body.get("create_target", False),
            count=body.get("count"),
        )
        return Response(actions.action_dict(action), status=202)


class QueueRequeue(_MoveView):
    permission_classes = [IsOperator]
    kind = Action.REQUEUE

    @extend_schema(
        summary="Requeue messages (default target: the queue each was dead-lettered from)",
        request=MoveRequestSerializer,
        responses={202: ActionSerializer},
    )
    def post(self, request: Request, queue_id: str) -> Response:
        return super().post(request, queue_id)


class QueueMove(_MoveView):
    permission_classes = [IsOperator]
    kind = Action.MOVE

    @extend_schema(
        summary="Move messages to a target queue", request=MoveRequestSerializer, responses={202: ActionSerializer}
    )
    def post(self, request: Request, queue_id: str) -> Response:
        return super().post(request, queue_id)


class QueueDelete(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Delete the messages with these ids", request=MoveRequestSerializer, responses={202: ActionSerializer}
    )
    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        body = body_of(request)
        action = actions.request_delete(request.user, queue, ids=body.get("ids"), dry_run=body.get("dry_run", False))
        return Response(actions.action_dict(action), status=202)


class QueuePurge(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Delete every message present now",
        description="`confirm` must be the queue's exact name (400 otherwise). Messages that arrive after the "
        "request are not touched: the action deletes the messages counted at confirmation (or `count`).",
        request=MoveRequestSerializer,
        responses={202: ActionSerializer},
    )
    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        body = body_of(request)
        action = actions.request_purge(request.user, queue, confirm=body.get("confirm"), count=body.get("count"))
        return Response(actions.action_dict(action), status=202)


__all__ = [
    "ActionRefused",
    "QueueDelete",
    "QueueMessageRaw",
    "QueueMessages",
    "QueueMove",
    "QueuePurge",
    "QueueRequeue",
]

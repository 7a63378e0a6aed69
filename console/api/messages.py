"""Browsing messages and asking for operator actions on a queue (docs/api.md, "Browsing
messages" and "Operator actions")."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import MethodNotAllowed, NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.action_serializers import (
    ActionSerializer,
    DeleteRequestSerializer,
    MoveRequestSerializer,
    PurgeRequestSerializer,
)
from console.api.authentication import TokenAuthentication
from console.api.permissions import IsAdmin, IsOperator, IsViewer
from console.api.queues import get_queue_or_404
from console.api.serializers import BrowseRequestSerializer, MessagePageSerializer
from console.roles import OPERATOR, can_read_bodies, has_role
from messaging import actions, browsing, poison
from messaging.journeys import marks
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


def validated(serializer_class: type, request: Request) -> dict:
    """The request's body checked by ``serializer_class``; 400 with the fields at fault otherwise."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


def body_of(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("the body must be a JSON object")
    return request.data


CONSENT = (
    "Where reading changes the broker (RabbitMQ: get with requeue) browsing is an operator action: "
    "POST a JSON body {limit, offset, accept_delivery_limit_risk} (a session needs its CSRF token), "
    "or GET with an API token. The answer's `browse` field says what the browse did."
)


def _browse_consumes(request: Request, queue) -> bool:
    """Whether browsing ``queue`` changes the broker; 403 for a role that may not do that."""
    if not browsing.browse_consumes(queue):
        return False
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied(
            "browsing this queue takes every message shown and requeues it (it changes the broker): "
            "an operator action. Viewers may browse only where reading is free (Redis)."
        )
    return True


def _by_token(request: Request) -> bool:
    return isinstance(request.successful_authenticator, TokenAuthentication)


def _page(request: Request, queue, offset: int, limit: int, accept_risk: bool) -> Response:
    page = browsing.browse(
        queue, offset, limit, can_read_bodies(request.user), user=request.user, accept_delivery_limit_risk=accept_risk
    )
    marks.note_browsed(request.user, queue, page.messages, page.consumed)
    return Response(
        {
            "count": page.count,
            "results": [{**m.as_dict(), **poison.flags(m)} for m in page.messages],
            "browse": page.side_effects(),
        }
    )


def _partition_page(request: Request, queue, limit: int) -> Response:
    """One partition's records (Kafka): newest, from an offset, or from a time."""
    if not request.query_params.get("partition"):
        raise ValidationError({"partition": "from_offset and from_time read one partition: name it"})
    partition = int_param(request, "partition", 0, 1_000_000)
    from_offset = int_param(request, "from_offset", 0, 2**63 - 1) if request.query_params.get("from_offset") else None
    from_time = None
    if request.query_params.get("from_time"):
        try:
            from_time = float(request.query_params["from_time"])
        except ValueError:
            raise ValidationError({"from_time": "must be epoch seconds"}) from None
        if not 0 <= from_time < 1e11:
            raise ValidationError({"from_time": "must be epoch seconds"})
    page = browsing.browse_partition(
        queue,
        partition,
        from_offset=from_offset,
        from_time=from_time,
        limit=limit,
        can_read_bodies=can_read_bodies(request.user),
        user=request.user,
    )
    return Response({"count": page.count, "results": [m.as_dict() for m in page.messages], "browse": None})


class QueueMessages(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        summary="Browse messages (a plain read where the broker allows it)",
        description=(
            "Oldest first. Redis: a plain read, for every role. RabbitMQ: "
            + browsing.BROWSE_WARNING
            + " "
            + CONSENT
            + " A session GET there answers 405; viewers get 403. Viewers get args, kwargs and body as "
            "null and no argsrepr/kwargsrepr headers. `offset + limit` is bounded per broker (400 beyond); "
            "one browse at a time per user (429)."
        ),
        parameters=[
            OpenApiParameter("limit", int, description=f"at most {browsing.MAX_LIMIT} (default 50)"),
            OpenApiParameter("offset", int, description="messages to skip from the oldest end"),
            OpenApiParameter(
                "accept_delivery_limit_risk", bool, description="see POST; with a token on a consuming broker"
            ),
            OpenApiParameter(
                "partition",
                int,
                description="Kafka: read this partition only: its newest records, or from `from_offset` or "
                "`from_time` (400 on brokers without partitions)",
            ),
            OpenApiParameter("from_offset", int, description="with `partition`: the first offset to read"),
            OpenApiParameter("from_time", float, description="with `partition`: records at or after this epoch time"),
        ],
        responses=MessagePageSerializer,
    )
    def get(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        if _browse_consumes(request, queue) and not _by_token(request):
            # A GET with side effects must not run on a cookie another site's link can send along.
            raise MethodNotAllowed("GET", detail="this browse changes the broker: " + CONSENT)
        limit = int_param(request, "limit", 50, browsing.MAX_LIMIT)
        if any(request.query_params.get(name) for name in ("partition", "from_offset", "from_time")):
            return _partition_page(request, queue, limit)
        offset = int_param(request, "offset", 0, 10_000_000)
        accept = request.query_params.get("accept_delivery_limit_risk", "").lower() in ("1", "true", "yes")
        return _page(request, queue, offset, limit, accept)

    @extend_schema(
        summary="Browse messages where reading changes the broker (operators; CSRF with a session)",
        description=CONSENT + " Answers like the GET. " + browsing.BROWSE_WARNING,
        request=BrowseRequestSerializer,
        responses=MessagePageSerializer,
    )
    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        _browse_consumes(request, queue)
        wanted = validated(BrowseRequestSerializer, request)
        if wanted["limit"] > browsing.MAX_LIMIT:
            raise ValidationError({"limit": f"must be between 0 and {browsing.MAX_LIMIT}"})
        return _page(request, queue, wanted["offset"], wanted["limit"], wanted["accept_delivery_limit_risk"])


class QueueMessageRaw(APIView):
    """The exact message body, whole (operators): the page shows at most 256 KB of it. Where
    reading changes the broker, a session must POST (with CSRF); a token may GET."""

    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[
            OpenApiParameter("position", int, description="where the browser saw it (looked at first)"),
            OpenApiParameter("accept_delivery_limit_risk", bool, description="as for browsing"),
        ],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, queue_id: str, message_id: str) -> HttpResponse:
        queue = get_queue_or_404(queue_id)
        if _browse_consumes(request, queue) and not _by_token(request):
            raise MethodNotAllowed("GET", detail="finding this message changes the broker: " + CONSENT)
        position = int_param(request, "position", -1, 10_000_000) if request.query_params.get("position") else None
        accept = request.query_params.get("accept_delivery_limit_risk", "").lower() in ("1", "true", "yes")
        return self._download(request, queue, message_id, position, accept)

    @extend_schema(
        request=BrowseRequestSerializer,
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def post(self, request: Request, queue_id: str, message_id: str) -> HttpResponse:
        queue = get_queue_or_404(queue_id)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            position = int(data["position"]) if data.get("position") not in (None, "") else None
        except (TypeError, ValueError):
            raise ValidationError({"position": "must be a whole number"}) from None
        accept = str(data.get("accept_delivery_limit_risk", "")).lower() in ("1", "true", "yes", "on")
        return self._download(request, queue, message_id, position, accept)

    def _download(self, request: Request, queue, message_id: str, position: int | None, accept: bool) -> HttpResponse:
        if _browse_consumes(request, queue):
            effects = browsing.browse_effects(queue)
            if effects.delivery_limit is not None and not accept:
                raise browsing.BrowseRefused(
                    f"finding the message takes and requeues the messages before it, and this quorum "
                    f"queue drops a message returned more than {effects.delivery_limit} times: confirm "
                    "the risk (accept_delivery_limit_risk) to download anyway",
                    409,
                    code="delivery_limit_risk",
                )
        raw = browsing.find_raw(queue, message_id, position, user=request.user)
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
        action = actions.request_move(request.user, queue, kind=self.kind, **validated(MoveRequestSerializer, request))
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
        summary="Delete the messages with these ids",
        description="The ids name every message deleted; `confirm` is optional here and, when sent, must be "
        "the queue's exact name (the queue page always asks for it).",
        request=DeleteRequestSerializer,
        responses={202: ActionSerializer},
    )
    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        action = actions.request_delete(request.user, queue, typed=False, **validated(DeleteRequestSerializer, request))
        return Response(actions.action_dict(action), status=202)


class QueuePurge(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Delete every message present now",
        description="`confirm` must be the queue's exact name (400 otherwise). Messages that arrive after the "
        "request are not touched: the action deletes the messages counted at confirmation (or `count`).",
        request=PurgeRequestSerializer,
        responses={202: ActionSerializer},
    )
    def post(self, request: Request, queue_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        action = actions.request_purge(request.user, queue, **validated(PurgeRequestSerializer, request))
        return Response(actions.action_dict(action), status=202)


__all__ = [
    "QueueDelete",
    "QueueMessageRaw",
    "QueueMessages",
    "QueueMove",
    "QueuePurge",
    "QueueRequeue",
]

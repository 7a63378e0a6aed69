"""Operator actions: state, cancel, resume (docs/api.md, "Operator actions")."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.action_serializers import ActionSerializer
from console.api.messages import int_param
from console.api.permissions import IsOperator, IsViewer
from console.roles import ADMIN, has_role
from messaging import actions
from messaging.models import Action


def get_action_or_404(action_id: str) -> Action:
    if not action_id.isdigit() or len(action_id) > 18:
        raise NotFound(f"no action with id {action_id!r}")
    action = Action.objects.filter(pk=int(action_id)).first()
    if action is None:
        raise NotFound(f"no action with id {action_id!r}")
    return action


def check_may_control(request: Request, action: Action) -> None:
    """Cancelling or resuming needs the role that may start the action."""
    if action.kind in (Action.DELETE, Action.PURGE) and not has_role(request.user, ADMIN):
        raise PermissionDenied("only admins may control deletes and purges")


class ActionList(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        operation_id="api_v1_actions_list",
        parameters=[
            OpenApiParameter("queue", str, description="queue id"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses=inline_serializer(
            "ActionPage", {"count": serializers.IntegerField(), "results": ActionSerializer(many=True)}
        ),
    )
    def get(self, request: Request) -> Response:
        rows = Action.objects.all()
        queue = request.query_params.get("queue")
        if queue:
            if not queue.isdigit() or len(queue) > 18:
                raise ValidationError({"queue": "a queue id (a whole number)"})
            rows = rows.filter(queue_id=int(queue))
        limit = int_param(request, "limit", 50, 500)
        offset = int_param(request, "offset", 0, 10_000_000)
        return Response(
            {"count": rows.count(), "results": [actions.action_dict(a) for a in rows[offset : offset + limit]]}
        )


class ActionDetail(APIView):
    permission_classes = [IsViewer]

    @extend_schema(responses=ActionSerializer)
    def get(self, request: Request, action_id: str) -> Response:
        return Response(actions.action_dict(get_action_or_404(action_id)))


class ActionCancel(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses=ActionSerializer, summary="Stop an action between batches")
    def post(self, request: Request, action_id: str) -> Response:
        action = get_action_or_404(action_id)
        check_may_control(request, action)
        return Response(actions.action_dict(actions.cancel(request.user, action)))


class ActionResume(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses=ActionSerializer, summary="Continue an interrupted action")
    def post(self, request: Request, action_id: str) -> Response:
        action = get_action_or_404(action_id)
        check_may_control(request, action)
        return Response(actions.action_dict(actions.resume(request.user, action)), status=202)

"""Edit one message, then requeue it (docs/api.md, "Edit, then requeue"): operators and admins.

The body is checked here for JSON types (args a list, kwargs an object, headers an object or
null) and size; the domain (:mod:`messaging.actions.edit`) finds the message, computes the diff
and creates the requeue. Problems answer 400 with the field at fault, never a 500.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.action_serializers import ActionSerializer, ClosedSerializer, StrictCharField, StrictIntegerField
from console.api.messages import validated
from console.api.permissions import IsOperator
from console.api.queues import get_queue_or_404
from messaging import actions
from messaging.actions.edit import request_edit
from messaging.actions.requests import MAX_TARGET_LENGTH


class EditRequestSerializer(ClosedSerializer):
    args = serializers.JSONField(help_text="the new positional arguments (a JSON list)")
    kwargs = serializers.JSONField(help_text="the new keyword arguments (a JSON object)")
    headers = serializers.JSONField(
        required=False, allow_null=True, help_text="all the message's headers as they should be; null keeps them"
    )
    position = StrictIntegerField(required=False, allow_null=True, min_value=0, help_text="where the browser saw it")
    target = StrictCharField(required=False, allow_null=True, max_length=MAX_TARGET_LENGTH)
    accept_delivery_limit_risk = serializers.BooleanField(required=False, default=False)

    def validate_args(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise serializers.ValidationError("a JSON list")
        return value

    def validate_kwargs(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("a JSON object")
        return value

    def validate_headers(self, value: Any) -> dict[str, Any] | None:
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("a JSON object or null")
        return value


class QueueMessageEdit(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        summary="Edit one message's args, kwargs or headers, then requeue it",
        description="The edited copy is published (to `target`, else where the message was dead-lettered "
        "from) with provenance headers, and the original removed the same no-loss way as a move: a crash "
        "between the two can leave both (a duplicate), never neither. The audit entry `requeue.edit` keeps "
        "the diff. Answers 202 with the requeue action; 404 when the message is gone; 409 when it is not a "
        "Celery JSON message or the broker cannot edit.",
        request=EditRequestSerializer,
        responses={202: ActionSerializer},
    )
    def post(self, request: Request, queue_id: str, message_id: str) -> Response:
        queue = get_queue_or_404(queue_id)
        edit = validated(EditRequestSerializer, request)
        action = request_edit(request.user, queue, message_id=message_id, **edit)
        return Response(actions.action_dict(action), status=202)


__all__ = ["EditRequestSerializer", "QueueMessageEdit"]

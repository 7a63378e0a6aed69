"""Messages stuck in flight: list them, restore them (Redis), close a consumer's connection (RabbitMQ)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.messages import body_of
from console.api.permissions import IsAdmin, IsOperator, IsViewer
from console.api.queues import parse_float
from messaging import in_flight
from messaging.queue_queries import broker_states


def check_broker(name: str) -> None:
    from rest_framework.exceptions import NotFound

    if name not in {b.name for b in broker_states()}:
        raise NotFound(f"no broker named {name!r}")


class StuckInFlight(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        parameters=[
            OpenApiParameter("older_than_s", float, description="held longer than this (default from settings)")
        ],
        responses=inline_serializer(
            "InFlight",
            {
                "tag": serializers.CharField(),
                "queue": serializers.CharField(allow_null=True),
                "age_s": serializers.FloatField(allow_null=True),
                "task": serializers.CharField(allow_null=True),
                "task_id": serializers.CharField(allow_null=True),
                "consumer": serializers.CharField(allow_null=True),
                "unacked": serializers.IntegerField(allow_null=True),
                "worker": serializers.CharField(allow_null=True, help_text="the worker Celery saw take the task"),
                "reason": serializers.ChoiceField(choices=["held too long", "worker offline", "holding (age unknown)"]),
            },
            many=True,
        ),
    )
    def get(self, request: Request, broker: str) -> Response:
        check_broker(broker)
        older = parse_float(
            request.query_params.get("older_than_s"), "older_than_s", settings.SWITCHYARD_STUCK_AFTER_S, 365 * 86400.0
        )
        return Response(in_flight.stuck(broker, older))


class RestoreInFlight(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        request=inline_serializer("RestoreRequest", {"tags": serializers.ListField(child=serializers.CharField())}),
        responses=inline_serializer(
            "RestoreResult",
            {"restored": serializers.DictField(), "gone": serializers.ListField(), "errors": serializers.DictField()},
        ),
    )
    def post(self, request: Request, broker: str) -> Response:
        check_broker(broker)
        tags = body_of(request).get("tags")
        if (
            not isinstance(tags, list)
            or not tags
            or len(tags) > in_flight.MAX_TAGS
            or not all(isinstance(t, str) and t for t in tags)
        ):
            raise ValidationError({"tags": f"a list of 1 to {in_flight.MAX_TAGS} delivery tags"})
        return Response(in_flight.restore(request.user, broker, tags))


class CloseConnection(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=inline_serializer("CloseConnectionRequest", {"connection": serializers.CharField()}),
        responses=inline_serializer("CloseConnectionResult", {"closed": serializers.CharField()}),
    )
    def post(self, request: Request, broker: str) -> Response:
        check_broker(broker)
        name = body_of(request).get("connection")
        if not isinstance(name, str) or not name or len(name) > 500:
            raise ValidationError({"connection": "the connection's name as the broker lists it"})
        in_flight.close_connection(request.user, broker, name)
        return Response({"closed": name})

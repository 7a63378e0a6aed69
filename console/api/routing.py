"""The routing map of a broker as JSON: ``GET /api/v1/brokers/{name}/topology``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.in_flight import check_broker
from console.api.permissions import IsViewer
from messaging import routing_map

MAX_TEXT = 1024


class BrokerTopology(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        operation_id="broker_topology",
        parameters=[
            OpenApiParameter("vhost", str, description="the vhost to map (default: the broker URL's, else /)"),
            OpenApiParameter("q", str, description="only nodes whose name contains this, with their neighbours"),
            OpenApiParameter("around", str, description="only this queue, what routes to it and where it leads"),
            OpenApiParameter("limit", int, description=f"most nodes drawn (default {routing_map.DEFAULT_LIMIT})"),
            OpenApiParameter("system", bool, description="also Celery's event queues and worker mailboxes"),
        ],
        responses=inline_serializer(
            "Topology",
            {
                "broker": serializers.CharField(),
                "vhost": serializers.CharField(),
                "nodes": serializers.ListField(child=serializers.DictField()),
                "edges": serializers.ListField(child=serializers.DictField()),
                "truncated": serializers.BooleanField(),
                "notes": serializers.ListField(child=serializers.CharField()),
                "total_nodes": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request: Request, broker: str) -> Response:
        check_broker(broker)
        params = request.query_params
        return Response(
            routing_map.routing_map(
                broker,
                vhost=_text(params, "vhost") or None,
                contains=_text(params, "q"),
                around=_text(params, "around"),
                limit=_limit(params.get("limit")),
                system=params.get("system", "") in ("1", "true"),
            )
        )


def _text(params, field: str) -> str:
    value = params.get(field, "")
    if len(value) > MAX_TEXT:
        raise ValidationError({field: f"at most {MAX_TEXT} characters"})
    return value


def _limit(raw: str | None) -> int:
    if not raw:
        return routing_map.DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({"limit": "must be a whole number"}) from None
    if not 1 <= value <= routing_map.MAX_LIMIT:
        raise ValidationError({"limit": f"must be between 1 and {routing_map.MAX_LIMIT}"})
    return value

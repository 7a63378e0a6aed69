"""The audit trail, newest first, filtered like the audit page (docs/api.md, "Audit"). Read-only:
entries cannot be changed or deleted."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.errors import error_response
from console.api.messages import int_param
from console.api.permissions import IsViewer
from console.api.serializers import AuditPageSerializer
from console.roles import can_read_bodies
from messaging.audit import entries, entry_dict, filters_from


class AuditList(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="at most 500 (default 50)"),
            OpenApiParameter("offset", int),
            OpenApiParameter("user", str, description="exact username"),
            OpenApiParameter("action", str, description="a kind (requeue matches requeue.finished too) or one action"),
            OpenApiParameter("queue", str, description="exact queue name"),
            OpenApiParameter("since", str, description="ISO date or date-time, inclusive"),
            OpenApiParameter("until", str, description="ISO date (its whole day) or date-time, inclusive"),
        ],
        responses=AuditPageSerializer,
    )
    def get(self, request: Request) -> Response:
        limit = int_param(request, "limit", 50, 500)
        offset = int_param(request, "offset", 0, 100_000_000)
        arguments, _given, errors = filters_from(request.query_params)
        if errors:
            return error_response(400, "bad_request", errors)
        rows = entries(**arguments)
        reads_bodies = can_read_bodies(request.user)
        shown = [entry_dict(e, reads_bodies) for e in rows[offset : offset + limit]]
        return Response({"count": rows.count(), "results": shown})

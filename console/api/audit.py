"""The audit trail, newest first (docs/api.md, "Audit"). Read-only: entries cannot be changed or deleted."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.messages import int_param
from console.api.permissions import IsViewer
from console.api.serializers import AuditPageSerializer
from messaging.audit import entry_dict
from messaging.models import AuditEntry


class AuditList(APIView):
    permission_classes = [IsViewer]

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="at most 500 (default 50)"),
            OpenApiParameter("offset", int),
        ],
        responses=AuditPageSerializer,
    )
    def get(self, request: Request) -> Response:
        limit = int_param(request, "limit", 50, 500)
        offset = int_param(request, "offset", 0, 100_000_000)
        rows = AuditEntry.objects.order_by("-at", "-id")
        return Response({"count": rows.count(), "results": [entry_dict(e) for e in rows[offset : offset + limit]]})

"""A task's journey: everything Switchyard saw for one task id (docs/api.md, "Journeys")."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.roles import can_read_bodies
from messaging.journeys.queries import journey
from messaging.visibility import for_role

MAX_TASK_ID = 255


def journey_or_404(task_id: str, user) -> dict:
    """The journey as ``user``'s role may see it (exceptions as their type only for viewers)."""
    found = journey(task_id) if len(task_id) <= MAX_TASK_ID else None
    if found is None:
        raise NotFound(f"no task with id {task_id!r} has been seen")
    return for_role(found, can_read_bodies(user))


class JourneyDetail(APIView):
    @extend_schema(operation_id="v1_journey", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, task_id: str) -> Response:
        return Response(journey_or_404(task_id, request.user))

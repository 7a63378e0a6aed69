"""The journey page of a task: its timeline, parent and children (docs/api.md, "Journeys")."""

from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest, HttpResponse

from console.pages.fragments import render_page
from console.roles import can_read_bodies
from messaging.journeys.queries import journey
from messaging.visibility import for_role

MAX_TASK_ID = 255


def journey_page(request: HttpRequest, task_id: str) -> HttpResponse:
    found = journey(task_id) if len(task_id) <= MAX_TASK_ID else None
    if found is None:
        raise Http404("no task with this id has been seen")
    found = for_role(found, can_read_bodies(request.user))
    for step in found["steps"]:
        step["moment"] = datetime.fromisoformat(step["at"]) if step["at"] else None
    context = {"nav": "tasks", "journey": found, "task_id": task_id}
    return render_page(request, "pages/journey.html", context, partials=("journey",))

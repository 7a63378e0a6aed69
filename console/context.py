from __future__ import annotations

from django.http import HttpRequest

from console.roles import can_read_bodies, role_of


def navigation(request: HttpRequest) -> dict:
    role = role_of(getattr(request, "user", None))
    context = {"role": role, "is_operator": role in ("operator", "admin"), "is_admin": role == "admin"}
    # Whether message and task content is shown (messaging.visibility decides what of it a viewer sees).
    context["reads_bodies"] = can_read_bodies(getattr(request, "user", None))
    if role is not None:
        # The firing-count badge's first value; alerts.js keeps it live from alert events.
        from messaging.alerts.queries import firing_count

        context["alerts_firing"] = firing_count()
    return context

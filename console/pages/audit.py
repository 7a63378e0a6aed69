"""The audit page: every operator action and remote-control command, newest first."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from console.pages.fragments import render_page, vary_on_fragment
from messaging.audit import shown_params
from messaging.models import AuditEntry


@vary_on_fragment
def audit_page(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(AuditEntry.objects.order_by("-at", "-id"), 50)
    page = paginator.get_page(request.GET.get("page"))
    for entry in page:
        entry.params = shown_params(entry.action, entry.params)
    return render_page(request, "pages/audit.html", {"page": page, "nav": "audit"}, partials=("audit-rows",))

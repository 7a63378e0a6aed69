"""The audit page: every operator action and remote-control command, newest first."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from messaging.audit import shown_params
from messaging.models import AuditEntry


def audit_page(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(AuditEntry.objects.order_by("-at", "-id"), 50)
    page = paginator.get_page(request.GET.get("page"))
    for entry in page:
        entry.params = shown_params(entry.action, entry.params)
    template = "pages/audit.html#audit-rows" if request.GET.get("fragment") == "rows" else "pages/audit.html"
    return render(request, template, {"page": page, "nav": "audit"})

"""The audit page: every operator action and remote-control command, newest first, filtered by
user, kind, queue and time range, each entry's selection and outcome in words."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from console.pages.fragments import render_page, vary_on_fragment
from console.roles import can_read_bodies
from messaging import audit, audit_words


def _shown(entry: Any, reads_bodies: bool = False) -> Any:
    params = audit.shown_params(entry.action, entry.params, reads_bodies)
    entry.kind_words = audit_words.kind_words(entry.action)
    entry.selection_words = audit_words.selection_words(params)
    entry.params_words = audit_words.params_words(params)
    entry.outcome_words = audit_words.outcome_words(params, entry.outcome)
    return entry


@vary_on_fragment
def audit_page(request: HttpRequest) -> HttpResponse:
    arguments, given, errors = audit.filters_from(request.GET)
    paginator = Paginator(audit.entries(**arguments), 50)
    page = paginator.get_page(request.GET.get("page"))
    for entry in page:
        _shown(entry, can_read_bodies(request.user))
    filters = {name: value for name, value in given.items() if value}
    context = {
        "page": page,
        "nav": "audit",
        "filters": given,
        "errors": errors,
        "filtered": bool(filters),
        "filter_query": urlencode(filters),
        "kinds": audit.kinds(),
    }
    return render_page(request, "pages/audit.html", context, partials=("audit-rows",))

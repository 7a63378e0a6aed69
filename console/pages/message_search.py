"""Search a queue from its page: the filter of requeues and exports (``messaging.actions.selection``)
over a bounded scan (``messaging.search``), the matches listed with a tick box each for the
queue's requeue/move form ("selected below"), and "scanned N of M" said. Where reading changes the
broker (RabbitMQ) only operators may search, by POST with CSRF, as with browsing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from console.pages.refusals import FormRefused, shows_refusals
from console.roles import OPERATOR, can_read_bodies, has_role
from messaging import browsing, search
from messaging.actions.selection import (
    MAX_FILTER_TEXT,
    MAX_HEADER_FILTER,
    MAX_OLDER_THAN_S,
    parse_selection,
    reads_bodies,
)
from messaging.queue_queries import queue_by_id

#: Matches listed on the page (the API streams them all).
SHOWN = 200


class SearchForm(forms.Form):
    task = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    task_id = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    exception = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    exception_message = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    text = forms.CharField(required=False, max_length=MAX_FILTER_TEXT)
    header = forms.CharField(required=False, max_length=MAX_HEADER_FILTER)
    older_than_s = forms.FloatField(required=False, min_value=0, max_value=MAX_OLDER_THAN_S)
    newer_than_s = forms.FloatField(required=False, min_value=0, max_value=MAX_OLDER_THAN_S)
    limit = forms.IntegerField(required=False, min_value=1, max_value=search.MAX_SCAN)
    accept_delivery_limit_risk = forms.BooleanField(required=False)

    def selection(self) -> dict[str, Any]:
        flt = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in ("limit", "accept_delivery_limit_risk") and v not in (None, "")
        }
        return parse_selection(None, None if flt else True, flt or None)


@require_http_methods(["GET", "POST"])
@shows_refusals("pages/queue_actions.html#refused")
def message_search(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = queue_by_id(str(queue_id))
    if queue is None:
        raise Http404("no such queue")
    if browsing.browse_consumes(queue) and (request.method != "POST" or not has_role(request.user, OPERATOR)):
        raise PermissionDenied  # reading takes and requeues here: an operator's POST
    form = SearchForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        raise FormRefused(form)
    selection = form.selection()
    bodies = can_read_bodies(request.user)
    if reads_bodies(selection) and not bodies:
        raise PermissionDenied
    found, summary = [], {}
    limit = form.cleaned_data["limit"] or search.DEFAULT_SCAN
    accept = form.cleaned_data["accept_delivery_limit_risk"]
    for row in search.search(queue, selection, limit, bodies, user=request.user, accept_delivery_limit_risk=accept):
        if "summary" in row:
            summary = row["summary"]
        elif len(found) < SHOWN:
            found.append(row["message"])
    context = {
        "queue": queue,
        "found": found,
        "summary": summary,
        "shown_all": summary.get("matched", 0) <= SHOWN,
        "is_operator": has_role(request.user, OPERATOR),
    }
    return render(request, "pages/_message_search.html#results", context)

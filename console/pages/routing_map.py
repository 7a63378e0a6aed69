"""The routing map page: ``/brokers/<name>/map``. Any role may view it (no message bodies): the
page is a frame, its script fetches ``GET /api/v1/brokers/<name>/topology`` with the same
filters and draws it with cytoscape."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from messaging import routing_map
from messaging.models import BrokerState

MAX_TEXT = 1024


def routing_map_page(request: HttpRequest, broker: str) -> HttpResponse:
    state = BrokerState.objects.filter(name=broker).first()
    if state is None:
        raise Http404("no such broker")
    filters = {field: request.GET.get(field, "")[:MAX_TEXT] for field in ("vhost", "q", "around")}
    filters["system"] = "1" if request.GET.get("system") == "1" else ""
    return render(
        request,
        "pages/routing_map.html",
        {
            "broker": state,
            "filters": filters,
            "has_topology": routing_map.has_topology(broker),
            "api_url": reverse("api-broker-topology", args=[broker]),
            "nav": "overview",
        },
    )

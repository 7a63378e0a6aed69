"""The queue pages: check access (middleware), ask the domain, render (live parts: console.pages.fragments)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from console.pages.actions import queue_sections_context
from console.pages.fragments import fragment_asked, render_page, vary_on_fragment
from messaging import queue_queries
from messaging.models import BrokerState

# Rows per overview page: at 10,000 queues the page renders one page, never the fleet (issue 18).
PAGE_ROWS = 100
COLUMNS = [
    ("broker", "Broker"),
    ("name", "Queue"),
    ("depth", "Ready"),
    ("unacked", "In flight"),
    ("consumers", "Consumers"),
    ("publish_rate", "In"),
    ("consume_rate", "Out"),
    ("oldest_age_s", "Oldest"),
    ("time_to_drain_s", "Drain"),
    ("trend", "Trend"),
]
SORTABLE = {col for col, _ in COLUMNS}
OVERVIEW_PARTIALS = ("brokers", "queue-table")


def _sort_key(sort: str) -> list[Any]:
    """A column's sort (``-`` for descending, unknown figures last, ties by broker, vhost, name),
    or worst first when no known column is asked (docs UI.md: the first glance is what is wrong)."""
    field = sort.lstrip("-")
    if field not in SORTABLE:
        return queue_queries.order_by("worst")
    expression = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
    return [expression, *(tie for tie in ("broker", "vhost", "name", "id") if tie != field)]


def _page_number(raw: str | None) -> int:
    """``?page=`` as a page number from 1; anything else reads as the first page."""
    if raw is None or not raw.isdigit() or len(raw) > 6:
        return 1
    return max(1, int(raw))


@vary_on_fragment
def overview(request: HttpRequest) -> HttpResponse:
    """The summary strip and broker cards over the fleet, then one page of queues, worst first.
    A live refresh of one part (htmx) computes only that part: the summary's refresh, every
    10 s per open page, does not sort the fleet for a table it does not render."""
    filters = {
        "name": request.GET.get("name", "")[:200],
        "broker": request.GET.get("broker", "")[:64],
        "sort": request.GET.get("sort", "")[:32],
    }
    dlq_only = request.GET.get("dlq") == "true"
    with_system = request.GET.get("system") in ("1", "true")
    brokers = queue_queries.broker_states()
    context = {
        "nav": "dlq" if dlq_only else "overview",
        "brokers": brokers,
        "broker_names": [b.name for b in brokers],
        "filters": filters,
        "dlq_only": dlq_only,
        "with_system": with_system,
    }
    asked = fragment_asked(request, OVERVIEW_PARTIALS)
    if asked != "queue-table":
        context["summary"] = queue_queries.fleet_summary()
    if asked != "brokers":
        context.update(_queue_table(request, filters, dlq_only, with_system))
    return render_page(request, "pages/overview.html", context, partials=OVERVIEW_PARTIALS)


def _queue_table(request: HttpRequest, filters: dict[str, str], dlq_only: bool, with_system: bool) -> dict[str, Any]:
    """One page of the matching queues (only its rows are read) and the links around it."""
    rows = queue_queries.queues(
        broker=filters["broker"] or None,
        name=filters["name"] or None,
        dlq=True if dlq_only else None,
        system=with_system,
    )
    rows = rows.order_by(*_sort_key(filters["sort"]))
    total = rows.count()
    pages = max(1, -(-total // PAGE_ROWS))
    page = min(_page_number(request.GET.get("page")), pages)
    first = (page - 1) * PAGE_ROWS
    queues = queue_queries.page(rows, first, PAGE_ROWS)
    base_query = {k: v for k, v in filters.items() if v and k != "sort"}
    if dlq_only:
        base_query["dlq"] = "true"
    if with_system:
        base_query["system"] = "1"
    sorted_query = {**base_query, **({"sort": filters["sort"]} if filters["sort"] else {})}
    return {
        "queues": queues,
        "total": total,
        "truncated": total > len(queues),
        "page": page,
        "pages": pages,
        "first_row": first + 1,
        "last_row": first + len(queues),
        "columns": COLUMNS,
        "worst_first": filters["sort"].lstrip("-") not in SORTABLE,
        "query": urlencode(sorted_query),
        "sort_query": urlencode(base_query),
    }


def queue_detail(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = queue_queries.queue_by_id(str(queue_id))
    if queue is None:
        raise Http404("no such queue")
    broker = BrokerState.objects.filter(name=queue.broker).first()
    context = {"queue": queue, "broker": broker, "nav": "overview", **queue_sections_context(queue)}
    return render(request, "pages/queue.html", context)

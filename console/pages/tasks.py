"""Task pages. Thin: filter, ask ``messaging.task_queries``, render; a revoke goes through
``messaging.celery.operations`` and answers with a small fragment (htmx)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone

from console.pages.fragments import render_page, vary_on_fragment
from console.pages.toasts import with_toast
from console.roles import OPERATOR, can_read_bodies, has_role
from messaging import task_queries
from messaging.brokers.base import BrokerError
from messaging.celery import operations
from messaging.celery.apps import without_worker_events
from messaging.models import TaskRecord
from messaging.visibility import exception_type_only, for_role

PAGE_SIZE = 50
WINDOWS = {"15m": 900, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
# Content longer than this shows its beginning, with the whole value behind "show all".
PREVIEW_CHARS = 300
DEFAULT_SORT = task_queries.DEFAULT_TASK_ORDER
# The sortable headers (keys of task_queries.TASK_ORDERS). A first click sorts the way an operator
# usually looks: times newest first, runtime longest first, names A to Z.
SORTABLE = ("name", "state", "worker", "received", "started", "finished", "runtime")
FIRST_DESCENDING = {"received", "started", "finished", "runtime"}


@vary_on_fragment
def tasks_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    filters = _task_filters(params)
    sort = task_queries.task_order(params.get("sort", "")[:16])
    try:
        page = max(int(params.get("page", "1")), 1)
    except ValueError:
        page = 1
    page = min(page, 10_000)
    window = filters["window"]
    since = timezone.now() - timedelta(seconds=WINDOWS[window]) if window else None
    reads = can_read_bodies(request.user)
    rows = task_queries.tasks(
        task_queries.TaskFilters(
            state=filters["state"] or None,
            name=filters["name"] or None,
            queue=filters["queue"] or None,
            worker=filters["worker"] or None,
            since=since,
            search=filters["q"] or None,
            search_content=reads,
        ),
        sort,
    )
    count, exact = task_queries.capped_count(rows)
    offset = (page - 1) * PAGE_SIZE
    tasks = list(rows[offset : offset + PAGE_SIZE])
    _add_outcomes(tasks, reads)
    filter_query = urlencode({k: v for k, v in filters.items() if v})
    query = f"{filter_query}&{urlencode({'sort': sort})}".lstrip("&") if sort != DEFAULT_SORT else filter_query
    context = {
        "nav": "tasks",
        "tasks": tasks,
        "count": count,
        "count_exact": exact,
        "page": page,
        "has_next": offset + len(tasks) < count,
        "filters": filters,
        "states": TaskRecord.STATES,
        "windows": list(WINDOWS),
        "query": query,
        "reads_bodies": reads,
        # Live updates reload page 1 of the default order, where new tasks appear.
        "live": page == 1 and sort == DEFAULT_SORT,
        "sort": sort,
        "columns": _sort_columns(filter_query, sort),
        "without_worker_events": without_worker_events(),
    }
    return render_page(request, "pages/tasks.html", context, partials=("task-table",))


def _task_filters(params) -> dict[str, str]:
    """The list's filters from the query string, cut to size; unknown states and windows read as
    none."""
    state = params.get("state", "")[:16].upper()
    window = params.get("window", "")
    return {
        "state": state if state in TaskRecord.STATES else "",
        "name": params.get("name", "")[:255],
        "queue": params.get("queue", "")[:255],
        "worker": params.get("worker", "")[:255],
        "window": window if window in WINDOWS else "",
        "q": params.get("q", "")[:500],
    }


def _add_outcomes(tasks: list[TaskRecord], reads: bool) -> None:
    """The result column: what each task returned or raised; a viewer sees the exception's type
    only, and no result (messaging.visibility)."""
    for task in tasks:
        if reads:
            task.outcome = task.exception if task.state == TaskRecord.FAILURE and task.exception else task.result
        else:
            task.outcome = exception_type_only(task.exception) or ""


def _sort_columns(filter_query: str, sort: str) -> dict[str, dict]:
    """For each sortable header: the link that sorts by it (toggling when it is the current order)
    and aria-sort."""
    columns = {}
    for key in SORTABLE:
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        if current:
            target = key if descending else f"-{key}"
        else:
            target = f"-{key}" if key in FIRST_DESCENDING else key
        link = urlencode({"sort": target})
        columns[key] = {
            "href": f"?{filter_query}&{link}" if filter_query else f"?{link}",
            "aria": ("descending" if descending else "ascending") if current else "none",
            "arrow": ("↓" if descending else "↑") if current else "",
        }
    return columns


def _task_or_404(task_id: str) -> TaskRecord:
    task = task_queries.task_by_id(task_id[:255])
    if task is None:
        raise Http404("no such task")
    return task


def _content(value: str) -> dict:
    return {"value": value, "preview": value[:PREVIEW_CHARS], "long": len(value) > PREVIEW_CHARS, "size": len(value)}


@vary_on_fragment
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = _task_or_404(task_id)
    reads = can_read_bodies(request.user)
    events = sorted((e for e in task.events if isinstance(e, dict)), key=lambda e: e.get("at") or 0)
    # The timeline keeps no arguments, but exception reprs: a viewer sees their types only.
    events = for_role(events, reads)
    context = {
        "nav": "tasks",
        "task": task,
        "events": events,
        "reads_bodies": reads,
        "content": {
            "args": _content(task.args) if reads else None,
            "kwargs": _content(task.kwargs) if reads else None,
            "result": _content(task.result) if reads else None,
            "exception": _content(task.exception) if reads and task.exception else None,
            "traceback": _content(task.traceback) if reads and task.traceback else None,
        },
        # What a viewer sees of the exception (messaging.visibility).
        "exception_type": exception_type_only(task.exception),
        "may_revoke": has_role(request.user, OPERATOR) and task.state not in ("SUCCESS", "FAILURE", "REVOKED"),
    }
    return render_page(request, "pages/task.html", context, partials=("task-detail",))


def task_revoke(request: HttpRequest, task_id: str) -> HttpResponse:
    if request.method in ("GET", "HEAD"):  # the page of a task whose id ends in "/revoke"
        return task_detail(request, f"{task_id}/revoke")
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied("operators revoke tasks")
    task = _task_or_404(task_id)
    terminate = request.POST.get("terminate") == "true"
    try:
        acknowledged = operations.revoke_task(request.user, task, terminate)
        message, ok = f"Revoke sent; acknowledged by {len(acknowledged)} worker(s).", True
    except (BrokerError, operations.NotConfigured) as exc:
        message, ok = f"Revoke failed: {exc}", False
    return with_toast(render(request, "pages/task.html#action-result", {"message": message, "ok": ok}), message, ok)

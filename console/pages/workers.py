"""Worker pages: the list, one worker's detail (its active, reserved and scheduled tasks) and
remote control. Thin: ask ``messaging.task_queries``, render; a control command goes through
``messaging.celery.operations`` and answers with a small fragment (htmx)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from console.pages.fragments import render_page, vary_on_fragment
from console.pages.toasts import with_toast
from console.roles import ADMIN, can_read_bodies, has_role
from messaging import task_queries
from messaging.brokers.base import BrokerError
from messaging.celery import control, operations
from messaging.celery.apps import without_worker_events
from messaging.models import Worker
from messaging.visibility import for_viewer


@vary_on_fragment
def workers_list(request: HttpRequest) -> HttpResponse:
    context = {
        "nav": "workers",
        "workers": task_queries.with_task_counters(list(task_queries.workers()[:1000])),
        "streams": task_queries.event_streams(),
        "without_worker_events": without_worker_events(),
    }
    return render_page(request, "pages/workers.html", context, partials=("worker-table",))


def _worker_or_404(broker: str, hostname: str) -> Worker:
    worker = Worker.objects.filter(broker=broker[:64], hostname=hostname[:255]).first()
    if worker is None:
        raise Http404("no such worker")
    return worker


def _task_rows(tasks: object, reads: bool) -> list[dict] | None:
    """Rows for the worker page's task tables. Celery's scheduled entries keep the task under
    "request" ({eta, priority, request}): flattened, so their id, name and args show (and are
    hidden from viewers like the others'). A link only where the id makes a valid task URL."""
    if not isinstance(tasks, list):
        return None
    rows = []
    for entry in tasks:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("request"), dict) and "id" not in entry:
            entry = {**entry["request"], "eta": entry.get("eta")}
        row = entry if reads else for_viewer(entry)
        task_id = row.get("id")
        try:
            url = reverse("task", args=[task_id]) if isinstance(task_id, str) and task_id else None
        except NoReverseMatch:
            url = None
        rows.append({**row, "url": url})
    return rows


@vary_on_fragment
def worker_detail(request: HttpRequest, broker: str, hostname: str) -> HttpResponse:
    worker = _worker_or_404(broker, hostname)
    reads = can_read_bodies(request.user)
    own_tasks = task_queries.TaskFilters(worker_hostname=worker.hostname, broker=worker.broker)
    context = {
        "nav": "workers",
        "worker": task_queries.with_task_counters([worker])[0],
        "reads_bodies": reads,
        "task_lists": [
            ("Active", _task_rows(worker.active_tasks, reads)),
            ("Reserved (prefetched)", _task_rows(worker.reserved, reads)),
            ("Scheduled (ETA)", _task_rows(worker.scheduled, reads)),
        ],
        "is_admin": has_role(request.user, ADMIN),
        "recent": list(task_queries.tasks(own_tasks)[:20]),
    }
    return render_page(request, "pages/worker.html", context, partials=("worker-detail",))


def worker_control(request: HttpRequest, broker: str, hostname: str) -> HttpResponse:
    if request.method in ("GET", "HEAD"):  # the page of a worker whose name ends in "/control"
        return worker_detail(request, broker, f"{hostname}/control")
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    if not has_role(request.user, ADMIN):
        raise PermissionDenied("admins control workers")
    worker = _worker_or_404(broker, hostname)
    body: dict = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    for key in ("n", "max", "min"):
        if body.get(key, "").strip().lstrip("-").isdigit():
            body[key] = int(body[key])
    for key in ("soft", "hard"):
        if key in body:
            try:
                body[key] = float(body[key]) if body[key] != "" else None
            except ValueError:
                pass
    try:
        result = operations.control_worker(request.user, worker, body)
        message, ok = f"{result.command.name}: {result.outcome}", result.ok or result.command.name == "shutdown"
    except control.CommandError as exc:
        message, ok = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()), False
    except (BrokerError, operations.NotConfigured) as exc:
        message, ok = f"failed: {exc}", False
    return with_toast(render(request, "pages/worker.html#action-result", {"message": message, "ok": ok}), message, ok)

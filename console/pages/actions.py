"""Queue page sections for messages and actions. Views check the role, call
the domain (``messaging.actions``, ``messaging.browsing``) and render; every form carries CSRF and
destructive ones a typed confirmation."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from console.roles import ADMIN, OPERATOR, can_read_bodies, has_role
from messaging import actions, browsing, decoding
from messaging.actions import ActionRefused
from messaging.brokers.base import BrokerError
from messaging.models import Action, Queue
from messaging.queue_queries import queue_by_id

PAGE_SIZE = 25


def queue_sections_context(queue: Queue) -> dict[str, Any]:
    """What the queue page's message and action sections need."""
    return {**_browser_context(queue), "actions": _recent(queue)}


def _browser_context(queue: Queue) -> dict[str, Any]:
    """Whether browsing is free here and, where it is not, what it changes (asked of the broker
    only when an operator will be offered the browse)."""
    free = _browse_is_free(queue)
    context: dict[str, Any] = {
        "browse_free": free,
        "browse_warning": browsing.BROWSE_WARNING,
        "browse_window": _browse_window(queue),
        "page_size": PAGE_SIZE,
    }
    return context


def _browse_effects(queue: Queue) -> tuple[list[str], int | None, str]:
    try:
        effects = browsing.browse_effects(queue)
    except browsing.BrowseRefused as exc:
        return [browsing.BROWSE_WARNING], None, exc.detail
    except BrokerError as exc:
        return [browsing.BROWSE_WARNING], None, str(exc)
    return list(effects.changes), effects.delivery_limit, ""


def _queue(queue_id: int) -> Queue:
    queue = queue_by_id(str(queue_id))
    if queue is None:
        raise Http404("no such queue")
    return queue


@require_http_methods(["GET", "POST"])
def queue_messages(request: HttpRequest, queue_id: int) -> HttpResponse:
    """The message browser fragment. Where reading is free (Redis) a GET browses, for every role.
    Where it changes the broker (RabbitMQ) a GET only offers the browse: an operator gets a form
    that POSTs (with CSRF) and says what it will change, a viewer an explanation; only the POST
    browses, and on a quorum queue with a delivery limit only with the risk accepted."""
    queue = _queue(queue_id)
    context: dict[str, Any] = {"queue": queue, **_browser_context(queue)}
    free = context["browse_free"]
    operator = has_role(request.user, OPERATOR)
    if request.method == "POST" and not free and not operator:
        raise PermissionDenied
    if not free and request.method != "POST":
        # A GET never changes the broker: it offers the browse (operators) or explains (viewers).
        if operator:
            context["browse_changes"], context["delivery_limit"], context["browse_error"] = _browse_effects(queue)
        return render(request, "pages/queue_actions.html#messages", context)
    form = request.POST if request.method == "POST" else request.GET
    try:
        offset = max(0, int(form.get("offset", "0")))
    except ValueError:
        offset = 0
    accept = form.get("accept_delivery_limit_risk") in ("on", "1", "true")
    try:
        page = browsing.browse(
            queue, offset, PAGE_SIZE, can_read_bodies(request.user), user=request.user,
            accept_delivery_limit_risk=accept,
        )  # fmt: skip
    except browsing.BrowseRefused as exc:
        context["browse_error"] = exc.detail
        if not free:
            context["browse_changes"], context["delivery_limit"], _ = _browse_effects(queue)
    except BrokerError as exc:
        context["browse_error"] = str(exc)
    else:
        last_shown = offset + len(page.messages)
        next_offset = offset + PAGE_SIZE if offset + PAGE_SIZE < page.count else None
        if next_offset is not None and next_offset + PAGE_SIZE > context["browse_window"]:
            context["beyond_window"] = True
            next_offset = None
        context.update(
            browsed=True,
            count=page.count,
            offset=offset,
            rows=[_row(m) for m in page.messages],
            last_shown=last_shown,
            prev_offset=max(0, offset - PAGE_SIZE) if offset else None,
            next_offset=next_offset,
            side_effects=page.side_effects(),
            delivery_limit=page.effects.delivery_limit,
            browse_changes=list(page.effects.changes),
        )
    return render(request, "pages/queue_actions.html#messages", context)


def _row(message: decoding.DecodedMessage) -> dict[str, Any]:
    import json

    body_view = message.body
    if message.body is not None and message.body_encoding == "base64":
        import base64

        data = base64.b64decode(message.body)
        body_view = decoding.escaped_bytes(data[:4096]) + "\n\n" + decoding.hex_dump(data, 1024)
    return {
        "m": message,
        "args_json": json.dumps(message.args, indent=2, default=str) if message.args is not None else None,
        "kwargs_json": json.dumps(message.kwargs, indent=2, default=str) if message.kwargs is not None else None,
        "headers_json": json.dumps(message.headers, indent=2, default=str, sort_keys=True),
        "body_view": body_view,
    }


def _browse_is_free(queue: Queue) -> bool:
    try:
        return browsing.browse_is_free(queue)
    except BrokerError:
        return False


def _browse_window(queue: Queue) -> int:
    try:
        return browsing.browse_window(queue)
    except BrokerError:
        return PAGE_SIZE


def queue_action_list(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = _queue(queue_id)
    return render(request, "pages/queue_actions.html#action-list", {"queue": queue, "actions": _recent(queue)})


def _recent(queue: Queue) -> list[dict[str, Any]]:
    return [actions.action_dict(a) for a in Action.objects.filter(queue=queue).order_by("-id")[:10]]


@require_POST
def queue_action(request: HttpRequest, queue_id: int) -> HttpResponse:
    """One form for requeue/move/delete/purge. A requeue/move/delete first answers with a
    confirmation panel stating what will happen and how many messages; only the confirmed form
    (``confirmed=1``, with the count shown) creates the action."""
    queue = _queue(queue_id)
    kind = request.POST.get("kind", "")
    needed = ADMIN if kind in (Action.DELETE, Action.PURGE) else OPERATOR
    if kind not in dict(Action.KINDS) or not has_role(request.user, needed):
        raise PermissionDenied
    form = request.POST
    selection = form.get("selection", "all")
    ids = form.getlist("ids") if selection == "ids" or kind == Action.DELETE else None
    flt = None
    if selection == "filter":
        flt = {k: form.get(f"filter_{k}") for k in ("task", "exception") if form.get(f"filter_{k}")}
        if form.get("filter_older_than_s"):
            try:
                flt["older_than_s"] = float(form["filter_older_than_s"])
            except ValueError:
                flt["older_than_s"] = -1
    count = _int_or_none(form.get("count"))
    try:
        if kind == Action.PURGE:
            action = actions.request_purge(request.user, queue, confirm=form.get("confirm_name"), count=count)
        elif kind == Action.DELETE:
            if form.get("confirm_name") != queue.name:
                raise ActionRefused("type the queue's exact name to delete messages")
            action = actions.request_delete(request.user, queue, ids=ids or None)
        else:
            target = form.get("target") or None
            params = dict(
                kind=kind,
                ids=ids or None,
                all=True if selection == "all" else None,
                filter=flt,
                target=target,
                rate=_float_or_none(form.get("rate")),
                dry_run=form.get("dry_run") == "on",
                create_target=form.get("create_target") == "on",
            )
            if form.get("confirmed") != "1":
                return _confirmation(request, queue, params, selection)
            action = actions.request_move(request.user, queue, count=count, **params)
    except ActionRefused as exc:
        return _refused(request, queue, _detail(exc.detail), 400)
    except BrokerError as exc:
        return _refused(request, queue, str(exc), 503)
    flash.success(request, f"Action {action.pk} accepted: {action.kind} of {action.requested} message(s).")
    url = reverse("queue", args=[queue.pk]) + "#actions"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refused(request: HttpRequest, queue: Queue, detail: str, status: int) -> HttpResponse:
    # htmx swaps only 2xx answers: the refusal is shown in the panel, plain forms get the status.
    context = {"queue": queue, "detail": detail}
    return render(request, "pages/queue_actions.html#refused", context, status=200 if request.htmx else status)


def _confirmation(request: HttpRequest, queue: Queue, params: dict[str, Any], selection: str) -> HttpResponse:
    from messaging.process_config import open_broker

    try:
        with open_broker(queue.broker) as broker:
            count = broker.count(queue.name)
    except BrokerError as exc:
        return _refused(request, queue, str(exc), 503)
    source = queue.dead_letter_source
    context = {
        "queue": queue,
        "params": params,
        "selection": selection,
        "count": count if count is not None else queue.depth,
        "ids": params["ids"] or [],
        "filter": params["filter"] or {},
        "target_text": params["target"] or (source.name if source else "the queue each message was dead-lettered from"),
        # A dry run or a selective scan looks at messages it leaves in place: on RabbitMQ that is browsing.
        "scan_warning": (
            browsing.BROWSE_WARNING if (params["dry_run"] or selection != "all") and not _browse_is_free(queue) else ""
        ),
    }
    return render(request, "pages/queue_actions.html#confirm", context)


def _detail(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_detail(v)}" for k, v in detail.items())
    return str(detail)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return -1.0

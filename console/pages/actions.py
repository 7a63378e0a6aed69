"""Queue page sections for messages and actions. Views check the role, check the form
(``action_forms``), call the domain (``messaging.actions``, ``messaging.browsing``) and render;
refusals are rendered by ``refusals.shows_refusals``. Every form carries CSRF and destructive ones
a typed confirmation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from console.pages.action_forms import BrowseForm, QueueActionForm
from console.pages.refusals import FormRefused, shows_refusals
from console.pages.toasts import with_toast
from console.roles import ADMIN, OPERATOR, can_read_bodies, has_role
from messaging import actions, browsing, decoding, poison, poison_counts
from messaging.actions import confirmation
from messaging.brokers.base import BrokerError
from messaging.errors import ActionRefused, DomainError, detail_text
from messaging.journeys import marks
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
        "poison_deaths": poison.threshold(),
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
    form = BrowseForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        context["browse_error"] = detail_text(FormRefused(form).detail)
        return render(request, "pages/queue_actions.html#messages", context, status=200 if request.htmx else 400)
    offset, accept = form.cleaned_data["offset"], form.cleaned_data["accept_delivery_limit_risk"]
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
        rows = [_row(m) for m in page.messages]
        marks.note_browsed(request.user, queue, page.messages, page.consumed)
        context.update(
            browsed=True,
            count=page.count,
            offset=offset,
            rows=rows,
            page_poison=sum(1 for r in rows if r["poison"]),
            # Where reading is free, the DLQ's oldest messages are counted (bounded, cached).
            poison_count=poison_counts.count(queue) if queue.is_dlq and free else None,
            last_shown=last_shown,
            prev_offset=max(0, offset - PAGE_SIZE) if offset else None,
            next_offset=next_offset,
            side_effects=page.side_effects(),
            delivery_limit=page.effects.delivery_limit,
            browse_changes=list(page.effects.changes),
        )
    return render(request, "pages/queue_actions.html#messages", context)


def _row(message: decoding.DecodedMessage) -> dict[str, Any]:
    body_view = message.body
    if message.body is not None and message.body_encoding == "base64":
        data = base64.b64decode(message.body)
        body_view = decoding.escaped_bytes(data[:4096]) + "\n\n" + decoding.hex_dump(data, 1024)
    return {
        "m": message,
        "args_json": json.dumps(message.args, indent=2, default=str) if message.args is not None else None,
        "kwargs_json": json.dumps(message.kwargs, indent=2, default=str) if message.kwargs is not None else None,
        "headers_json": json.dumps(message.headers, indent=2, default=str, sort_keys=True),
        "body_view": body_view,
        "died_at": _died_at(message),
        **poison.flags(message),
    }


def _died_at(message: decoding.DecodedMessage) -> datetime | None:
    """When the message was dead-lettered, from its death record (None when it has none)."""
    if message.death is None or message.death.time is None:
        return None
    try:
        return datetime.fromtimestamp(message.death.time, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


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
@shows_refusals("pages/queue_actions.html#refused")
def queue_action(request: HttpRequest, queue_id: int) -> HttpResponse:
    """One form for requeue/move/delete/purge, in two steps. The first answers with a confirmation
    panel (``actions.preview_move`` / ``preview_purge``) stating what will happen and how many
    messages, carrying a one-time token (``messaging.actions.confirmation``); a delete or purge
    needs the queue's name typed before that (``actions.require_confirmation``, the rule the API
    follows too). Only the confirmed form (``confirmed=1``, with the count shown and the token)
    creates the action, once: a second submit of the same panel is refused as already done."""
    queue = _queue(queue_id)
    kind = request.POST.get("kind", "")
    needed = ADMIN if kind in (Action.DELETE, Action.PURGE) else OPERATOR
    if kind not in dict(Action.KINDS) or not has_role(request.user, needed):
        raise PermissionDenied
    form = QueueActionForm(request.POST)
    if not form.is_valid():
        raise FormRefused(form)
    data = form.cleaned_data
    if kind in (Action.DELETE, Action.PURGE):
        actions.require_confirmation(kind, queue, data["confirm_name"], typed=True)
        if kind == Action.DELETE and not data["ids"]:
            raise ActionRefused({"ids": "tick the messages to delete below; purge empties a queue"})
    if not data["confirmed"]:
        return _confirmation(request, queue, form)
    confirmation.consume(data["confirmation"], request.user, queue, kind)
    try:
        action = _request(request, queue, form)
    except (DomainError, BrokerError):
        # Refused before any action exists: the same panel may be submitted again.
        confirmation.release(data["confirmation"], request.user, queue, kind)
        raise
    text = f"Action {action.pk} accepted: {action.kind} of {action.requested} message{pluralize(action.requested)}."
    if not request.htmx:
        return redirect(reverse("queue", args=[queue.pk]) + "#actions")
    response = render(request, "pages/queue_actions.html#accepted", {"queue": queue, "text": text})
    # The page closes the panel, clears ticks and typed names, and refreshes the list and counts.
    trigger_client_event(response, "sy:action-accepted", {"action": action.pk})
    return with_toast(response, text, ok=True)


def _request(request: HttpRequest, queue: Queue, form: QueueActionForm) -> Action:
    """The action the confirmed form asks for (``messaging.actions``)."""
    data = form.cleaned_data
    if data["kind"] == Action.PURGE:
        return actions.request_purge(request.user, queue, confirm=data["confirm_name"], count=data["count"])
    if data["kind"] == Action.DELETE:
        return actions.request_delete(request.user, queue, ids=data["ids"], confirm=data["confirm_name"], typed=True)
    return actions.request_move(request.user, queue, count=data["count"], **form.move_arguments())


def _confirmation(request: HttpRequest, queue: Queue, form: QueueActionForm) -> HttpResponse:
    data = form.cleaned_data
    kind = data["kind"]
    if kind == Action.PURGE:
        params: dict[str, Any] = {"kind": kind, "ids": None, "filter": None, "target": None, "rate": None}
        selection = "all"
        preview = actions.preview_purge(queue)
    elif kind == Action.DELETE:
        params = {"kind": kind, "ids": data["ids"], "filter": None, "target": None, "rate": None}
        selection = "ids"
        preview = actions.preview_purge(queue)
    else:
        params = form.move_arguments()
        selection = data["selection"]
        preview = actions.preview_move(
            queue, kind=params["kind"], selection=selection, target=params["target"], dry_run=params["dry_run"]
        )
    context = {
        "queue": queue,
        "params": params,
        "selection": selection,
        "preview": preview,
        "count": preview.count,
        "ids": params["ids"] or [],
        "filter": params["filter"] or {},
        "confirm_name": data["confirm_name"] if kind in (Action.DELETE, Action.PURGE) else "",
        "confirmation": confirmation.issue(request.user, queue, kind),
        "poison_deaths": poison.threshold(),
    }
    return render(request, "pages/queue_actions.html#confirm", context)


@require_POST
@shows_refusals("pages/queue_actions.html#refused")
def queue_action_cancel(request: HttpRequest, queue_id: int, action_id: int) -> HttpResponse:
    """Cancel a running or pending action of this queue (operators): a running one stops between
    batches, keeping what it did; answers with the refreshed action list and a toast."""
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied
    queue = _queue(queue_id)
    action = Action.objects.filter(pk=action_id, queue=queue).first()
    if action is None:
        raise Http404("no such action on this queue")
    action = actions.cancel(request.user, action)
    if not request.htmx:
        return redirect(reverse("queue", args=[queue.pk]) + "#actions")
    response = render(request, "pages/queue_actions.html#action-list", {"queue": queue, "actions": _recent(queue)})
    stopping = "cancelled" if action.is_final else "asked to stop after its current batch"
    return with_toast(response, f"Action {action.pk} {stopping}.", ok=True)

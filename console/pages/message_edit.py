"""Edit one message, then requeue it, from the message browser (operators): a form of JSON text
(args, kwargs, headers), a confirmation panel with a one-time token, then the domain's
:func:`messaging.actions.edit.request_edit`. Bad JSON is a 400 naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from console.pages.refusals import FormRefused, shows_refusals
from console.pages.toasts import with_toast
from console.roles import OPERATOR, has_role
from messaging.actions import confirmation
from messaging.actions.edit import MAX_EDIT_BYTES, check_edit, request_edit
from messaging.brokers.base import BrokerError
from messaging.errors import DomainError
from messaging.models import Queue
from messaging.queue_queries import queue_by_id

#: The confirmation kind an edit's one-time token is bound to.
EDIT = "edit"


class MessageEditForm(forms.Form):
    message_id = forms.CharField(max_length=200)
    position = forms.IntegerField(required=False, min_value=0, max_value=10_000_000)
    args = forms.CharField(max_length=MAX_EDIT_BYTES, widget=forms.Textarea, strip=False)
    kwargs = forms.CharField(max_length=MAX_EDIT_BYTES, widget=forms.Textarea, strip=False)
    headers = forms.CharField(required=False, max_length=MAX_EDIT_BYTES, widget=forms.Textarea, strip=False)
    accept_delivery_limit_risk = forms.BooleanField(required=False)
    confirmed = forms.BooleanField(required=False)
    confirmation = forms.CharField(required=False, max_length=64)

    def clean_args(self) -> list[Any]:
        value = _json(self.cleaned_data["args"])
        if not isinstance(value, list):
            raise forms.ValidationError('args must be a JSON list, e.g. [1, "two"]')
        return value

    def clean_kwargs(self) -> dict[str, Any]:
        value = _json(self.cleaned_data["kwargs"])
        if not isinstance(value, dict):
            raise forms.ValidationError('kwargs must be a JSON object, e.g. {"amount": 10}')
        return value

    def clean_headers(self) -> dict[str, Any] | None:
        text = self.cleaned_data["headers"]
        if not text.strip():
            return None
        value = _json(text)
        if not isinstance(value, dict):
            raise forms.ValidationError("headers must be a JSON object (or empty to keep them)")
        return value


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise forms.ValidationError(f"not valid JSON: {exc}") from None


@require_POST
@shows_refusals("pages/queue_actions.html#refused")
def message_edit(request: HttpRequest, queue_id: int) -> HttpResponse:
    """First submit: the confirmation panel (what will be published, a one-time token). The
    confirmed submit creates the requeue of the edited message, once."""
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied
    queue = queue_by_id(str(queue_id))
    if queue is None:
        raise Http404("no such queue")
    form = MessageEditForm(request.POST)
    if not form.is_valid():
        raise FormRefused(form)
    data = form.cleaned_data
    check_edit(data["args"], data["kwargs"], data["headers"])
    if not data["confirmed"]:
        return _confirm(request, queue, form)
    confirmation.consume(data["confirmation"], request.user, queue, EDIT)
    try:
        action = request_edit(
            request.user, queue, message_id=data["message_id"], position=data["position"],
            args=data["args"], kwargs=data["kwargs"], headers=data["headers"],
            accept_delivery_limit_risk=data["accept_delivery_limit_risk"],
        )  # fmt: skip
    except (DomainError, BrokerError):
        confirmation.release(data["confirmation"], request.user, queue, EDIT)
        raise
    text = f"Action {action.pk} accepted: requeue of the edited message {data['message_id']}."
    response = render(request, "pages/queue_actions.html#accepted", {"queue": queue, "text": text})
    trigger_client_event(response, "sy:action-accepted", {"action": action.pk})
    return with_toast(response, text, ok=True)


def _confirm(request: HttpRequest, queue: Queue, form: MessageEditForm) -> HttpResponse:
    data = form.cleaned_data
    context = {
        "queue": queue,
        "edit": data,
        "args_text": json.dumps(data["args"], indent=2, ensure_ascii=False),
        "kwargs_text": json.dumps(data["kwargs"], indent=2, ensure_ascii=False),
        "headers_text": "" if data["headers"] is None else json.dumps(data["headers"], indent=2, ensure_ascii=False),
        "confirmation": confirmation.issue(request.user, queue, EDIT),
    }
    return render(request, "pages/_message_edit.html#confirm", context)


__all__ = ["MessageEditForm", "message_edit"]

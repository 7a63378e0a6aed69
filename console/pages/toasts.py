"""Feedback after an action: a ``toast`` event in the answer's ``HX-Trigger`` header (django-htmx's
``trigger_client_event``), shown by static/switchyard/toasts.js in base.html's ``#toasts`` area.

The header carries JSON (ASCII, newlines escaped), so a message quoting anyone's text (a hostname,
a task id) cannot split the header; the script shows it as text, never as HTML."""

from __future__ import annotations

from django.http import HttpResponse
from django_htmx.http import trigger_client_event

# A toast is a line or two; the whole outcome stays in the page's result line.
TOAST_CHARS = 300


def with_toast(response: HttpResponse, message: str, ok: bool) -> HttpResponse:
    """``response``, carrying ``{"toast": {"message": ..., "level": "success" | "error"}}``."""
    text = message if len(message) <= TOAST_CHARS else message[: TOAST_CHARS - 1] + "…"
    return trigger_client_event(response, "toast", {"message": text, "level": "success" if ok else "error"})

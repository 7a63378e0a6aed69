"""One template answers for a page and for its live parts.

A page marks each part htmx re-fetches with ``{% partialdef <id> inline %}`` around the element of
that id. When htmx asks to swap that element (django-htmx's ``request.htmx``, whose ``target`` is
the ``HX-Target`` header), the view renders only ``"page.html#<id>"``; a plain GET, or htmx
restoring a page from history, gets the whole page. The answer therefore depends on both headers,
so every such view is decorated with :data:`vary_on_fragment`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

vary_on_fragment = vary_on_headers("HX-Request", "HX-Target")


def fragment_asked(request: HttpRequest, partials: Collection[str]) -> str | None:
    """The partial htmx asks for: one of ``partials`` named as the element htmx swaps; None for a
    plain request, a history restore (htmx wants the whole page then) or any other target."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return None
    return htmx.target if htmx.target in partials else None


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], partials: Collection[str] = ()
) -> HttpResponse:
    """``template`` rendered whole, or only the partial htmx asked for (see :func:`fragment_asked`)."""
    partial = fragment_asked(request, partials)
    return render(request, f"{template}#{partial}" if partial else template, context)

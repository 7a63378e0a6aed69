"""Refusals on pages, mapped once: a view decorated with :func:`shows_refusals` renders a
:class:`~messaging.errors.DomainError` (its status) or a
:class:`~messaging.brokers.base.BrokerError` (503) in the page's error area instead of failing.

htmx swaps only 2xx answers, so an htmx request gets the refusal with status 200 (shown where the
form's answer goes); a plain form POST gets the real status. The API maps the same errors in
``console/api/errors.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from messaging.brokers.base import BrokerError
from messaging.errors import DomainError, detail_text


class FormRefused(DomainError):
    """A page form with fields at fault (400): ``detail`` is ``{field: [problem, ...]}``."""

    def __init__(self, form: forms.Form) -> None:
        super().__init__({field: [str(e) for e in errors] for field, errors in form.errors.items()})


def refusal(request: HttpRequest, template: str, detail: str, status: int, **context: object) -> HttpResponse:
    """``template`` (a partial with a ``detail`` slot) rendered with the refusal."""
    return render(request, template, {**context, "detail": detail}, status=200 if request.htmx else status)


def shows_refusals(template: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Render the view's :class:`DomainError` and :class:`BrokerError` in ``template``."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return refusal(request, template, detail_text(exc.detail), exc.status)
            except BrokerError as exc:
                return refusal(request, template, str(exc), 503)

        return wrapped

    return decorate

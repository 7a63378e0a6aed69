"""Holding a page's request in flight, so that what happens meanwhile happens on every run."""

from __future__ import annotations

import re


def hold_first_request(page, url_pattern: str, target: str) -> list:
    """Hold the first htmx request for the element ``target`` (its ``HX-Target``) to a URL matching
    ``url_pattern``; let every other request through. Returns the held routes (``continue_()`` one
    to let it go)."""
    held: list = []

    def hold(route) -> None:
        if route.request.headers.get("hx-target") == target and not held:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(url_pattern), hold)
    return held


def count_requests(page, element_id: str) -> None:
    """Count the htmx requests element ``element_id`` makes from now on, in ``window.__reloads``."""
    page.evaluate(
        "id => { window.__reloads = 0; document.addEventListener('htmx:beforeRequest', function (evt) {"
        " if (evt.detail.elt.id === id) window.__reloads += 1; }); }",
        element_id,
    )

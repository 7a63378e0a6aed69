"""One-time confirmation tokens for the queue page's actions.

A token is issued with the confirmation panel (:func:`issue`) and consumed by the confirmed
request (:func:`consume`). It is kept server-side in the cache (Redis when the console has one, so
every web process sees it), bound to the user, the queue and the kind of action. A second submit of
the same panel (a double click, a browser resubmit, a replayed POST) finds the token used and is
refused with "already done": no second action is created.

Consuming happens before the action is created, so two racing submits cannot both create one. If
the request is then refused before any action exists (a target that does not exist, a broker that
cannot be reached), :func:`release` gives the token back so the panel can be submitted again.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache

from messaging.errors import ActionRefused
from messaging.models import Queue

# How long an open confirmation panel stays valid, and how long a used token is remembered.
ISSUED_TTL_S = 15 * 60
USED_TTL_S = 24 * 60 * 60

ALREADY_DONE = "already done: this confirmation was used once; the action it confirmed is listed under Actions"


def _issued_key(token: str) -> str:
    return f"action-confirmation:{token}"


def _used_key(token: str) -> str:
    return f"action-confirmation-used:{token}"


def _binding(user: Any, queue: Queue, kind: str) -> list[Any]:
    return [getattr(user, "pk", None), queue.pk, kind]


def issue(user: Any, queue: Queue, kind: str) -> str:
    """A new token confirming one ``kind`` of action on ``queue`` by ``user``."""
    token = secrets.token_urlsafe(24)
    cache.set(_issued_key(token), _binding(user, queue, kind), ISSUED_TTL_S)
    return token


def consume(token: str | None, user: Any, queue: Queue, kind: str) -> None:
    """Use ``token`` up. Raises :class:`ActionRefused`: 409 "already done" when it was used before,
    400 when it is missing, expired or was issued for another user, queue or kind."""
    if not token or len(token) > 64:
        raise ActionRefused({"confirmation": "confirm in the confirmation panel"})
    issued = cache.get(_issued_key(token))
    if issued is None and cache.get(_used_key(token)):
        raise ActionRefused(ALREADY_DONE, status=409)
    if issued is None or list(issued) != _binding(user, queue, kind):
        raise ActionRefused({"confirmation": "expired or not for this action; open the confirmation again"})
    # add() is atomic: of two submits racing with the same token, one wins.
    if not cache.add(_used_key(token), 1, USED_TTL_S):
        raise ActionRefused(ALREADY_DONE, status=409)
    cache.delete(_issued_key(token))


def release(token: str, user: Any, queue: Queue, kind: str) -> None:
    """Undo :func:`consume` for a request refused before it created an action."""
    cache.set(_issued_key(token), _binding(user, queue, kind), ISSUED_TTL_S)
    cache.delete(_used_key(token))

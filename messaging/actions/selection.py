"""Which messages an action takes: the selection an operator sends, checked, and the predicate a
broker applies to each message of the prefix it scans.

Selections: ``ids`` (the message ids shown by the browser: Celery task ids or digests), ``all``
(the messages present when the operator confirmed), or ``filter`` (task name, exception type,
older than N seconds), which scans the same messages and takes those that match.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from messaging import decoding
from messaging.brokers.base import RawMessage
from messaging.errors import ActionRefused

MAX_IDS = 10_000
MAX_ID_LENGTH = 200
MAX_FILTER_TEXT = 300
MAX_OLDER_THAN_S = 10 * 365 * 86400
FILTER_KEYS = {"task", "exception", "older_than_s"}


def parse_selection(ids: Any, all_: Any, flt: Any) -> dict[str, Any]:
    """Exactly one of ``ids``, ``all`` (True) or ``filter``, as stored on the action
    (``{"ids": [...]}`` without duplicates, ``{"all": True}`` or ``{"filter": {...}}``).
    Raises :class:`ActionRefused` (400) with the field at fault."""
    given = [name for name, value in (("ids", ids), ("all", all_), ("filter", flt)) if value not in (None, False)]
    if len(given) != 1:
        raise ActionRefused("choose exactly one of ids, all: true, or filter")
    if ids is not None:
        if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
            raise ActionRefused({"ids": f"a list of 1 to {MAX_IDS} message ids"})
        if not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_LENGTH for i in ids):
            raise ActionRefused({"ids": "message ids are non-empty strings"})
        return {"ids": list(dict.fromkeys(ids))}
    if all_ is not None:
        if all_ is not True:
            raise ActionRefused({"all": "must be true"})
        return {"all": True}
    if not isinstance(flt, dict) or not flt or set(flt) - FILTER_KEYS:
        raise ActionRefused({"filter": f"an object with some of {', '.join(sorted(FILTER_KEYS))}"})
    clean: dict[str, Any] = {}
    for key in ("task", "exception"):
        if key in flt:
            if not isinstance(flt[key], str) or not flt[key] or len(flt[key]) > MAX_FILTER_TEXT:
                raise ActionRefused({"filter": {key: "a non-empty string"}})
            clean[key] = flt[key]
    if "older_than_s" in flt:
        value = flt["older_than_s"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_OLDER_THAN_S:
            raise ActionRefused({"filter": {"older_than_s": "a number of seconds, 0 or more"}})
        clean["older_than_s"] = float(value)
    return {"filter": clean}


def selector_for(selection: dict[str, Any], now: float | None = None) -> Callable[[RawMessage], bool]:
    """The predicate a broker applies to each message of the scanned prefix."""
    ids = selection.get("ids")
    if ids is not None:
        wanted = set(ids)
        return lambda m: decoding.message_id(m) in wanted or _digest_id(m) in wanted
    flt = selection.get("filter") or {}
    if not flt:
        return lambda m: True
    cutoff = (now or time.time()) - float(flt["older_than_s"]) if "older_than_s" in flt else None
    task, exception = flt.get("task"), flt.get("exception")

    def matches(message: RawMessage) -> bool:
        if task and decoding.task_name(message) != task:
            return False
        if exception:
            found = decoding.exception_type(message) or ""
            if found != exception and found.rsplit(".", 1)[-1] != exception:
                return False
        if cutoff is not None:
            at = decoding.published_at(message)
            if at is None:
                death = decoding.death_record(message.headers)
                at = death.time if death else None
            if at is None or at > cutoff:
                return False
        return True

    return matches


def _digest_id(message: RawMessage) -> str:
    return "sha1:" + decoding.digest(message)

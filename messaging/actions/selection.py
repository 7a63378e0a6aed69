"""Which messages an action takes: the selection an operator sends, checked, and the predicate a
broker applies to each message of the prefix it scans.

Selections: ``ids`` (the message ids shown by the browser: Celery task ids or digests), ``all``
(the messages present when the operator confirmed), or ``filter``, which scans the same messages
and takes those that match every key given: ``task`` (name), ``task_id``, ``exception`` (type),
``exception_message`` (text in it), ``text`` (text in the args or kwargs), ``header``
(``"name"``: present; ``"name=value"``: its value holds that text), ``older_than_s`` and
``newer_than_s`` (an age range). Text matches ignore case. The same filter is the search's
(:mod:`messaging.search`) and the export's (:mod:`messaging.export`).

``exception_message``, ``text`` and ``header`` read message content: only roles that read bodies
may use them (:data:`BODY_FILTER_KEYS`; the views answer 403 to others).
"""

from __future__ import annotations

import json
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
MAX_HEADER_FILTER = 600
TEXT_KEYS = ("task", "task_id", "exception", "exception_message", "text")
AGE_KEYS = ("older_than_s", "newer_than_s")
FILTER_KEYS = {*TEXT_KEYS, *AGE_KEYS, "header"}
#: Filter keys that look into message content (arguments, exception messages, header values).
BODY_FILTER_KEYS = frozenset({"exception_message", "text", "header"})


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
    return {"filter": parse_filter(flt)}


def parse_filter(flt: dict[str, Any]) -> dict[str, Any]:
    """A filter object checked key by key (see the module docstring). Raises :class:`ActionRefused`."""
    clean: dict[str, Any] = {}
    for key in TEXT_KEYS:
        if key in flt:
            if not isinstance(flt[key], str) or not flt[key] or len(flt[key]) > MAX_FILTER_TEXT:
                raise ActionRefused({"filter": {key: "a non-empty string"}})
            clean[key] = flt[key]
    if "header" in flt:
        value = flt["header"]
        if not isinstance(value, str) or not value.split("=", 1)[0] or len(value) > MAX_HEADER_FILTER:
            raise ActionRefused({"filter": {"header": "a header name, or name=value"}})
        clean["header"] = value
    for key in AGE_KEYS:
        if key in flt:
            value = flt[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_OLDER_THAN_S:
                raise ActionRefused({"filter": {key: "a number of seconds, 0 or more"}})
            clean[key] = float(value)
    return clean


def reads_bodies(selection: dict[str, Any]) -> bool:
    """True when the selection's filter looks into message content (:data:`BODY_FILTER_KEYS`)."""
    return bool(BODY_FILTER_KEYS & set(selection.get("filter") or {}))


def selector_for(selection: dict[str, Any], now: float | None = None) -> Callable[[RawMessage], bool]:
    """The predicate a broker applies to each message of the scanned prefix."""
    ids = selection.get("ids")
    if ids is not None:
        wanted = set(ids)
        return lambda m: decoding.message_id(m) in wanted or _digest_id(m) in wanted
    flt = selection.get("filter") or {}
    if not flt:
        return lambda m: True
    return filter_predicate(flt, now)


def filter_predicate(flt: dict[str, Any], now: float | None = None) -> Callable[[RawMessage], bool]:
    """The predicate of a checked filter (:func:`parse_filter`); ages are counted from ``now``."""
    now = now or time.time()
    oldest = now - flt["older_than_s"] if "older_than_s" in flt else None
    newest = now - flt["newer_than_s"] if "newer_than_s" in flt else None
    checks: list[Callable[[RawMessage], bool]] = []
    if "task" in flt:
        checks.append(lambda m: decoding.task_name(m) == flt["task"])
    if "task_id" in flt:
        checks.append(lambda m: decoding.message_id(m) == flt["task_id"])
    if "exception" in flt:
        checks.append(lambda m: _exception_matches(decoding.exception_type(m) or "", flt["exception"]))
    if "exception_message" in flt:
        wanted = flt["exception_message"].casefold()
        checks.append(lambda m: wanted in _exception_message(m).casefold())
    if "text" in flt:
        wanted_text = flt["text"].casefold()
        checks.append(lambda m: wanted_text in _arguments_text(m).casefold())
    if "header" in flt:
        checks.append(_header_check(flt["header"]))
    if oldest is not None or newest is not None:
        checks.append(lambda m: _age_matches(m, oldest, newest))
    return lambda message: all(check(message) for check in checks)


def _exception_matches(found: str, wanted: str) -> bool:
    return found == wanted or found.rsplit(".", 1)[-1] == wanted


def _exception_message(message: RawMessage) -> str:
    death = decoding.death_record(message.headers)
    return (death.exception_message or "") if death else ""


def _arguments_text(message: RawMessage) -> str:
    """The args and kwargs as JSON text (the body's text where it is not a Celery task)."""
    decoded = decoding.decode(message)
    if decoded.kind.startswith("celery"):
        return json.dumps([decoded.args, decoded.kwargs], ensure_ascii=False, default=str)
    return decoded.body or ""


def _header_check(spec: str) -> Callable[[RawMessage], bool]:
    name, _, value = spec.partition("=")
    wanted = value.casefold()

    def check(message: RawMessage) -> bool:
        if name not in message.headers:
            return False
        found = message.headers[name]
        text = found if isinstance(found, str) else json.dumps(found, ensure_ascii=False, default=str)
        return wanted in text.casefold()

    return check


def _age_matches(message: RawMessage, oldest: float | None, newest: float | None) -> bool:
    """Published (or, failing that, dead-lettered) before ``oldest`` and after ``newest``."""
    at = decoding.published_at(message)
    if at is None:
        death = decoding.death_record(message.headers)
        at = death.time if death else None
    if at is None:
        return False
    return (oldest is None or at <= oldest) and (newest is None or at >= newest)


def _digest_id(message: RawMessage) -> str:
    return "sha1:" + decoding.digest(message)

"""Turning a queued message into what an operator reads. Pure functions, no I/O.

Guarantees: nothing here unpickles, evaluates or executes message content; every input (binary,
truncated JSON, a 10 MB body, a body full of ``<script>``) gives a result, never an exception.
Text comes back as plain strings for autoescaping templates and JSON; binary comes back as
base64 in the API and as escaped text/hex on pages. No string that comes back holds a lone UTF-16
surrogate (JSON escapes such as ``"\\udfff"`` decode to one, and no UTF-8 encoder writes it): each
becomes U+FFFD, so every field serializes as UTF-8 in the API, pages and the WebSocket. Pickle,
YAML and msgpack bodies are shown as what they are, "not decoded".
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from messaging import dead_letter_headers, visibility
from messaging.brokers.base import RawMessage
from messaging.header_values import as_float, as_int, as_text, as_timestamp

#: Bodies longer than this are cut for display; the raw download gives operators all of it.
DISPLAY_LIMIT = 256 * 1024
PICKLE_TYPES = frozenset({"application/x-python-serialize", "application/python-pickle"})
NOT_DECODED_TYPES = {
    "application/x-python-serialize": "pickle, not decoded",
    "application/python-pickle": "pickle, not decoded",
    "application/x-yaml": "YAML, not decoded",
    "application/x-msgpack": "msgpack, not decoded",
}


@dataclass
class Death:
    """The newest dead-lettering record, RabbitMQ's ``x-death`` shape or the Celery integration's."""

    reason: str | None = None
    queue: str | None = None
    exchange: str | None = None
    routing_keys: list[str] = field(default_factory=list)
    count: int | None = None
    time: float | None = None
    first_queue: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    traceback: str | None = None
    # Where the record was when it failed (Kafka: Spring's and Kafka Connect's headers).
    partition: int | None = None
    offset: int | None = None


@dataclass
class DecodedMessage:
    id: str
    position: int
    kind: str  # celery-v2, celery-v1, json, text, binary, or a "not decoded" format
    task: str | None
    task_id: str | None
    args: Any
    kwargs: Any
    headers: dict[str, Any]
    body: str | None
    body_encoding: str  # "utf-8" or "base64"
    content_type: str | None
    size_bytes: int
    truncated: bool
    redelivered: bool
    death: Death | None
    retries: int | None = None
    eta: str | None = None
    origin: str | None = None
    published_at: float | None = None
    requeued_by: str | None = None
    # Where the transport has them (Kafka): the record's key (content: null for viewers), its
    # partition and offset, and the timestamp the broker stored (epoch seconds).
    key: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_role(self, reads_bodies: bool) -> DecodedMessage:
        """This message as a role may see it (:func:`messaging.visibility.message_for_viewer`
        unless the role reads bodies)."""
        if reads_bodies:
            return self
        seen = visibility.message_for_viewer(self.as_dict())
        death = Death(**seen["death"]) if seen["death"] is not None else None
        return DecodedMessage(**{**seen, "death": death})


def message_id(raw: RawMessage) -> str:
    """The Celery task id where there is one, else the AMQP ``message_id``, else a digest of the
    body and headers (stable across peeks; a RabbitMQ redelivery does not change it)."""
    task_id = _celery_task_id(raw) or _v1_task_id(raw)
    if task_id:
        return text_safe(task_id)
    mid = raw.properties.get("message_id")
    if isinstance(mid, str) and mid:
        return text_safe(mid)
    return "sha1:" + digest(raw)


def digest(raw: RawMessage) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(raw.body)
    h.update(json.dumps(raw.headers, sort_keys=True, default=str).encode())
    return h.hexdigest()


def decode(raw: RawMessage) -> DecodedMessage:
    content_type = (raw.content_type or "").split(";")[0].strip().lower() or None
    headers = dict(raw.headers)
    body_bytes = raw.body
    size = raw.size_bytes if getattr(raw, "size_bytes", None) else len(raw.raw or body_bytes)
    task = as_text(headers.get("task"))
    task_id = as_text(headers.get("id"))
    args = kwargs = None
    retries = as_int(headers.get("retries"))
    eta = as_text(headers.get("eta"))
    origin = as_text(headers.get("origin"))
    parsed: Any = None
    kind = "binary"
    if content_type in NOT_DECODED_TYPES:
        kind = NOT_DECODED_TYPES[content_type]
    else:
        text = _utf8(body_bytes)
        if text is not None:
            kind = "text"
            if content_type in (None, "application/json") or text[:1] in ("[", "{"):
                parsed = _json(text)
                if parsed is not _NOTHING:
                    kind = "json"
    if kind == "json" and task and isinstance(parsed, list) and len(parsed) >= 2:
        kind = "celery-v2"
        args, kwargs = _bounded_value(parsed[0]), _bounded_value(parsed[1])
    elif kind == "json" and isinstance(parsed, dict) and isinstance(parsed.get("task"), str) and "id" in parsed:
        kind = "celery-v1"
        task, task_id = parsed["task"], as_text(parsed.get("id"))
        args, kwargs = _bounded_value(parsed.get("args")), _bounded_value(parsed.get("kwargs"))
        retries = as_int(parsed.get("retries"))
        eta = as_text(parsed.get("eta"))
    body, encoding, truncated = _display_body(body_bytes, kind)
    decoded = DecodedMessage(
        id=task_id or message_id(raw),
        position=raw.position,
        kind=kind,
        task=task,
        task_id=task_id,
        args=args,
        kwargs=kwargs,
        headers=_json_safe(headers),
        body=body,
        body_encoding=encoding,
        content_type=raw.content_type,
        size_bytes=size,
        truncated=truncated or bool(getattr(raw, "truncated", False)),
        redelivered=raw.redelivered,
        death=death_record(headers),
        retries=retries,
        eta=eta,
        origin=origin,
        published_at=as_float(headers.get("x-switchyard-published-at")),
        requeued_by=as_text(headers.get("x-switchyard-requeued-by")),
        **_record_place(raw.properties),
    )
    return _without_lone_surrogates(decoded)


def _record_place(properties: dict[str, Any]) -> dict[str, Any]:
    """Key, partition, offset and timestamp of a record, where the adapter gives them."""
    key = properties.get("key")
    if isinstance(key, bytes | bytearray):
        key = _utf8(bytes(key)[:DISPLAY_LIMIT]) or "0x" + bytes(key)[:DISPLAY_LIMIT].hex()  # binary: hex
    return {
        "key": key if isinstance(key, str) else None,
        "partition": as_int(properties.get("partition")),
        "offset": as_int(properties.get("offset")),
        "timestamp": as_float(properties.get("record_timestamp")),
    }


def text_safe(value: str) -> str:
    """``value`` with each lone UTF-16 surrogate replaced by U+FFFD (a surrogate pair, which a
    JSON escape can also produce, becomes the character it encodes)."""
    if not _SURROGATE.search(value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(message: DecodedMessage) -> DecodedMessage:
    for name, value in vars(message).items():
        setattr(message, name, _safe_value(value))
    return message


def _safe_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return text_safe(value)
    if depth > MAX_NESTING + 2:  # already cut at MAX_NESTING by _bounded_value and _json_safe
        return value
    if isinstance(value, dict):
        return {_safe_value(k, depth + 1): _safe_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_value(v, depth + 1) for v in value]
    if isinstance(value, Death):
        for name, field_value in vars(value).items():
            setattr(value, name, _safe_value(field_value, depth + 1))
    return value


def death_record(headers: dict[str, Any]) -> Death | None:
    """The newest ``x-death`` entry (RabbitMQ lists newest first), or None."""
    deaths = headers.get("x-death")
    first_queue = as_text(headers.get("x-first-death-queue"))
    if not isinstance(deaths, list) or not deaths or not isinstance(deaths[0], dict):
        if first_queue:
            reason = as_text(headers.get("x-first-death-reason"))
            return Death(queue=first_queue, first_queue=first_queue, reason=reason)
        stated = dead_letter_headers.header_death(headers)
        return Death(**stated) if stated else None
    d = deaths[0]
    keys = d.get("routing-keys")
    return Death(
        reason=as_text(d.get("reason")),
        queue=as_text(d.get("queue")),
        exchange=as_text(d.get("exchange")),
        routing_keys=[str(k) for k in keys] if isinstance(keys, list) else [],
        count=as_int(d.get("count")),
        time=as_timestamp(d.get("time")),
        first_queue=first_queue or as_text(deaths[-1].get("queue") if isinstance(deaths[-1], dict) else None),
        exception_type=as_text(d.get("exception-type")),
        exception_message=as_text(d.get("exception-message")),
        traceback=as_text(d.get("traceback")),
    )


def dead_lettered_from(raw: RawMessage) -> str | None:
    """The queue a requeue returns this message to: the queue of its newest death, else the
    first death's queue (what :func:`death_record` says, without building the whole record: a
    requeue asks this of every message it moves)."""
    headers = raw.headers
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        newest = as_text(deaths[0].get("queue"))
        if newest:
            return newest
        first = as_text(headers.get("x-first-death-queue"))
        if first:
            return first
        return as_text(deaths[-1].get("queue")) if isinstance(deaths[-1], dict) else None
    return as_text(headers.get("x-first-death-queue")) or dead_letter_headers.original_topic(headers)


def exception_type(raw: RawMessage) -> str | None:
    death = death_record(raw.headers)
    return death.exception_type if death else None


def published_at(raw: RawMessage) -> float | None:
    stamped = as_float(raw.headers.get("x-switchyard-published-at"))
    if stamped is not None:
        return stamped
    return as_timestamp(raw.properties.get("timestamp"))


def task_name(raw: RawMessage) -> str | None:
    name = as_text(raw.headers.get("task"))
    if name:
        return name
    text = _utf8(raw.body[:4096]) if raw.body[:1] == b"{" else None
    if text is None:
        return None
    parsed = _json(_utf8(raw.body) or "")
    return as_text(parsed.get("task")) if isinstance(parsed, dict) else None


def _celery_task_id(raw: RawMessage) -> str | None:
    task_id = as_text(raw.headers.get("id"))
    if task_id and raw.headers.get("task"):
        return task_id
    corr = raw.properties.get("correlation_id")
    if isinstance(corr, str) and corr and raw.headers.get("task"):
        return corr
    return None


def _v1_task_id(raw: RawMessage) -> str | None:
    """Celery protocol 1 keeps the id in the JSON body."""
    if raw.body[:1] != b"{" or raw.headers.get("task"):
        return None
    content_type = (raw.content_type or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        return None
    parsed = _json(_utf8(raw.body) or "")
    if isinstance(parsed, dict) and isinstance(parsed.get("task"), str) and "id" in parsed:
        return as_text(parsed.get("id"))
    return None


def escaped_bytes(data: bytes) -> str:
    """Binary as printable text: ASCII kept, everything else as \\xNN (for display only)."""
    return data.decode("ascii", "backslashreplace").encode("ascii", "backslashreplace").decode("ascii")


def hex_dump(data: bytes, limit: int = 4096) -> str:
    chunk = data[:limit]
    lines = [f"{i:08x}  {chunk[i : i + 16].hex(' ')}" for i in range(0, len(chunk), 16)]
    return "\n".join(lines)


_NOTHING = object()


def _display_body(data: bytes, kind: str) -> tuple[str | None, str, bool]:
    truncated = len(data) > DISPLAY_LIMIT
    shown = data[:DISPLAY_LIMIT]
    if kind in ("json", "text", "celery-v1", "celery-v2"):
        text = _utf8(shown) or shown.decode("utf-8", "ignore")
        return text, "utf-8", truncated
    return base64.b64encode(shown).decode("ascii"), "base64", truncated


def _utf8(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Control characters other than whitespace mean binary that happens to be valid UTF-8.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text[:4096]):
        return None
    return text


def _json(text: str) -> Any:
    """Parsed JSON, or _NOTHING. NaN/Infinity stay strings (strict JSON renderers refuse the
    floats); nesting too deep for the parser is "not JSON" rather than a RecursionError."""
    try:
        return json.loads(text, parse_constant=str)
    except (ValueError, RecursionError):
        return _NOTHING


#: Arguments nested deeper than this are cut: deeper values would break every recursive consumer
#: (dataclasses.asdict, JSON renderers, templates) long before Python's recursion limit.
MAX_NESTING = 32


def _bounded_value(value: Any) -> Any:
    """Arguments as shown: nesting cut at MAX_NESTING levels and at most DISPLAY_LIMIT bytes of
    JSON (the raw download has all of it)."""
    bounded = _cut_nesting(value, 0)
    try:
        size = len(json.dumps(bounded, default=str))
    except (ValueError, RecursionError):  # pragma: no cover - _cut_nesting already made it safe
        return "… (not shown)"
    if size > DISPLAY_LIMIT:
        return f"… ({size} bytes of arguments, more than shown here: download the raw message)"
    return bounded


def _cut_nesting(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list):
        if depth >= MAX_NESTING:
            return f"… (nested deeper than {MAX_NESTING} levels)"
        if isinstance(value, dict):
            return {str(k): _cut_nesting(v, depth + 1) for k, v in value.items()}
        return [_cut_nesting(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # 1e999 parses as infinity, which is not JSON
    return value


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Headers as JSON-ready values (py-amqp gives datetimes and bytes)."""
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return escaped_bytes(bytes(value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/Infinity are not JSON
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)

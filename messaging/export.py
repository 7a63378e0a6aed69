"""Exporting a queue's messages as JSON Lines, streamed, in bounded memory.

One line per message: ``{"position", "id", "raw", "raw_encoding": "base64", "truncated",
"message": {decoded fields}}`` where ``raw`` is the exact stored envelope (Redis) or body
(RabbitMQ) in base64, then one last line ``{"summary": {...}}`` (scanned N of M, exported, and
why it stopped short). The scan is :func:`messaging.search.scan`: pages of a few hundred
messages where reading is free, so 100,000 messages export in the memory of one page; where
reading takes and requeues (RabbitMQ), one requeue-safe read within the adapter's browse window
that leaves every message in its queue (redelivered), the summary saying when it was truncated.

Every export is audited when it ends (finished, failed or cut off by the client): the filter and
the count exported.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import orjson

from messaging import audit, decoding
from messaging.actions.selection import selector_for
from messaging.search import ScanReport, scan

log = logging.getLogger(__name__)

#: The most messages one export reads where reading is free.
MAX_EXPORT = 1_000_000
#: Lines are sent in chunks of about this many bytes (fewer, larger writes to the client).
CHUNK_BYTES = 256 * 1024


def export_lines(
    queue: Any,
    selection: dict[str, Any],
    *,
    user: Any,
    limit: int = MAX_EXPORT,
    accept_delivery_limit_risk: bool = False,
) -> Iterator[bytes]:
    """JSON Lines of the messages ``selection`` takes (a checked selection; ``{"all": True}`` for
    every message), for roles that read bodies. Reads the first page now, so refusals
    (:class:`~messaging.browsing.BrowseRefused`, BrokerError) are raised here, before a response
    starts; a broker fault later ends the stream with a summary saying so."""
    report = ScanReport()
    messages = scan(queue, limit, report, user=user, accept_delivery_limit_risk=accept_delivery_limit_risk)
    first = next(messages, None)
    return _stream(queue, selection, user, report, first, messages)


def _stream(
    queue: Any, selection: dict[str, Any], user: Any, report: ScanReport, first: Any, messages: Iterator[Any]
) -> Iterator[bytes]:
    matches = selector_for(selection)
    error = ""
    chunk: list[bytes] = []
    size = 0
    try:
        raw = first
        while raw is not None:
            if matches(raw):
                report.matched += 1
                line = _line(raw)
                chunk.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield b"".join(chunk)
                    chunk, size = [], 0
            raw = next(messages, None)
    except Exception as exc:  # the response has started: say it in the stream, not as a 500
        log.warning("export of %s stopped: %s", queue.name, exc)
        error = f"stopped by an error: {type(exc).__name__}: {exc}"
    finally:
        # Also when the client goes away mid-stream (GeneratorExit): what was sent is audited.
        _audit(user, queue, selection, report, error)
    summary = {**report.as_dict(), "exported": report.matched, "error": error or None}
    yield b"".join(chunk) + orjson.dumps({"summary": summary}) + b"\n"


def _line(raw: Any) -> bytes:
    row = {
        "position": raw.position,
        "id": None,
        "raw": base64.b64encode(raw.raw).decode("ascii"),
        "raw_encoding": "base64",
        "truncated": bool(raw.truncated),
        "message": None,
    }
    fast = _celery_fields(raw)
    if fast is not None:
        row["id"], row["message"] = fast["id"], fast
        try:
            return orjson.dumps(row) + b"\n"
        except (TypeError, orjson.JSONEncodeError):  # lone surrogates, huge integers: decode fully
            pass
    decoded = decoding.decode(raw)
    fields = {**vars(decoded), "death": vars(decoded.death) if decoded.death else None}
    for name in SHOWN_ONLY:
        fields.pop(name, None)
    row["id"], row["message"] = decoded.id, fields
    return orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"


#: Decoded fields left out of an export: the body as the browser shows it (``raw`` has it whole).
SHOWN_ONLY = ("body", "body_encoding")


def _celery_fields(raw: Any) -> dict[str, Any] | None:
    """The decoded fields of a Celery protocol 2 JSON message without the browser's display
    work (cutting long values for the page, replacing lone surrogates): most of a 100,000-message
    export's time otherwise. None for any other message (it takes :func:`decoding.decode`)."""
    headers = raw.headers
    task, task_id = headers.get("task"), headers.get("id")
    if not isinstance(task, str) or not isinstance(task_id, str) or raw.content_type != "application/json":
        return None
    try:
        parsed = orjson.loads(raw.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or len(parsed) < 2:
        return None
    death = decoding.death_record(headers)
    return {
        "id": task_id,
        "position": raw.position,
        "kind": "celery-v2",
        "task": task,
        "task_id": task_id,
        "args": parsed[0],
        "kwargs": parsed[1],
        "headers": headers,
        "content_type": raw.content_type,
        "size_bytes": raw.size_bytes if raw.size_bytes else len(raw.raw),
        "truncated": bool(raw.truncated),
        "redelivered": raw.redelivered,
        "death": vars(death) if death else None,
        "retries": headers.get("retries"),
        "eta": headers.get("eta"),
        "origin": headers.get("origin"),
        "published_at": decoding.published_at(raw),
        "requeued_by": headers.get("x-switchyard-requeued-by"),
    }


def _audit(user: Any, queue: Any, selection: dict[str, Any], report: ScanReport, error: str) -> None:
    outcome = f"exported {report.matched} message(s); {report.said()}"
    if error:
        outcome += f"; {error}"
    audit.record(
        user,
        "export",
        broker=queue.broker,
        queue=queue.name,
        params={
            "selection": _shown(selection),
            "exported": report.matched,
            "scanned": report.scanned,
            "total": report.total,
            "truncated": report.truncated,
        },
        outcome=outcome,
    )


def _shown(selection: dict[str, Any]) -> dict[str, Any]:
    ids = selection.get("ids")
    if ids is not None and len(ids) > 100:
        return {**selection, "ids": [*ids[:100], f"... {len(ids) - 100} more"]}
    return selection

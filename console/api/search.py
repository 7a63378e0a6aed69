"""Searching and exporting a queue's messages (docs/api.md, "Search and export").

Both take the actions' filter (``messaging.actions.selection``) as flat fields: query parameters
on a GET, a JSON or form body on a POST. Both stream JSON Lines. Where reading changes the broker
(RabbitMQ), a session must POST (CSRF) and only operators may; a token may GET.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import MethodNotAllowed, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from console.api.messages import CONSENT, _browse_consumes, _by_token
from console.api.permissions import IsOperator, IsViewer
from console.api.queues import get_queue_or_404
from console.roles import can_read_bodies
from messaging import export, search
from messaging.actions.selection import AGE_KEYS, FILTER_KEYS, TEXT_KEYS, parse_selection, reads_bodies

JSON_LINES = "application/x-ndjson"
FILTER_PARAMETERS = [
    OpenApiParameter("task", str, description="task name"),
    OpenApiParameter("task_id", str, description="task (message) id"),
    OpenApiParameter("exception", str, description="exception type, e.g. ValueError"),
    OpenApiParameter("exception_message", str, description="text in the exception's message (operators)"),
    OpenApiParameter("text", str, description="text in the args or kwargs (operators)"),
    OpenApiParameter("header", str, description='"name" or "name=value" (operators)'),
    OpenApiParameter("older_than_s", float, description="at least this old"),
    OpenApiParameter("newer_than_s", float, description="at most this old"),
    OpenApiParameter("id", str, many=True, description="message ids (instead of a filter)"),
    OpenApiParameter("accept_delivery_limit_risk", bool, description="as for browsing"),
]


def _selection(data: Any) -> dict[str, Any]:
    """The selection from flat fields: ``id`` (repeated) or filter keys; neither: every message."""
    ids = data.getlist("id") if hasattr(data, "getlist") else data.get("id")
    flt: dict[str, Any] = {}
    for key in TEXT_KEYS + ("header",):
        if data.get(key) not in (None, ""):
            flt[key] = data.get(key)
    for key in AGE_KEYS:
        if data.get(key) not in (None, ""):
            try:
                flt[key] = float(data.get(key))
            except (TypeError, ValueError):
                raise ValidationError({key: "a number of seconds"}) from None
    unknown = {k for k in data if k not in FILTER_KEYS | {"id", "limit", "accept_delivery_limit_risk"}}
    if unknown:
        raise ValidationError({name: "not a filter field" for name in sorted(unknown)})
    if ids and flt:
        raise ValidationError("choose ids (id=...) or filter fields, not both")
    if isinstance(ids, str):
        ids = [ids]
    return parse_selection(ids or None, True if not ids and not flt else None, flt or None)


def _accepts_risk(data: Any) -> bool:
    return str(data.get("accept_delivery_limit_risk", "")).lower() in ("1", "true", "yes", "on")


def _limit(data: Any) -> int:
    raw = data.get("limit")
    if raw in (None, ""):
        return search.DEFAULT_SCAN
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"limit": "a whole number of messages to scan"}) from None
    if not 1 <= value <= search.MAX_SCAN:
        raise ValidationError({"limit": f"between 1 and {search.MAX_SCAN}"})
    return value


def _json_lines(request: Request, lines: Iterator[bytes], filename: str | None = None) -> StreamingHttpResponse:
    """A streamed JSON Lines answer. Under ASGI Django would read a sync iterator whole into a list
    before sending anything (100,000 messages in memory): it gets an async iterator instead."""
    if isinstance(request._request, ASGIRequest):
        lines = _one_chunk_at_a_time(lines)
    response = StreamingHttpResponse(lines, content_type=JSON_LINES)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def _one_chunk_at_a_time(lines: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``lines`` pulled one chunk at a time in Django's sync thread (database access included);
    closed when the client goes away, so what was sent is still audited."""
    try:
        while True:
            chunk = await sync_to_async(next, thread_sensitive=True)(lines, None)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def _lines(rows):
    for row in rows:
        yield orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n"


class QueueSearch(APIView):
    """Search a queue by any decoded field, streamed as JSON Lines: ``{"message": {...}}`` per
    match as found, then ``{"summary": {scanned, total, matched, truncated, reason, said}}``."""

    permission_classes = [IsViewer]

    @extend_schema(
        summary="Search a queue's messages (bounded scan, streamed JSON Lines)",
        description="Filter fields as for requeue/move filters. `limit`: messages scanned at most "
        f"(default {search.DEFAULT_SCAN}, at most {search.MAX_SCAN}). Content filters (text, exception_message, "
        "header) need a role that reads bodies (403). Where reading changes the broker: " + CONSENT,
        parameters=[*FILTER_PARAMETERS, OpenApiParameter("limit", int, description="messages scanned at most")],
        responses={(200, JSON_LINES): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request, queue_id: str) -> StreamingHttpResponse:
        queue = get_queue_or_404(queue_id)
        if _browse_consumes(request, queue) and not _by_token(request):
            raise MethodNotAllowed("GET", detail="this search changes the broker: " + CONSENT)
        return self._search(request, queue, request.query_params)

    @extend_schema(
        summary="Search where reading changes the broker (operators; CSRF with a session)",
        description="The GET's query parameters as a JSON or form object.",
        request=OpenApiTypes.OBJECT,
        responses={(200, JSON_LINES): OpenApiResponse(OpenApiTypes.STR)},
    )
    def post(self, request: Request, queue_id: str) -> StreamingHttpResponse:
        queue = get_queue_or_404(queue_id)
        _browse_consumes(request, queue)
        if not hasattr(request.data, "get"):
            raise ValidationError("the body must be an object of filter fields")
        return self._search(request, queue, request.data)

    def _search(self, request: Request, queue, data: Any) -> StreamingHttpResponse:
        selection = _selection(data)
        bodies = can_read_bodies(request.user)
        if reads_bodies(selection) and not bodies:
            raise PermissionDenied("filters on message content (text, exception_message, header) need an operator")
        rows = search.search(
            queue, selection, _limit(data), bodies, user=request.user, accept_delivery_limit_risk=_accepts_risk(data)
        )
        first = next(rows)  # refusals (window, risk, unreachable broker) answer here, not mid-stream
        return _json_lines(request, _lines(_chain(first, rows)))


class QueueExport(APIView):
    """Export a queue's messages as JSON Lines (operators and admins), streamed, audited."""

    permission_classes = [IsOperator]

    @extend_schema(
        summary="Export messages as JSON Lines (raw envelope in base64 plus decoded fields)",
        description="Every message, or those the ids or filter fields select. One line per message, then "
        '`{"summary": ...}`. Where reading changes the broker, at most its browse window is read (the '
        "summary says `truncated`) and every message stays in the queue. " + CONSENT,
        parameters=FILTER_PARAMETERS,
        responses={(200, JSON_LINES): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request: Request, queue_id: str) -> StreamingHttpResponse:
        queue = get_queue_or_404(queue_id)
        if _browse_consumes(request, queue) and not _by_token(request):
            raise MethodNotAllowed("GET", detail="this export changes the broker: " + CONSENT)
        return self._export(request, queue, request.query_params)

    @extend_schema(
        summary="Export where reading changes the broker (operators; CSRF with a session)",
        description="The GET's query parameters as a JSON or form object.",
        request=OpenApiTypes.OBJECT,
        responses={(200, JSON_LINES): OpenApiResponse(OpenApiTypes.STR)},
    )
    def post(self, request: Request, queue_id: str) -> StreamingHttpResponse:
        queue = get_queue_or_404(queue_id)
        if not hasattr(request.data, "get"):
            raise ValidationError("the body must be an object of filter fields")
        return self._export(request, queue, request.data)

    def _export(self, request: Request, queue, data: Any) -> StreamingHttpResponse:
        fields = {k: v for k, v in data.items() if k not in ("csrfmiddlewaretoken",)} if hasattr(data, "items") else {}
        if hasattr(data, "getlist") and "id" in data:
            fields["id"] = data.getlist("id")
        lines = export.export_lines(
            queue, _selection(fields), user=request.user, accept_delivery_limit_risk=_accepts_risk(data)
        )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in queue.name)[:80]
        return _json_lines(request, lines, filename=f"{safe}.jsonl")


def _chain(first, rest):
    yield first
    yield from rest

"""Kombu's Redis layout as data: key names, binding tables, the query options of a URL, and what
an ``unacked`` entry says. Pure functions; the adapter (``broker.py``) does the I/O."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from messaging.brokers.base import QueueStats
from messaging.brokers.kombu_routes import Routes

PUBLISHED_AT_HEADER = "x-switchyard-published-at"
BINDING_PREFIX = "_kombu.binding."
#: Exchanges whose queues Kombu serves over PUB/SUB on Redis (remote control and Celery events):
#: their queues never hold a list, so discovery skips them unless they are known queues.
PUBSUB_EXCHANGES = frozenset({"celery.pidbox", "celeryev"})
#: Celery's remote-control replies: one short-lived queue per inspecting client (Switchyard's own
#: inspector among them). They are plumbing, not work: discovery skips them too.
CONTROL_REPLY_EXCHANGES = frozenset({"reply.celery.pidbox"})
#: The Switchyard DLQ integration LPUSHes failures to ``<queue>.dlq`` without a binding, so
#: sampling also looks for that key beside every queue and reports it when it holds messages.
DLQ_SUFFIX = ".dlq"
#: Options read from the URL's query string (and removed before redis-py sees the URL).
URL_OPTIONS = ("global_keyprefix",)


def attribute_unacked(stats: list[QueueStats], groups: Any, routes: Routes | None) -> str | None:
    """Give each queue its in-flight count from the script's (exchange, key, count) groups;
    ``routes`` may be None when there are none."""
    if groups is None:
        return None
    by_name = {s.name: s for s in stats}
    for s in stats:
        s.unacked = 0
    lost = 0
    for i in range(0, len(groups), 3):
        exchange, routing_key, count = groups[i : i + 3]
        queue = None
        if exchange is not None and routing_key is not None and routes is not None:
            queue = routes.queue_for(json_text(exchange), json_text(routing_key), by_name)
        if queue in by_name:
            by_name[queue].unacked += count  # type: ignore[operator]
        else:
            lost += count
    if lost:
        return f"{lost} in-flight messages could not be attributed to a queue"
    return None


def bound_names(tables: dict[str, list[tuple[str, str, str]]]) -> list[str]:
    """Queues named by Kombu's binding tables, less Celery's plumbing (events, remote control)."""
    names: dict[str, None] = {}
    for exchange, rows in tables.items():
        if exchange not in PUBSUB_EXCHANGES and exchange not in CONTROL_REPLY_EXCHANGES:
            names.update(dict.fromkeys(q for _, _, q in rows if q))
    return list(names)


def parse_binding_tables(
    keys: list[bytes], members: list[Any], head: int, sep: str
) -> dict[str, list[tuple[str, str, str]]]:
    """Exchange -> sorted [(routing_key, pattern, queue)] from the binding-table ``keys`` and each
    one's members (None for a key that is not a set: not Kombu's); ``head`` is the length of the
    key prefix before the exchange's name."""
    tables: dict[str, list[tuple[str, str, str]]] = {}
    for key, rows in zip(keys, members, strict=True):
        if rows is None:
            continue
        parsed = [tuple(text_of(m).split(sep)) for m in rows]
        tables[text_of(key[head:])] = sorted(r for r in parsed if len(r) == 3)  # type: ignore[misc]
    return tables


def split_url_options(url: str) -> tuple[str, dict[str, str]]:
    """The URL without Switchyard's query options, and those options."""
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in URL_OPTIONS}
    rest = urlencode([(k, v) for k, v in pairs if k not in URL_OPTIONS])
    return urlunsplit(parts._replace(query=rest)), ours


def glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def text_of(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def json_text(escaped: bytes) -> str:
    """A JSON string's content as Lua cut it out (still escaped), decoded."""
    try:
        return json.loads(b'"' + escaped + b'"')
    except ValueError:
        return text_of(escaped)


def in_flight_origin(value: bytes, routes: Routes) -> tuple[str | None, str | None, str | None]:
    """The queue a restore returns an ``unacked`` entry to (by its exchange and routing key),
    and the Celery task name and id it carries; Nones where the entry does not say."""
    try:
        message, exchange, routing_key = json.loads(value)
        headers = message.get("headers") or {}
    except (ValueError, TypeError, AttributeError):
        return None, None, None
    queue = routes.queue_for(str(exchange or ""), str(routing_key or ""), set())
    task = headers.get("task") if isinstance(headers.get("task"), str) else None
    task_id = headers.get("id") if isinstance(headers.get("id"), str) else None
    return queue, task, task_id

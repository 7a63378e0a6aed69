"""Kombu's virtual routing on Redis, read back: which queue a message went to. Pure, no I/O.

Binding rows are ``(routing_key, pattern, queue)`` as Kombu stores them in ``_kombu.binding.*``:
topic bindings carry Kombu's regex ``pattern``, the others match the routing key exactly.
"""

from __future__ import annotations

import re
from collections.abc import Container

BindingRow = tuple[str, str, str]


class Routes:
    """Bindings indexed once per sample, so placing N messages costs N lookups, not N x B."""

    def __init__(self, tables: dict[str, list[BindingRow]]) -> None:
        self.exact: dict[str, dict[str, set[str]]] = {}
        self.patterns: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        for exchange, rows in tables.items():
            for key, pattern, queue in rows:
                if not pattern:
                    self.exact.setdefault(exchange, {}).setdefault(key, set()).add(queue)
                    continue
                try:
                    compiled = re.compile(pattern)
                except re.error:
                    continue
                self.patterns.setdefault(exchange, []).append((compiled, queue))

    def queue_for(self, exchange: str, routing_key: str, queues: Container[str]) -> str | None:
        """The one queue a message published to ``exchange`` with ``routing_key`` went to.

        The default exchange routes by queue name. When the bindings name several queues the
        message was copied to each and this copy cannot be placed: None. Without any matching
        binding (table swept or never written) a routing key naming a known queue is taken as
        the queue, which is how Celery routes by default.
        """
        if not exchange:
            return routing_key or None
        matched = set(self.exact.get(exchange, {}).get(routing_key, ()))
        matched.update(q for rx, q in self.patterns.get(exchange, ()) if rx.match(routing_key))
        if len(matched) == 1:
            return matched.pop()
        if not matched and routing_key in queues:
            return routing_key
        return None

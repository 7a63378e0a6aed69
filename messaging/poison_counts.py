"""Poison messages counted per dead-letter queue: a bounded scan of the oldest messages, only
where reading is free (the adapter's peek changes nothing: ``browse_consumes`` False), kept in the
cache for a short while.

Where a browse takes and requeues every message (RabbitMQ), nothing counts them unasked: the count
is unknown (``None``) and the browser flags the poison messages of each page an operator browses.
A scan looks at the oldest :data:`SCAN_LIMIT` messages; of a longer queue the count is a floor
("at least", ``complete`` False). Who asks: the queue page of a DLQ, and the alert engine after a
broker's sample while an enabled rule watches ``poison_messages``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import cache

from messaging import browsing, poison
from messaging.brokers.base import BrokerError
from messaging.errors import unaddressable
from messaging.models import AlertRule, Queue
from messaging.process_config import broker_named

log = logging.getLogger(__name__)

SCAN_LIMIT = 1000
FRESH_FOR_S = 30.0


@dataclass(frozen=True)
class PoisonCount:
    count: int
    scanned: int
    depth: int
    complete: bool
    at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key(queue: Queue) -> str:
    return f"switchyard:poison-count:{queue.pk}"


def stored(queue: Queue) -> PoisonCount | None:
    """The last count of ``queue``, or None."""
    value = cache.get(_key(queue))
    return PoisonCount(**value) if isinstance(value, dict) else None


def count(queue: Queue, max_age_s: float = FRESH_FOR_S) -> PoisonCount | None:
    """The poison messages among the oldest :data:`SCAN_LIMIT` of ``queue`` (a fresh stored count
    when there is one); None where a scan would change the broker, or the broker cannot be read."""
    known = stored(queue)
    if known is not None and time.time() - known.at < max_age_s:
        return known
    if not queue.present or browsing.browse_consumes(queue):
        return None
    limit = poison.threshold()
    if limit <= 0:
        return None
    try:
        with broker_named(queue.broker) as broker:
            if unaddressable(broker, queue):
                return None
            depth, raws = broker.peek(queue.name, offset=0, limit=SCAN_LIMIT)
    except BrokerError as exc:
        log.info("poison count of %s on %s: %s", queue.name, queue.broker, exc)
        return None
    found = PoisonCount(
        count=sum(1 for raw in raws if poison.is_poison(raw, limit)),
        scanned=len(raws),
        depth=depth,
        complete=len(raws) >= depth,
        at=time.time(),
    )
    cache.set(_key(queue), found.as_dict(), timeout=3600)
    return found


def refresh_for_rules(broker: str) -> int:
    """Count the DLQs of ``broker`` while an enabled rule watches ``poison_messages``; how many
    were counted. Called by the alert engine after each sample, outside the evaluation lock."""
    if not AlertRule.objects.filter(enabled=True, metric="poison_messages").exists():
        return 0
    counted = 0
    for queue in Queue.objects.filter(broker=broker, is_dlq=True, present=True):
        if count(queue) is not None:
            counted += 1
    return counted


def figure(queue_id: int) -> float | None:
    """The stored count of the queue with this id as an alert figure (None: unknown)."""
    value = cache.get(f"switchyard:poison-count:{queue_id}")
    return float(value["count"]) if isinstance(value, dict) else None

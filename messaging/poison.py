"""Poison messages: messages that have died again and again. Pure functions, no I/O.

A message's deaths are the sum of the counts of its ``x-death`` entries (RabbitMQ bumps an entry's
count each time the message dies again from the same queue for the same reason; the Celery DLQ
integration writes the same shape on Redis), or a generic ``ApproximateReceiveCount`` a publisher
or adapter puts in the headers or properties. SQS's own receive count is not a death count (see
:data:`SQS_RECEIVE_COUNT`). A message with at least ``SWITCHYARD_POISON_DEATHS`` deaths is poison: requeueing it again
is unlikely to help, so a requeue of all or of filtered messages leaves it where it is unless the
operator includes it (``include_poison``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from messaging.brokers.base import RawMessage
from messaging.header_values import as_int

RECEIVE_COUNT_KEYS = ("ApproximateReceiveCount", "approximate_receive_count")
#: The SQS adapter's header is NOT a death count and is not read here: every message SQS
#: dead-letters has been received maxReceiveCount times (3-5 typically) and each one died once, so
#: counting receives would mark every real SQS dead letter poison and a requeue of all would move
#: none of them. A redrive sends a new message, whose receive count starts again at 0.
SQS_RECEIVE_COUNT = "x-sqs-approximate-receive-count"


def threshold() -> int:
    """Deaths that make a message poison; 0 when detection is off."""
    return int(getattr(settings, "SWITCHYARD_POISON_DEATHS", 3))


def death_count(headers: dict[str, Any], properties: dict[str, Any] | None = None) -> int:
    """How many times the message has died (0 when nothing says so)."""
    deaths = headers.get("x-death")
    total = 0
    if isinstance(deaths, list):
        for entry in deaths[:100]:
            count = as_int(entry.get("count")) if isinstance(entry, dict) else None
            total += max(count or 0, 0)
    for source in (headers, properties or {}):
        for key in RECEIVE_COUNT_KEYS:
            value = source.get(key)
            if value is None:  # the usual case: a replay or move asks this for every message
                continue
            received = _count(value)
            if received is not None and received > total:
                total = received
    return total


def _count(value: Any) -> int | None:
    """A count as an integer or a string of digits (SQS attributes are strings)."""
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return as_int(value)


def is_poison(message: RawMessage, limit: int | None = None) -> bool:
    limit = threshold() if limit is None else limit
    return limit > 0 and death_count(message.headers, message.properties) >= limit


def excluding_poison(selector: Callable[[RawMessage], bool], limit: int) -> Callable[[RawMessage], bool]:
    """``selector`` that also leaves poison messages out."""
    if limit <= 0:
        return selector
    return lambda message: selector(message) and death_count(message.headers, message.properties) < limit


def decoded_deaths(message: Any) -> int:
    """:func:`death_count` of a browsed message (``DecodedMessage``), also as a viewer sees it:
    without ``x-death`` in its headers, the newest death record's count stands in."""
    headers = message.headers if isinstance(message.headers, dict) else {}
    counted = death_count(headers)
    if counted == 0 and message.death is not None and message.death.count:
        counted = max(message.death.count, 0)
    return counted


def flags(message: Any, limit: int | None = None) -> dict[str, Any]:
    """``{"deaths", "poison"}`` of a browsed message, as the API and the browser show them."""
    limit = threshold() if limit is None else limit
    deaths = decoded_deaths(message)
    return {"deaths": deaths, "poison": limit > 0 and deaths >= limit}

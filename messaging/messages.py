"""Browsing a queue's messages without consuming them, decoded for the operator.

Redis browsing is free (LRANGE). RabbitMQ browsing is a get-with-requeue: messages go back, but
their order and ``redelivered`` flag may change and, on quorum queues, each browse counts toward
the delivery limit. Pages ask the operator before they browse RabbitMQ; the API treats the
request as consent (CONTRACT.md documents it).
"""

from __future__ import annotations

from typing import Any

from messaging import decoding
from messaging.brokers.base import RawMessage
from messaging.models import Queue

MAX_LIMIT = 200
#: How far a raw download looks for a message whose position moved.
FIND_WINDOW = 1000
BROWSE_WARNING = (
    "Browsing RabbitMQ takes each message and puts it back (get with requeue): the order may "
    "change, the messages are marked redelivered, and on quorum queues each browse counts toward "
    "the delivery limit, which can dead-letter or drop them."
)


def browse_is_free(queue: Queue) -> bool:
    from messaging.process_config import broker_config

    return broker_config(queue.broker).scheme in ("redis", "rediss")


def browse(queue: Queue, offset: int, limit: int, can_read_bodies: bool) -> tuple[int, list[decoding.DecodedMessage]]:
    """``(count, messages)`` from the oldest end, decoded, as the role may see them."""
    from messaging.process_config import broker_named

    broker = broker_named(queue.broker)
    try:
        count, raws = broker.peek(queue.name, offset=offset, limit=min(limit, MAX_LIMIT))
    finally:
        broker.close()
    return count, [decoding.decode(raw).for_role(can_read_bodies) for raw in raws]


def find_raw(queue: Queue, message_id: str, position: int | None) -> RawMessage | None:
    """The message with this id, looked for at ``position`` first, then among the oldest
    :data:`FIND_WINDOW`. None when it is gone."""
    from messaging.process_config import broker_named

    broker = broker_named(queue.broker)
    try:
        if position is not None and position >= 0:
            _, near = broker.peek(queue.name, offset=position, limit=1)
            for raw in near:
                if _matches(raw, message_id):
                    return raw
        for offset in range(0, FIND_WINDOW, 100):
            _, page = broker.peek(queue.name, offset=offset, limit=100)
            for raw in page:
                if _matches(raw, message_id):
                    return raw
            if len(page) < 100:
                break
    finally:
        broker.close()
    return None


def _matches(raw: RawMessage, message_id: str) -> bool:
    return decoding.message_id(raw) == message_id or "sha1:" + decoding.digest(raw) == message_id


def message_json(message: decoding.DecodedMessage) -> dict[str, Any]:
    data = message.as_dict()
    return data

"""A RabbitMQ move's view of one delivered message: its identity (what recognises a re-delivered
copy of a moved message), the :class:`RawMessage` a selector sees, and the message made ready to
publish again."""

from __future__ import annotations

import hashlib
from typing import Any

import amqp
import orjson

from messaging.brokers.base import RawMessage
from messaging.brokers.moves import Rewritten

PASSED_PROPERTIES = (
    "content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
    "expiration", "message_id", "timestamp", "type", "app_id",
)  # fmt: skip
# Headers the broker sets on each delivery: a re-delivered copy differs in them.
DELIVERY_HEADERS = frozenset({"x-delivery-count", "x-stream-offset"})


def move_identity(message: amqp.Message) -> str:
    """The identity that recognises a re-delivered copy of a moved message: 128 bits of BLAKE2b
    over the body, the headers (but those the broker sets per delivery) and the properties that
    are republished, so a Celery task id, ``message_id`` and ``correlation_id`` are in it. A
    re-delivery carries the stored bytes again, so header order is the same; only byte-identical
    copies share an identity."""
    properties = message.properties
    headers = properties.get("application_headers") or {}
    described = (
        sorted((k, v) for k, v in headers.items() if k not in DELIVERY_HEADERS),
        [(k, properties.get(k)) for k in PASSED_PROPERTIES],
    )
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    digest = hashlib.blake2b(body, digest_size=16)
    try:
        # orjson, not repr(): repr of the headers was a sixth of a RabbitMQ move's own time.
        digest.update(orjson.dumps(described, default=_tagged))
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        digest.update(b"repr:" + repr(described).encode())
    return digest.hexdigest()


def _tagged(value: Any) -> list[str]:
    """A header value JSON has no type for (bytes, Decimal...), tagged with its type so that it
    never writes the same as a string."""
    return [f"<{type(value).__name__}>", value.hex() if isinstance(value, bytes) else repr(value)]


def raw_message(message: amqp.Message, queue: str, position: int) -> RawMessage:
    properties = dict(message.properties)
    headers = properties.pop("application_headers", None) or {}
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    return RawMessage(
        raw=body,
        position=position,
        queue=queue,
        body=body,
        headers=dict(headers),
        properties=properties,
        content_type=properties.get("content_type"),
        content_encoding=properties.get("content_encoding"),
        redelivered=bool(message.delivery_info.get("redelivered")),
    )


def republished(message: amqp.Message, added: dict[str, Any] | None) -> amqp.Message:
    """The delivered message made ready to publish again, in place (copying every message cost
    more than the rest of the move): same body and properties (never ``user_id``: the broker
    checks it against the publishing user), headers plus ``added``."""
    properties = message.properties
    for name in [k for k in properties if k not in PASSED_PROPERTIES and k != "application_headers"]:
        del properties[name]
    if added:
        properties["application_headers"] = {**(properties.get("application_headers") or {}), **added}
    return message


def rewrite(message: amqp.Message, rewritten: Rewritten | None) -> None:
    """An edit-then-requeue's new body and headers on the delivered message, in place (``None``:
    unchanged). The selector only takes messages the edit can rewrite."""
    if rewritten is not None:
        message.body = rewritten.body
        message.properties["application_headers"] = dict(rewritten.headers)

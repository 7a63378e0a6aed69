"""An SQS message as the rest of Switchyard sees it, and made ready to send again.

Kombu's SQS transport sends each message as its JSON envelope (``body``, ``headers``,
``properties``...), base64-encoded by default (``sqs_base64_encoding``): both forms are read, never
unpickled. What SQS itself knows (message id, receive count, sent time, FIFO group and
deduplication ids, message attributes) is shown as ``x-sqs-*`` headers next to the envelope's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from messaging.brokers.base import RawMessage
from messaging.brokers.envelope import decode_envelope

#: SQS remembers a FIFO deduplication id for five minutes; a little margin for clock skew.
DEDUPLICATION_WINDOW_S = 5 * 60 + 30
#: SQS accepts at most ten message attributes per message.
MAX_ATTRIBUTES = 10
ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")


def unwrap_body(body: str) -> tuple[bytes, bool]:
    """The stored Kombu envelope bytes, and whether they came base64-encoded (Kombu's default)."""
    data = body.encode("utf-8", "surrogatepass")
    stripped = data.strip()
    if stripped[:1] in (b"{", b"["):
        return data, False
    try:
        decoded = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return data, False
    return (decoded, True) if decoded.lstrip()[:1] == b"{" else (data, False)


def raw_message(message: dict[str, Any], queue: str, position: int) -> RawMessage:
    """One ReceiveMessage entry as :class:`RawMessage`; ``raw`` is the body as SQS stores it."""
    stored = str(message.get("Body") or "")
    envelope_bytes, _ = unwrap_body(stored)
    envelope = decode_envelope(envelope_bytes)
    attributes = message.get("Attributes") or {}
    headers = dict(envelope.headers)
    headers.update(sqs_headers(message))
    properties = dict(envelope.properties)
    properties.setdefault("message_id", message.get("MessageId"))
    receive_count = _int(attributes.get("ApproximateReceiveCount"))
    return RawMessage(
        raw=stored.encode("utf-8", "surrogatepass"),
        position=position,
        queue=queue,
        body=envelope.body,
        headers=headers,
        properties=properties,
        content_type=envelope.content_type,
        content_encoding=envelope.content_encoding,
        # Received before this look: the receive that showed it counts once.
        redelivered=receive_count is not None and receive_count > 1,
        size_bytes=len(stored.encode("utf-8", "surrogatepass")),
    )


def sqs_headers(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("Attributes") or {}
    shown: dict[str, Any] = {
        "x-sqs-message-id": message.get("MessageId"),
        "x-sqs-approximate-receive-count": _int(attributes.get("ApproximateReceiveCount")),
        "x-sqs-sent-at": _epoch_ms(attributes.get("SentTimestamp")),
        "x-sqs-first-received-at": _epoch_ms(attributes.get("ApproximateFirstReceiveTimestamp")),
    }
    if attributes.get("MessageGroupId"):
        shown["x-sqs-message-group-id"] = attributes["MessageGroupId"]
        shown["x-sqs-message-deduplication-id"] = attributes.get("MessageDeduplicationId")
        shown["x-sqs-sequence-number"] = attributes.get("SequenceNumber")
    passed = message_attributes(message)
    if passed:
        shown["x-sqs-message-attributes"] = {
            name: value.get("StringValue") if "StringValue" in value else f"<{value.get('DataType')}>"
            for name, value in passed.items()
        }
    return shown


def message_attributes(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's attributes in the form SendMessage takes."""
    found = message.get("MessageAttributes") or {}
    return {
        name: {k: v for k, v in value.items() if k in ATTRIBUTE_FIELDS}
        for name, value in found.items()
        if isinstance(value, dict)
    }


def send_entry(
    message: dict[str, Any], entry_id: str, added: dict[str, Any] | None, fifo_target: bool, action_key: str, now: float
) -> dict[str, Any]:
    """A SendMessageBatch entry carrying ``message`` unchanged but for ``added`` headers (in the
    Kombu envelope where there is one, else as string message attributes while SQS's limit of ten
    leaves room). To a FIFO queue the message keeps its MessageGroupId and MessageDeduplicationId
    (:func:`deduplication_id` says when the latter is derived instead)."""
    body = str(message.get("Body") or "")
    attributes = message_attributes(message)
    if added:
        rewritten = _with_headers(body, added)
        if rewritten is not None:
            body = rewritten
        else:
            for name, value in added.items():
                if len(attributes) < MAX_ATTRIBUTES:
                    attributes.setdefault(name, {"DataType": "String", "StringValue": str(value)})
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo_target:
        sqs = message.get("Attributes") or {}
        entry["MessageGroupId"] = sqs.get("MessageGroupId") or "default"
        entry["MessageDeduplicationId"] = deduplication_id(message, action_key, now)
    return entry


def deduplication_id(message: dict[str, Any], action_key: str, now: float) -> str:
    """The message's own deduplication id once SQS has forgotten it (sent more than five minutes
    ago). A younger one would be taken for its own first send and dropped without an error when
    moved back to the queue it was sent to: it gets one derived from it and the action, the same
    in every run of the action, so a batch sent twice after a crash is still sent once."""
    sqs = message.get("Attributes") or {}
    own = sqs.get("MessageDeduplicationId") or message.get("MessageId") or ""
    sent_ms = _int(sqs.get("SentTimestamp"))
    if own and sent_ms is not None and now - sent_ms / 1000 > DEDUPLICATION_WINDOW_S:
        return str(own)[:128]
    return hashlib.sha256(f"{own}|{action_key}".encode()).hexdigest()


def _with_headers(body: str, added: dict[str, Any]) -> str | None:
    """``body`` with ``added`` merged into its Kombu envelope's headers, encoded as it came;
    None when the body is not a Kombu envelope."""
    envelope_bytes, was_base64 = unwrap_body(body)
    try:
        envelope = json.loads(envelope_bytes)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(envelope, dict) or "body" not in envelope:
        return None
    headers = envelope.get("headers")
    envelope["headers"] = {**(headers if isinstance(headers, dict) else {}), **added}
    text = json.dumps(envelope)
    return base64.b64encode(text.encode()).decode() if was_base64 else text


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _epoch_ms(value: Any) -> float | None:
    ms = _int(value)
    return ms / 1000 if ms is not None else None

"""Reading Kombu's JSON envelope, the way messages sit in Redis lists.

A stored value is ``{"body", "content-encoding", "content-type", "headers", "properties"}``; the
body is base64 when ``properties.body_encoding == "base64"`` (Celery's default). Guarantees: these
functions never raise on any input and never unpickle anything; a value that is not an envelope
(binary, garbage, a bare JSON list) comes back with ``body`` = the raw bytes and empty headers.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Envelope:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    content_encoding: str | None = None
    redelivered: bool = False


def decode_envelope(raw: bytes) -> Envelope:
    """Split a stored Kombu message into its parts; anything unreadable is returned as the body."""
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Envelope(body=raw)
    if not isinstance(envelope, dict) or "body" not in envelope:
        return Envelope(body=raw)
    headers = envelope.get("headers")
    properties = envelope.get("properties")
    headers = headers if isinstance(headers, dict) else {}
    properties = properties if isinstance(properties, dict) else {}
    return Envelope(
        body=_body_bytes(envelope.get("body"), properties.get("body_encoding")),
        headers=headers,
        properties=properties,
        content_type=_str_or_none(envelope.get("content-type")),
        content_encoding=_str_or_none(envelope.get("content-encoding")),
        redelivered=bool(envelope.get("redelivered") or properties.get("redelivered")),
    )


def _body_bytes(body: Any, body_encoding: Any) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        # A body Kombu did not encode as a string (should not happen): keep its JSON form.
        return json.dumps(body).encode()
    if body_encoding == "base64":
        try:
            return base64.b64decode(body.encode("ascii"), validate=False)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            pass
    return body.encode("utf-8", "surrogatepass")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None

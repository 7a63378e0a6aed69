"""Dead-letter records that Kafka frameworks write into record headers: Spring Kafka's
``DeadLetterPublishingRecoverer`` (``kafka_dlt-*``) and Kafka Connect's error reporter
(``__connect.errors.*``). Pure functions, no I/O, for :mod:`messaging.decoding`.

Header values arrive as the Kafka adapter gives them: text where the bytes are UTF-8, integers
for Spring's binary partition/offset/timestamp headers, else bytes. Anything else gives None.
"""

from __future__ import annotations

from typing import Any

from messaging.header_values import as_int, as_text

SPRING = "kafka_dlt-"
CONNECT = "__connect.errors."
#: Spring writes these as big-endian binary numbers (int partition, long offset and timestamp).
SPRING_BINARY_NUMBERS = {
    "kafka_dlt-original-partition": 4,
    "kafka_dlt-original-offset": 8,
    "kafka_dlt-original-timestamp": 8,
}
#: Headers that hold an exception's message or stack trace: content, which viewers do not see.
EXCEPTION_TEXT_HEADERS = frozenset(
    {
        "kafka_dlt-exception-message",
        "kafka_dlt-exception-stacktrace",
        "kafka_dlt-key-exception-message",
        "kafka_dlt-key-exception-stacktrace",
        "__connect.errors.exception.message",
        "__connect.errors.exception.stacktrace",
    }
)


def original_topic(headers: dict[str, Any]) -> str | None:
    """The topic a dead-lettered record came from, as Spring or Kafka Connect recorded it."""
    return as_text(headers.get("kafka_dlt-original-topic")) or as_text(headers.get("__connect.errors.topic"))


def header_death(headers: dict[str, Any]) -> dict[str, Any] | None:
    """The fields of a :class:`messaging.decoding.Death` that Spring's or Connect's headers state,
    or None when the record carries neither."""
    if as_text(headers.get("kafka_dlt-original-topic")) or as_text(headers.get("kafka_dlt-exception-fqcn")):
        return _spring(headers)
    if as_text(headers.get("__connect.errors.topic")) or as_text(headers.get("__connect.errors.exception.class.name")):
        return _connect(headers)
    return None


def _spring(headers: dict[str, Any]) -> dict[str, Any]:
    topic = as_text(headers.get("kafka_dlt-original-topic"))
    timestamp = _number(headers.get("kafka_dlt-original-timestamp"))
    group = as_text(headers.get("kafka_dlt-original-consumer-group"))
    return {
        "reason": "failed in consumer group " + group if group else "failed (Spring Kafka)",
        "queue": topic,
        "first_queue": topic,
        "time": timestamp / 1000 if timestamp is not None else None,
        "exception_type": as_text(headers.get("kafka_dlt-exception-fqcn")),
        "exception_message": as_text(headers.get("kafka_dlt-exception-message")),
        "traceback": as_text(headers.get("kafka_dlt-exception-stacktrace")),
        "partition": _number(headers.get("kafka_dlt-original-partition")),
        "offset": _number(headers.get("kafka_dlt-original-offset")),
    }


def _connect(headers: dict[str, Any]) -> dict[str, Any]:
    topic = as_text(headers.get("__connect.errors.topic"))
    connector = as_text(headers.get("__connect.errors.connector.name"))
    stage = as_text(headers.get("__connect.errors.stage"))
    reason = " ".join(part for part in ("failed in", connector, stage and f"({stage})") if part)
    return {
        "reason": reason if connector or stage else "failed (Kafka Connect)",
        "queue": topic,
        "first_queue": topic,
        "exception_type": as_text(headers.get("__connect.errors.exception.class.name")),
        "exception_message": as_text(headers.get("__connect.errors.exception.message")),
        "traceback": as_text(headers.get("__connect.errors.exception.stacktrace")),
        "partition": _number(headers.get("__connect.errors.partition")),
        "offset": _number(headers.get("__connect.errors.offset")),
    }


def _number(value: Any) -> int | None:
    """Connect writes numbers as text, Spring as binary (already an int from the adapter)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return as_int(value)


def header_value(name: str, value: bytes | None) -> Any:
    """One Kafka header's bytes as shown and read: Spring's binary numbers as integers, UTF-8
    text as a string, anything else as the bytes themselves (the decoder escapes them)."""
    if value is None:
        return None
    width = SPRING_BINARY_NUMBERS.get(name)
    if width is not None and len(value) == width:
        return int.from_bytes(value, "big", signed=True)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value

"""Every field of a decoded message serializes as UTF-8 (issue 19 item 5), and RabbitMQ's
management API rendering of AMQP void reads as None (issue 12 defect 7). Pure unit tests."""

from __future__ import annotations

import json

from messaging import decoding
from messaging.brokers.base import RawMessage
from messaging.brokers.rabbitmq.broker import raw_message
from messaging.stream import encode_for_clients, make_event


def raw(headers: dict, body: bytes = b"[[], {}, {}]", properties: dict | None = None) -> RawMessage:
    return RawMessage(
        raw=body,
        position=0,
        queue="q",
        body=body,
        headers=headers,
        properties=properties or {},
        content_type="application/json",
        content_encoding="utf-8",
    )


def utf8_json(value) -> bytes:
    """What the API, the page and the socket all need: JSON text a UTF-8 encoder accepts."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def test_lone_surrogates_anywhere_become_replacement_characters():
    message = raw(
        {
            "task": "app.\udfff",
            "id": "id-\ud800",
            "x": "\udfff",
            "\ud800key": ["\udc00", {"deep": "\udfff"}],
            "pair": "\ud83d\ude00",
            "eta": "\udfff",
            "origin": "\udfff@host",
            "x-death": [{"queue": "q\udfff", "reason": "rejected", "exception-message": "bad \udfff", "count": 1}],
        },
        body=b'[["\\udfff"], {"\\ud800": "\\udfff"}, {}]',
        properties={"message_id": "m\udfff"},
    )
    decoded = decoding.decode(message)
    data = decoded.as_dict()
    utf8_json(data)  # raised UnicodeEncodeError before
    utf8_json(decoded.for_role(False).as_dict())
    assert decoded.headers["x"] == "\ufffd" and decoded.headers["\ufffdkey"] == ["\ufffd", {"deep": "\ufffd"}]
    assert decoded.headers["pair"] == "\U0001f600"  # a surrogate pair is the character it encodes
    assert decoded.args == ["\ufffd"] and decoded.kwargs == {"\ufffd": "\ufffd"}
    assert decoded.task == "app.\ufffd" and decoded.id == "id-\ufffd" and decoded.eta == "\ufffd"
    assert decoded.death.queue == "q\ufffd" and decoded.death.exception_message == "bad \ufffd"
    # The id the browser shows is the id an action selects by.
    assert decoding.message_id(message) == decoded.id


def test_a_decoded_message_on_the_socket_carries_no_lone_surrogate():
    """The socket writes ASCII JSON, so a lone surrogate would arrive as ``\\udfff`` and become a
    lone surrogate again in the client's strings."""
    decoded = decoding.decode(raw({"task": "t", "id": "i", "x": "\udfff"}, body=b'[["\\udfff"], {}, {}]'))
    encoded = encode_for_clients(make_event("queues", "queue.messages", {"messages": [decoded.as_dict()]}))
    for text in (encoded["text"], encoded["viewer_text"]):
        utf8_json(json.loads(text))  # nothing the client parses holds a lone surrogate
    sent = json.loads(encoded["text"])["data"]["messages"][0]
    assert sent["headers"]["x"] == "\ufffd" and sent["args"] == ["\ufffd"]
    assert sent["body"] == '[["\\udfff"], {}, {}]'  # the body's own text (an escape) is shown as written


def test_management_api_void_headers_read_as_none():
    item = {
        "payload": "W1tdLCB7fSwge31d",
        "payload_encoding": "base64",
        "payload_bytes": 12,
        "exchange": "",
        "routing_key": "q",
        "redelivered": True,
        "properties": {
            "headers": {"task": "t", "id": "i", "eta": "undefined", "nested": {"a": ["undefined", 1]}, "retries": 0},
            "content_type": "application/json",
        },
    }
    message = raw_message(item, "q", 0)
    assert message.headers == {"task": "t", "id": "i", "eta": None, "nested": {"a": [None, 1]}, "retries": 0}
    assert b'"undefined"' in message.raw  # the identity is what the broker said, unchanged
    decoded = decoding.decode(message)
    assert decoded.eta is None and decoded.headers["eta"] is None

"""The capture's fast JSON decode gives what Kombu's own decode gives, errors included."""

import json
import time

import pytest
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.message import Message

from messaging.celery.events import decode_body

ACCEPT = {"application/json"}
EVENTS = [
    {"type": "task-sent", "uuid": "t1", "name": "app.add", "args": "(1, 2)", "kwargs": "{}", "retries": 0,
     "timestamp": time.time(), "utcoffset": -1, "clock": 7, "hostname": "client@h", "nested": {"a": [1.5, None, True]}},
    {"type": "task-succeeded", "uuid": "t1", "result": "3", "runtime": 0.25, "timestamp": 1.5e9, "big": 2**63},
]  # fmt: skip


def message(body: bytes, content_type: str = "application/json", accept=ACCEPT) -> Message:
    return Message(body=body, content_type=content_type, content_encoding="utf-8", accept=accept)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(EVENTS).encode(),
        json.dumps(EVENTS[0]).encode(),
        json.dumps({"type": "task-received", "args": "ünïcode ☃"}, ensure_ascii=False).encode(),
        json.dumps({"type": "task-received", "args": "escaped ☃"}).encode(),  # \u2603: Kombu's path
        b'{"type": "task-received", "eta": {"__type__": "datetime", "__value__": "2026-11-22T01:02:03"}}',
        b'{"type": "task-received", "eta": {"\\u005f_type__": "datetime", "__value__": "2026-11-22T01:02:03"}}',
        b'{"type": "worker-heartbeat", "loadavg": [NaN, Infinity, -Infinity]}',  # orjson refuses, Kombu takes
        b'{"type": "x", "s": "\\ud800"}',  # a lone surrogate, as json.dumps writes one
        b"[]",
        b"null",
    ],
)
def test_same_values_as_kombu(body):
    fast, kombu = decode_body(message(body)), message(body).decode()
    assert json.dumps(fast, default=repr) == json.dumps(kombu, default=repr)
    assert type(fast) is type(kombu)


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"{not json", "application/json", DecodeError),
        (b'{"type": "x"', "application/json", DecodeError),
        (b'{"a": "\xff"}', "application/json", DecodeError),  # invalid UTF-8
        (b'{"x": {"__type__": "no-such-type", "__value__": 1}}', "application/json", DecodeError),
        (b"\x80\x04K\x01.", "application/x-python-serialize", ContentDisallowed),  # pickle: never loaded
        (b'{"type": "x"}', "application/x-yaml", ContentDisallowed),
    ],
)
def test_same_errors_as_kombu(body, content_type, error):
    with pytest.raises(error):
        message(body, content_type).decode()
    with pytest.raises(error):
        decode_body(message(body, content_type))


def test_json_not_accepted_is_refused():
    with pytest.raises(ContentDisallowed):
        decode_body(message(b'{"type": "x"}', accept={"application/x-yaml"}))

"""The byte-level provenance splice gives exactly what the full parse + re-encode gives."""

import base64
import json

import pytest

from messaging.brokers.redis.splice import _with_headers_parsed, with_headers

ADDED = {"x-switchyard-requeued-by": "ann \"<b>\"", "x-switchyard-requeued-at": 1700000000.25,
         "x-switchyard-requeued-from": "orders.dlq", "x-switchyard-action": 7}  # fmt: skip


def envelope(headers, body="e30=", **extra):
    return json.dumps({"body": body, "content-encoding": "utf-8", "content-type": "application/json",
                       "headers": headers, "properties": {"delivery_tag": "x", **extra}}).encode()  # fmt: skip


TRICKY_BODY = base64.b64encode(b'{"headers": {"a": 1}}').decode()


@pytest.mark.parametrize(
    "raw",
    [
        envelope({"task": "app.work", "id": "1", "x-death": [{"queue": "orders"}]}),
        envelope({"task": "a"}, body='{"headers": {"inside": "a string"}}'),  # escaped quotes in a string
        envelope({"task": "a"}, body=TRICKY_BODY),
        envelope({"task": "a", "nested": {"headers": {"b": 2}}}),  # two occurrences: parse path
        envelope({"task": "a", "x-switchyard-action": 3}),  # replacing a header: parse path
        envelope({}),
        json.dumps({"body": "", "headers": {"task": "a"}}, separators=(",", ":")).encode(),  # compact
        envelope({"task": "ünïcødé ☃"}),
    ],
)
def test_splice_equals_full_parse(raw):
    has_headers = bool(json.loads(raw).get("headers"))
    spliced = with_headers(raw, ADDED, has_headers)
    assert json.loads(spliced) == json.loads(_with_headers_parsed(raw, ADDED))
    assert json.loads(spliced)["headers"]["x-switchyard-action"] == 7


def test_fast_path_keeps_every_other_byte():
    raw = envelope({"task": "app.work", "id": "1"})
    spliced = with_headers(raw, ADDED, True)
    assert spliced.replace(spliced[spliced.index(b"{", 5) + 1 : spliced.index(b'"task"')], b"") == raw


def test_without_known_headers_takes_the_parse_path_and_foreign_values_stay():
    raw = json.dumps({"body": "", "properties": {"headers": {"a": 1}}}).encode()
    assert json.loads(with_headers(raw, ADDED, False))["headers"] == ADDED
    assert json.loads(with_headers(raw, ADDED, False))["properties"] == {"headers": {"a": 1}}
    for foreign in (b"\x80\x04pickle", b"not json", b"[1, 2]"):
        assert with_headers(foreign, ADDED, True) == foreign

"""decode_envelope never raises and never unpickles."""

from __future__ import annotations

import base64
import json
import pickle

from messaging.brokers.envelope import decode_envelope


def envelope(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_base64_body_is_decoded_and_parts_are_split():
    raw = envelope(
        body=base64.b64encode(b"[[1, 2], {}, {}]").decode(),
        headers={"task": "app.add", "id": "abc"},
        properties={"body_encoding": "base64", "delivery_tag": "t"},
        **{"content-type": "application/json", "content-encoding": "utf-8"},
    )
    decoded = decode_envelope(raw)
    assert decoded.body == b"[[1, 2], {}, {}]"
    assert decoded.headers == {"task": "app.add", "id": "abc"}
    assert decoded.properties["delivery_tag"] == "t"
    assert (decoded.content_type, decoded.content_encoding) == ("application/json", "utf-8")
    assert decoded.redelivered is False


def test_plain_body_is_kept_as_utf8_and_redelivered_is_read():
    decoded = decode_envelope(envelope(body="héllo", redelivered=True, properties={}))
    assert decoded.body == "héllo".encode()
    assert decoded.redelivered is True


def test_invalid_base64_body_is_returned_as_text():
    decoded = decode_envelope(envelope(body="%%%not-base64", properties={"body_encoding": "base64"}))
    assert decoded.body == b"%%%not-base64"


def test_values_that_are_not_envelopes_come_back_whole():
    pickled = pickle.dumps({"__reduce__": "never run"})
    for raw in (pickled, b"\xff\xfe", b"[1, 2]", b'{"headers": {}}', b"", b"null"):
        decoded = decode_envelope(raw)
        assert decoded.body == raw and decoded.headers == {} and decoded.content_type is None


def test_malformed_parts_are_replaced_by_empty_ones():
    decoded = decode_envelope(envelope(body="x", headers=[1], properties="nope"))
    assert decoded.headers == {} and decoded.properties == {} and decoded.body == b"x"

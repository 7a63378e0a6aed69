"""Property tests (Hypothesis, derandomized): the message decoder never raises, never unpickles,
always gives JSON-serialisable, bounded output; the lag math keeps its invariants."""

from __future__ import annotations

import json
import math
import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging import decoding, lag
from messaging.brokers.base import RawMessage
from messaging.brokers.envelope import decode_envelope

PROFILE = settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "text/plain", "text/html", "application/x-python-serialize", "application/x-yaml",
     "application/octet-stream", "application/json; charset=utf-8", "<script>", ""]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
HEADERS = st.dictionaries(st.sampled_from(["task", "id", "retries", "eta", "origin", "x-death", "argsrepr", "x"]), JSON)


def raw(body: bytes, headers: dict, content_type: str | None) -> RawMessage:
    return RawMessage(
        raw=body, position=0, queue="q", body=body, headers=headers, properties={}, content_type=content_type,
        content_encoding="utf-8",
    )  # fmt: skip


def check(message: RawMessage) -> None:
    decoded = decoding.decode(message)
    for view in (decoded, decoded.for_role(False)):
        text = json.dumps(view.as_dict(), allow_nan=False)  # strict JSON, as the API renders it
        assert len(text) < 4 * decoding.DISPLAY_LIMIT + 64 * 1024 + 8 * len(json.dumps(message.headers, default=str))
    hidden = decoded.for_role(False)
    assert hidden.args is None and hidden.kwargs is None and hidden.body is None


@PROFILE
@given(st.binary(max_size=2048), HEADERS, CONTENT_TYPES)
def test_decoder_takes_any_bytes(body, headers, content_type):
    check(raw(body, headers, content_type))


@PROFILE
@given(JSON, JSON, HEADERS, CONTENT_TYPES)
def test_decoder_takes_any_json(args, kwargs, headers, content_type):
    body = json.dumps([args, kwargs, {}]).encode()
    check(raw(body, {**headers, "task": "t", "id": "i"}, content_type))
    check(raw(json.dumps({"task": "t", "id": "i", "args": args, "kwargs": kwargs}).encode(), headers, content_type))


@PROFILE
@given(st.integers(min_value=1, max_value=20_000), st.sampled_from(["[", '{"a":']))
def test_decoder_survives_any_nesting(depth, opener):
    closer = "]" if opener == "[" else "}"
    body = f"[[{opener * depth}1{closer * depth}], {{}}]".encode()
    check(raw(body, {"task": "t", "id": "i"}, "application/json"))


@PROFILE
@given(st.binary(max_size=1024))
def test_envelope_takes_any_bytes(value):
    envelope = decode_envelope(value)
    check(raw(envelope.body, envelope.headers, envelope.content_type))


class _Boom:
    def __reduce__(self):
        return (_explode, ())


def _explode():  # pragma: no cover - reaching it is the failure
    raise AssertionError("unpickled")


@PROFILE
@given(CONTENT_TYPES)
def test_decoder_never_unpickles(content_type):
    body = pickle.dumps(_Boom())
    decoded = decoding.decode(raw(body, {"task": "t", "id": "i"}, content_type))
    assert decoded.args is None and decoded.kwargs is None


RATE = st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False)
COUNT = st.none() | st.integers(min_value=0, max_value=10**12)
OBSERVATION = st.builds(
    lambda at, depth, unacked, pub, con, head_pub, digest, consumed: lag.Observation(
        at=at,
        depth=depth,
        unacked=unacked,
        broker_publish_rate=pub,
        broker_consume_rate=con,
        head_published_at=head_pub,
        head_digest=digest,
        consumed_since_last=consumed,
    ),  # fmt: skip
    st.floats(min_value=0, max_value=1e10),
    COUNT,
    COUNT,
    RATE,
    RATE,
    st.none() | st.floats(min_value=0, max_value=2e10),
    st.none() | st.sampled_from(["a", "b", "c"]),
    COUNT,
)
TRENDS = {"", lag.GROWING, lag.STALLED, lag.DRAINING, lag.STEADY, lag.IDLE}


@PROFILE
@given(st.lists(OBSERVATION, min_size=1, max_size=15))
def test_lag_invariants(observations):
    history = lag.QueueHistory()
    for seen in observations:
        figures = lag.observe(history, seen)
        for rate in (figures.publish_rate, figures.consume_rate):
            assert rate is None or (rate >= 0 and math.isfinite(rate))
        if figures.consume_rate is None or figures.consume_rate <= 0:
            assert figures.time_to_drain_s is None
        if figures.time_to_drain_s is not None:
            assert figures.time_to_drain_s >= 0 and math.isfinite(figures.time_to_drain_s)
        assert figures.oldest_age_s is None or figures.oldest_age_s >= 0
        assert figures.trend in TRENDS
        json.dumps(figures._asdict(), allow_nan=False)

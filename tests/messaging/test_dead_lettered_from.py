"""The requeue target read per message equals what the full death record says, whatever shape the
headers have (a publisher can send anything)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.brokers.base import RawMessage
from messaging.decoding import dead_lettered_from, death_record

names = st.one_of(
    st.none(), st.just(""), st.sampled_from(["orders", "emails", "x"]), st.integers(), st.text(max_size=5)
)
death = st.one_of(
    st.dictionaries(st.sampled_from(["queue", "reason", "count", "exchange"]), names, max_size=4),
    names,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "x-death": st.one_of(st.lists(death, max_size=3), names),
        "x-first-death-queue": names,
        "x-first-death-reason": names,
    },
)


@settings(max_examples=300, deadline=None)
@given(headers)
def test_dead_lettered_from_agrees_with_the_death_record(message_headers):
    raw = RawMessage(
        raw=b"", position=0, queue="q.dlq", body=b"", headers=message_headers, properties={},
        content_type=None, content_encoding=None,
    )  # fmt: skip
    record = death_record(message_headers)
    expected = None if record is None else (record.queue or record.first_queue)
    assert dead_lettered_from(raw) == expected

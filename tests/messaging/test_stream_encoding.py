"""Events are encoded once per publish, fast (a 10,000-queue round publishes 10,000 of them), with
the same text and the same visibility rule as before (issue 18 item 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from messaging.stream import encode_for_clients, make_event, may_hide_anything


def test_a_queue_sample_is_encoded_once_for_every_role():
    event = make_event("queues", "queue.sample", {"id": "3", "name": "orders", "depth": 4, "dlq": None}, key="queue:3")

    encoded = encode_for_clients(event)

    assert encoded["viewer_text"] is encoded["text"]
    assert json.loads(encoded["text"]) == {k: v for k, v in event.items() if k != "key"}
    assert (encoded["topic"], encoded["key"]) == ("queues", "queue:3")


def test_content_at_any_depth_is_still_stripped_for_viewers():
    data = {"task": {"id": "t1", "args": [4111], "exception": "ValueError('card 4111')"}, "rows": [{"body": "x"}]}
    encoded = encode_for_clients(make_event("tasks", "task.failed", data))

    viewer = json.loads(encoded["viewer_text"])["data"]
    assert viewer == {"task": {"id": "t1", "args": None, "exception": "ValueError"}, "rows": [{"body": None}]}
    assert json.loads(encoded["text"])["data"] == data
    assert may_hide_anything(data) and not may_hide_anything({"rows": [{"depth": 1}], "name": "args"})


def test_datetimes_and_odd_values_read_as_before():
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    data = {"at": at, "counts": {1: 2}, "name": "caf\u00e9"}

    text = encode_for_clients(make_event("audit", "audit.entry", data))["text"]

    assert json.loads(text)["data"] == {"at": str(at), "counts": {"1": 2}, "name": "caf\u00e9"}

"""A round of 10,000 queue samples reaches each client as a bounded buffer and, for clients that
ask for it, as one WebSocket message per flush (issue 18 item 5)."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from console.stream.buffer import ClientBuffer
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import unique
from tests.console.test_queues_api import redis_config


def event(key, value):
    return {"topic": "queues", "type": "queue.sample", "data": {"v": value}, "key": key}


def sequential(capacity, before, batch):
    buffer = ClientBuffer(capacity)
    for e in before + batch:
        buffer.add(e)
    return buffer


def test_a_batch_bigger_than_the_buffer_leaves_what_one_add_at_a_time_leaves():
    before = [event("queue:1", "old"), event(None, "unkeyed"), event("queue:99", "old")]
    batch = [event(f"queue:{n}", n) for n in range(50)] + [event(None, "last")]
    buffer = ClientBuffer(10)
    for e in before:
        buffer.add(e)

    buffer.add_all(batch)

    # Each of the 54 events is either delivered (10) or counted once, dropped or coalesced.
    assert buffer.dropped + buffer.coalesced == 54 - 10
    assert buffer.coalesced == 1  # queue:1 is superseded by the batch
    expected = sequential(10, before, batch)
    assert buffer.drain() == (batch[-10:], 43)
    assert expected.drain()[0] == batch[-10:]


def test_a_batch_whose_tail_repeats_keys_is_added_one_by_one():
    batch = [event("queue:a", 1)] + [event("queue:b", n) for n in range(20)]
    buffer = ClientBuffer(5)

    buffer.add_all(batch)

    assert [e["key"] for e in buffer.drain()[0]] == ["queue:a", "queue:b"]


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


def test_a_client_asking_for_batches_gets_each_flush_as_one_json_array(live_console, tokens, redis_prefix):
    console = live_console(redis_config(redis_prefix))
    with connect(f"{console.ws_url}/ws/stream?token={tokens['viewer']}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.hello"
        socket.send(json.dumps({"batch": "yes"}))
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.error"
        socket.send(json.dumps({"subscribe": ["queues"], "batch": True}))
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.subscribed"
        with redis_connection(redis_prefix) as connection:
            publish(connection, "orders", [{"n": i} for i in range(3)])
        for _ in range(100):
            frame = json.loads(socket.recv(timeout=10))
            assert isinstance(frame, list) and frame, frame
            samples = [e for e in frame if e["type"] == "queue.sample" and e["data"]["name"] == "orders"]
            if samples and samples[-1]["data"]["depth"] == 3:
                assert all(e["topic"] == "queues" and "key" not in e for e in frame)
                break
        else:
            pytest.fail("no batch with the orders sample")

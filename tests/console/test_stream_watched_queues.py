"""A client that watches some queues (the rows on its screen) receives only their samples, plus the
events that are not one queue's (broker status, the fleet summary); it can change its choice, and
go back to every queue (issue 18 item 5)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.sync.client import connect

from messaging.fleet_summary import FleetSummary, broker_totals
from messaging.stream import key_routes, make_event, publish_async, subscribe_locally, unsubscribe_locally
from messaging.stream_routes import queue_key, watched
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import unique
from tests.console.test_queues_api import redis_config


class Subscriber:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def take_events(self, events: list[dict]) -> None:
        self.events.extend(events)


def sample(queue_id: int, depth: int = 1) -> dict:
    return make_event("queues", "queue.sample", {"id": str(queue_id), "depth": depth}, key=queue_key(queue_id))


def keys_of(subscriber: Subscriber) -> list[str]:
    return [e["key"] for e in subscriber.events]


def test_a_watching_subscriber_gets_its_queues_and_every_event_that_is_not_one_queues():
    async def scenario() -> tuple[Subscriber, Subscriber, Subscriber]:
        everything, page_one, page_two = Subscriber(), Subscriber(), Subscriber()
        subscribe_locally("queues", everything)
        subscribe_locally("queues", page_one, frozenset({queue_key(1), queue_key(2)}))
        subscribe_locally("queues", page_two, frozenset({queue_key(2), queue_key(3)}))
        status = make_event("queues", "broker.status", {"name": "main"}, key="broker:main")
        try:
            await publish_async("queues", [status] + [sample(n) for n in range(1, 10_001)])
        finally:
            for subscriber in (everything, page_one, page_two):
                unsubscribe_locally("queues", subscriber)
        return everything, page_one, page_two

    everything, page_one, page_two = asyncio.run(scenario())
    assert len(everything.events) == 10_001
    assert keys_of(page_one) == ["broker:main", "queue:1", "queue:2"]
    assert keys_of(page_two) == ["broker:main", "queue:2", "queue:3"]
    assert len(key_routes("queues")) == 0 and key_routes("queues").by_key == {}


def test_subscribing_again_replaces_the_watched_queues_and_none_means_every_queue():
    async def scenario() -> list[list[str]]:
        client = Subscriber()
        rounds = []
        try:
            for keys in (frozenset({queue_key(1)}), frozenset({queue_key(7)}), None):
                subscribe_locally("queues", client, keys)
                client.events.clear()
                await publish_async("queues", [sample(1), sample(7), sample(9)])
                rounds.append(keys_of(client))
        finally:
            unsubscribe_locally("queues", client)
        return rounds

    assert asyncio.run(scenario()) == [["queue:1"], ["queue:7"], ["queue:1", "queue:7", "queue:9"]]
    assert key_routes("queues").by_key == {}


def test_a_consumer_between_processes_keeps_only_what_it_watches():
    events = [{"key": "broker:main"}, {"key": "queue:1"}, {"key": "queue:2"}, {"key": "summary"}, {"key": None}]
    kept = watched(events, frozenset({queue_key(2)}))
    assert [e["key"] for e in kept] == ["broker:main", "queue:2", "summary", None]


def test_a_consumer_fed_by_the_channel_layer_buffers_only_its_queues():
    from console.stream.buffer import ClientBuffer
    from console.stream.consumers import StreamConsumer

    consumer = StreamConsumer.__new__(StreamConsumer)  # the socket plays no part in this
    consumer.topics, consumer.queue_keys = {"queues"}, frozenset({queue_key(2)})
    consumer.buffer = ClientBuffer(10)

    async def scenario() -> None:
        consumer.wakeup = asyncio.Event()
        status = make_event("queues", "broker.status", {"name": "main"}, key="broker:main")
        await consumer.stream_batch({"type": "stream.batch", "events": [status, sample(1), sample(2), sample(3)]})

    asyncio.run(scenario())
    assert [e["key"] for e in consumer.buffer.drain()[0]] == ["broker:main", "queue:2"]


def queue_event(queue_id: int, depth: int | None, dlq: bool = False, age: float | None = None, **more) -> dict:
    data = {"id": str(queue_id), "broker": "main", "name": f"q{queue_id}", "depth": depth, "unacked": 1}
    data |= {"is_dlq": dlq, "oldest_age_s": age, "present": True, "system": False} | more
    return make_event("queues", "queue.sample", data, key=queue_key(queue_id))


def test_the_fleet_summary_counts_listed_queues_as_the_overview_does():
    events = [
        make_event("queues", "broker.status", {"name": "main", "status": "up"}),
        queue_event(1, 5, age=30.0),
        queue_event(2, 2, dlq=True, age=900.0),  # a DLQ's age is not "oldest waiting"
        queue_event(3, 0, dlq=True),
        queue_event(4, None),  # unknown counts as none
        queue_event(5, 50, system=True),
        queue_event(6, 70, present=False),
    ]
    totals = broker_totals(events)
    assert (totals.queues, totals.waiting, totals.in_flight) == (4, 7, 4)
    assert (totals.dlqs_holding, totals.dead_letters) == (1, 2)
    assert totals.oldest == {"id": "1", "broker": "main", "name": "q1", "oldest_age_s": 30.0}


def test_the_fleet_summary_is_published_once_per_change():
    async def scenario() -> list[dict]:
        client = Subscriber()
        subscribe_locally("queues", client, frozenset())
        summary = FleetSummary()
        up = make_event("queues", "broker.status", {"name": "main", "status": "up"})
        try:
            for depth in (3, 3, 4):
                await summary.after_sample("main", [up, queue_event(1, depth)])
        finally:
            unsubscribe_locally("queues", client)
        return [json.loads(e["text"]) for e in client.events]

    published = asyncio.run(scenario())
    assert [(e["type"], e["data"]["waiting"]) for e in published] == [("queues.summary", 3), ("queues.summary", 4)]


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


def frames_until(socket, seconds: float) -> list[dict]:
    """Every event received within ``seconds`` (batched frames unpacked)."""
    events, stop_at = [], time.monotonic() + seconds
    while (left := stop_at - time.monotonic()) > 0:
        try:
            frame = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            break
        events += frame if isinstance(frame, list) else [frame]
    return events


def test_a_client_watching_one_queue_over_the_socket_gets_no_sample_of_another(live_console, tokens, redis_prefix):
    with redis_connection(redis_prefix) as connection:
        publish(connection, "watched", [{"n": 1}])
        publish(connection, "elsewhere", [{"n": 1}])
    console = live_console(redis_config(redis_prefix))
    listed = {}
    for _ in range(100):
        rows = console.api("/api/v1/queues", tokens["viewer"]).json()
        listed = {q["name"]: q["id"] for q in (rows["results"] if isinstance(rows, dict) else rows)}
        if {"watched", "elsewhere"} <= listed.keys():
            break
        time.sleep(0.1)
    with connect(f"{console.ws_url}/ws/stream?token={tokens['viewer']}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.hello"
        socket.send(json.dumps({"queues": "all"}))
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.error"
        socket.send(json.dumps({"subscribe": ["queues"], "batch": True, "queues": [listed["watched"]]}))
        answer = json.loads(socket.recv(timeout=10))
        assert answer["data"] == {"topics": ["queues"], "queues": [listed["watched"]]}
        with redis_connection(redis_prefix) as connection:
            publish(connection, "watched", [{"n": 2}])
            publish(connection, "elsewhere", [{"n": 2}, {"n": 3}])
        events = frames_until(socket, 3.0)
        samples = {e["data"]["name"]: e["data"]["depth"] for e in events if e["type"] == "queue.sample"}
        assert samples == {"watched": 2}
        assert any(e["type"] == "broker.status" for e in events)
        assert any(e["type"] == "queues.summary" and e["data"]["waiting"] == 5 for e in events)

        socket.send(json.dumps({"queues": None}))
        assert json.loads(socket.recv(timeout=10))["data"]["queues"] is None
        with redis_connection(redis_prefix) as connection:
            publish(connection, "elsewhere", [{"n": 4}])
        events = frames_until(socket, 3.0)
        samples = [e["data"] for e in events if e["type"] == "queue.sample"]
        assert [s["depth"] for s in samples if s["name"] == "elsewhere"][-1:] == [4]

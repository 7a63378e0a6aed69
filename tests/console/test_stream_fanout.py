"""With the in-memory channel layer, published batches reach this process's consumers directly:
every subscriber of the topic gets the batch once, on its own event loop, and nothing after it
unsubscribes."""

from __future__ import annotations

import asyncio
import json
import threading

from messaging.stream import is_in_process, make_event, publish_async, subscribe_locally, unsubscribe_locally


class Subscriber:
    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.threads: list[int] = []

    def take_events(self, events: list[dict]) -> None:
        self.batches.append(events)
        self.threads.append(threading.get_ident())


def test_the_default_layer_is_in_process():
    from channels.layers import get_channel_layer

    assert is_in_process(get_channel_layer())


def test_every_subscriber_of_the_topic_gets_the_batch_and_none_after_unsubscribing():
    async def scenario() -> tuple[Subscriber, Subscriber, Subscriber]:
        first, second, elsewhere = Subscriber(), Subscriber(), Subscriber()
        subscribe_locally("queues", first)
        subscribe_locally("queues", second)
        subscribe_locally("tasks", elsewhere)
        try:
            await publish_async("queues", [make_event("queues", "queue.sample", {"depth": 3}, key="queue:1")])
            unsubscribe_locally("queues", second)
            await publish_async("queues", [make_event("queues", "queue.sample", {"depth": 4}, key="queue:1")])
        finally:
            for topic, subscriber in (("queues", first), ("queues", second), ("tasks", elsewhere)):
                unsubscribe_locally(topic, subscriber)
        return first, second, elsewhere

    first, second, elsewhere = asyncio.run(scenario())
    assert [len(batch) for batch in first.batches] == [1, 1]
    assert [json.loads(batch[0]["text"])["data"]["depth"] for batch in first.batches] == [3, 4]
    assert first.batches[0][0]["key"] == "queue:1"
    assert second.batches == [first.batches[0]]
    assert elsewhere.batches == []


def test_a_publish_from_another_thread_is_delivered_on_the_subscribers_loop():
    subscriber = Subscriber()
    subscribed, delivered = threading.Event(), threading.Event()
    home: dict[str, int] = {}

    async def home_loop() -> None:
        home["thread"] = threading.get_ident()
        subscribe_locally("alerts", subscriber)
        subscribed.set()
        try:
            for _ in range(100):
                if subscriber.batches:
                    break
                await asyncio.sleep(0.05)
        finally:
            unsubscribe_locally("alerts", subscriber)
            delivered.set()

    thread = threading.Thread(target=asyncio.run, args=(home_loop(),))
    thread.start()
    assert subscribed.wait(5)
    asyncio.run(publish_async("alerts", [make_event("alerts", "alert.firing", {"name": "depth"})]))
    assert delivered.wait(10)
    thread.join(5)
    assert len(subscriber.batches) == 1
    assert subscriber.threads == [home["thread"]]


def test_a_consumer_under_a_server_without_send_many_gets_each_event_and_leaves_on_disconnect(
    make_user, transactional_db, settings
):
    """channels' test communicator offers no ``switchyard.websocket.send_many``: the consumer
    falls back to one ``websocket.send`` per event, and a disconnected consumer is no longer a
    subscriber."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from console.asgi import application
    from messaging import stream

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _, token = make_user("operator")

    async def scenario() -> tuple[list[dict], int]:
        communicator = WebsocketCommunicator(application, f"/ws/stream?token={token}")
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from(5))["type"] == "stream.hello"
        await communicator.send_json_to({"subscribe": ["workers"]})
        assert (await communicator.receive_json_from(5))["type"] == "stream.subscribed"
        events = [make_event("workers", "worker.online", {"hostname": f"w{i}"}, key=f"worker:w{i}") for i in range(3)]
        await publish_async("workers", events)
        received = [await communicator.receive_json_from(5) for _ in events]
        await communicator.disconnect()
        return received, len(stream.local_subscribers("workers"))

    received, subscribers_after = async_to_sync(scenario)()
    assert [event["data"]["hostname"] for event in received] == ["w0", "w1", "w2"]
    assert all(event["type"] == "worker.online" and "key" not in event for event in received)
    assert subscribers_after == 0

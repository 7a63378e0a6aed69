"""A slow client's outbox: latest state wins per key, then oldest dropped and counted."""

from console.stream.buffer import ClientBuffer


def event(key, value):
    return {"topic": "queues", "type": "queue.sample", "data": {"v": value}, "key": key}


def test_keyed_events_coalesce_to_the_latest():
    buffer = ClientBuffer(capacity=10)
    for value in range(100):
        buffer.add(event("queue:1", value))
    events, dropped = buffer.drain()
    assert [e["data"]["v"] for e in events] == [99]
    assert dropped == 0


def test_overflow_drops_oldest_and_counts():
    buffer = ClientBuffer(capacity=3)
    for value in range(5):
        buffer.add(event(None, value))
    events, dropped = buffer.drain()
    assert [e["data"]["v"] for e in events] == [2, 3, 4]
    assert dropped == 2
    assert buffer.drain() == ([], 0)

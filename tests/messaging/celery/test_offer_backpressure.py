"""The writer's queue absorbs a burst by waiting, then sheds load with every drop counted."""

import threading
import time

from messaging.celery import inbox
from messaging.celery.writer import Activity, EventCounters, EventWriter


def test_a_full_queue_waits_then_drops_counted_then_recovers(monkeypatch):
    monkeypatch.setattr(inbox, "OFFER_PRESSURE_S", 0.3)
    counters = EventCounters()
    writer = EventWriter("b", counters, Activity(), queue_size=100)
    for n in range(100):
        assert writer.offer({"n": n})
    # A writer that takes events within the window: nothing is lost.
    threading.Timer(0.05, writer.inbox.get).start()
    assert writer.offer({"n": 100}) and counters.dropped == 0
    # The queue stays full past the window: dropped at once, each counted.
    time.sleep(0.3)
    started = time.monotonic()
    assert not writer.offer({"n": 101})
    assert not writer.offer({"n": 102})
    assert time.monotonic() - started < 0.1 and counters.dropped == 2
    # Half empty again: the pressure is over, the next burst is waited for again.
    for _ in range(60):
        writer.inbox.get_nowait()
    assert writer.offer({"n": 103}) and writer.inbox.full_since is None


def test_a_message_that_only_partly_fits_keeps_order_and_counts_the_rest(monkeypatch):
    monkeypatch.setattr(inbox, "OFFER_PRESSURE_S", 0.2)
    counters = EventCounters()
    writer = EventWriter("b", counters, Activity(), queue_size=10)
    assert writer.offer_many([{"n": n} for n in range(8)]) == 8
    # Room for 2 of 5: the 2 go in at once, the others wait out the window and are dropped.
    started = time.monotonic()
    assert writer.offer_many([{"n": n} for n in range(8, 13)]) == 2
    assert time.monotonic() - started >= 0.2 and counters.dropped == 3
    assert [e["n"] for e in writer.inbox.take(4, 0)] == [0, 1, 2, 3]
    assert [e["n"] for e in writer.inbox.take(100, 0)] == [4, 5, 6, 7, 8, 9]
    # Empty: take waits for the first event, then returns what is there.
    threading.Timer(0.05, writer.offer_many, args=([{"n": 13}, {"n": 14}],)).start()
    assert [e["n"] for e in writer.inbox.take(100, 2.0)] == [13, 14]
    assert writer.inbox.take(100, 0.05) == []

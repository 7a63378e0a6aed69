"""Scale-out with real processes: two ``serve --no-monitor`` web processes, two ``monitor``
processes electing one active through the real Redis, PostgreSQL as the database.

The timeline of a queue whose depth changes every round (a publisher adds a message every 0.1 s)
is the record of sampling rounds: one raw history point per round. A gap in it is lost samples;
two points closer than half an interval would be two monitors sampling in the same round.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from kombu import Connection, Exchange, Producer, Queue
from websockets.sync.client import connect

from tests.brokers import delete_prefixed_keys
from tests.conftest import REDIS_URL, unique
from tests.scale.cluster import Cluster, PostgresDatabase, subscribe, ws_url
from tests.waiting import wait_for

pytestmark = [pytest.mark.scale, pytest.mark.postgres, pytest.mark.timeout(120)]

QUEUE = "orders"


class Publisher(threading.Thread):
    """Adds a message to the queue every 0.1 s, so its depth differs at every sample."""

    def __init__(self, prefix: str) -> None:
        super().__init__(daemon=True)
        self.prefix = prefix
        self.stopped = threading.Event()

    def run(self) -> None:
        exchange = Exchange(QUEUE, type="direct")
        queue = Queue(QUEUE, exchange, routing_key=QUEUE)
        with Connection(REDIS_URL, transport_options={"global_keyprefix": self.prefix}) as connection:
            producer = Producer(connection.channel())
            n = 0
            while not self.stopped.wait(0.1):
                producer.publish({"n": n}, exchange=exchange, routing_key=QUEUE, declare=[queue], serializer="json")
                n += 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    prefix = unique("sy-scale") + ":"
    database = PostgresDatabase().create()
    publisher = Publisher(prefix)
    cluster = Cluster(tmp_path_factory.mktemp("scale"), database, prefix)
    try:
        publisher.start()
        cluster.prepare()
        cluster.urls = [cluster.start_web(), cluster.start_web()]
        cluster.start_monitor()
        cluster.start_monitor()
        wait_for(lambda: cluster.active_monitor(cluster.urls[0]), timeout=20, message="an active monitor")
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        publisher.stopped.set()
        cluster.close()
        publisher.join(timeout=5)
        database.drop()
        delete_prefixed_keys(prefix)


def receive_samples(connection, until: float) -> list[dict]:
    samples = []
    while time.monotonic() < until:
        try:
            message = json.loads(connection.recv(timeout=max(until - time.monotonic(), 0.01)))
        except TimeoutError:
            break
        if message["type"] == "queue.sample" and message["data"]["name"] == QUEUE:
            samples.append(message)
    return samples


def rounds_between(times: list[float], start: float, end: float) -> list[float]:
    return [t for t in times if start <= t <= end]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def test_every_web_process_streams_what_the_one_active_monitor_publishes(cluster):
    with connect(ws_url(cluster.urls[0], cluster.token)) as a, connect(ws_url(cluster.urls[1], cluster.token)) as b:
        subscribe(a, ["queues"])
        subscribe(b, ["queues"])
        seen_a = receive_samples(a, time.monotonic() + 2.5)
        seen_b = receive_samples(b, time.monotonic() + 1.0)  # its messages waited in the client meanwhile
    assert len(seen_a) >= 3 and len(seen_b) >= 3
    # The same rounds reach both processes (one publisher, the active monitor).
    assert {m["data"]["sampled_at"] for m in seen_b} & {m["data"]["sampled_at"] for m in seen_a}
    # Both web processes name the same active monitor; exactly one of the two processes is it.
    states = [cluster.health_monitor(url) for url in cluster.urls]
    assert states[0]["active"] == states[1]["active"]
    assert states[0]["this_process"]["mode"] == "none"  # --no-monitor
    times = cluster.sample_times(QUEUE)
    recent = rounds_between(times, time.time() - 2, time.time())
    assert min(gaps(recent)) > cluster.interval / 2, "two monitors sampled in the same round"


def test_a_standby_takes_over_within_the_lock_expiry_after_sigkill(cluster):
    active = wait_for(lambda: cluster.active_monitor(cluster.urls[0]), timeout=10, message="an active monitor")
    before = cluster.lease()
    with connect(ws_url(cluster.urls[1], cluster.token)) as stream:
        subscribe(stream, ["queues"])
        time.sleep(1.0)
        killed_at = time.time()
        os.kill(active.pid, signal.SIGKILL)
        active.wait(timeout=5)
        successor = wait_for(
            lambda: (p := cluster.active_monitor(cluster.urls[1])) and p is not active and p,
            timeout=cluster.ttl * 2 + 10,  # finding it; the timing is asserted from the samples below
            message="the standby to take over",
        )
        streamed = receive_samples(stream, time.monotonic() + 2.0)
    cluster.start_monitor()  # a new standby for the next test

    times = cluster.sample_times(QUEUE)
    window = rounds_between(times, killed_at - 3, time.time())
    first_after = next(t for t in times if t > killed_at)
    failover_s = first_after - killed_at
    largest_gap = max(gaps(window))
    print(f"\nfailover after SIGKILL: first sample {failover_s:.2f}s after the kill; largest gap {largest_gap:.2f}s")
    assert failover_s <= cluster.ttl + cluster.interval, failover_s
    # The gap spans the dead leader's last round (up to one interval before the kill) and the
    # failover itself (bounded above): ttl + 2 intervals at most.
    assert largest_gap <= cluster.ttl + 2 * cluster.interval, largest_gap
    assert min(gaps(window)) > cluster.interval / 2, "doubled samples during failover"
    # The successor's rounds reach the WebSocket clients of the web processes.
    assert any(m["data"]["sampled_at"] > killed_at for m in streamed)
    after = cluster.lease()
    assert after["token"] == before["token"] + 1
    assert after["holder"].split(":")[1] == str(successor.pid)


def test_a_paused_leader_that_lost_its_lock_writes_nothing_when_it_resumes(cluster):
    active = wait_for(lambda: cluster.active_monitor(cluster.urls[0]), timeout=10, message="an active monitor")
    token_before = cluster.lease()["token"]
    paused_at = time.time()
    os.kill(active.pid, signal.SIGSTOP)
    try:
        successor = wait_for(
            lambda: (p := cluster.active_monitor(cluster.urls[0])) and p is not active and p,
            timeout=cluster.ttl * 2 + 10,  # finding it; the timing is asserted from the samples below
            message="the standby to take over from the paused leader",
        )
        time.sleep(1.0)
    finally:
        resumed_at = time.time()
        os.kill(active.pid, signal.SIGCONT)
    time.sleep(cluster.ttl)  # the resumed process notices and stands by

    times = cluster.sample_times(QUEUE)
    window = rounds_between(times, paused_at - 2, time.time())
    assert min(gaps(window)) > cluster.interval / 2, "the resumed leader wrote a doubled round"
    assert max(gaps(window)) <= cluster.ttl + cluster.interval
    assert cluster.lease()["token"] == token_before + 1
    assert cluster.active_monitor(cluster.urls[1]) is successor
    assert active.poll() is None, "the old leader should stand by, not exit"
    log = cluster.log_of(active)
    assert "lost" in log.split("is now the active monitor")[-1], log[-2000:]
    print(f"\npaused leader: resumed {resumed_at - paused_at:.1f}s later and wrote nothing")

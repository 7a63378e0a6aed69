"""WebSocket fan-out across two web processes, and process sizes for docs/deployment.md.

    .venv/bin/python bench/fanout.py [--clients 100] [--seconds 10] [--queues 1000]
    .venv/bin/python bench/fanout.py --routing [--clients 200] [--queues 10000] [--watch 100]

Starts a scaled-out Switchyard (two ``serve --no-monitor``, one ``monitor``; PostgreSQL database
created for the run and dropped; channel layer and leader lock in the local Redis under names of
their own), then:

1. fan-out: this process publishes ``queue.sample``-shaped events through channels-redis exactly
   as the monitor does (``messaging.stream.publish_async``, batches of 50, unkeyed so nothing is
   coalesced) while N WebSocket clients, half on each web process, count what they receive;
2. sizes: RSS of a web process idle and with the N clients connected; RSS of the monitor and its
   round time while sampling ``--queues`` Redis queues.

``--routing`` measures instead, in this process and without sockets, the CPU a round of
``--queues`` changed queues costs to hand to ``--clients`` consumers (``messaging.stream``'s
in-process delivery, each consumer's topic filter, bounded buffer and one batched frame's text),
three ways: every client watching every queue; each watching ``--watch`` queues routed by key
(the in-memory layer); each watching them with a set lookup per event (what a consumer behind
channels-redis does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_queues(prefix: str, count: int) -> None:
    import redis

    from tests.conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        name = f"bench.q{i:04d}"
        pipe.lpush(prefix + name, json.dumps({"body": "", "headers": {}, "properties": {}}))
        pipe.sadd(f"{prefix}_kombu.binding.{name}", f"{name}\x06\x16\x06\x16{name}")
    pipe.execute()
    client.close()


async def client_loop(url: str, counts: list[int], index: int, ready: asyncio.Event, done: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=1 << 22) as ws:
        await ws.send(json.dumps({"subscribe": ["tasks"]}))
        while json.loads(await ws.recv())["type"] != "stream.subscribed":
            pass
        ready.set()
        while not done.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            if message["type"] == "bench.event":
                counts[index] += 1


async def fanout(urls: list[str], token: str, clients: int, seconds: float) -> dict:
    from messaging.stream import make_event, publish_async

    counts = [0] * clients
    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = [
        asyncio.create_task(
            client_loop(
                urls[i % 2].replace("http://", "ws://") + f"/ws/stream?token={token}", counts, i, readies[i], done
            )
        )
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    published = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        batch = [make_event("tasks", "bench.event", {"n": published + i, "queue": "bench"}) for i in range(50)]
        await publish_async("tasks", batch)
        published += len(batch)
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    await asyncio.sleep(2.0)  # let the buffers drain
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    delivered = sum(counts)
    return {
        "published_per_s": published / elapsed,
        "delivered_per_s": delivered / elapsed,
        "delivered_share": delivered / (published * clients),
        "per_client_min": min(counts),
        "per_client_max": max(counts),
    }


class BenchConsumer:
    """What a ``StreamConsumer`` does with a batch, without the socket: keep what it watches,
    buffer it, and at its flush make one batched frame's text."""

    def __init__(self, capacity: int, keys: frozenset[str] | None = None) -> None:
        from console.stream.buffer import ClientBuffer

        self.buffer = ClientBuffer(capacity)
        self.keys = keys
        self.sent_events = 0

    def take_events(self, events: list[dict]) -> None:
        from messaging.stream_routes import watched

        if self.keys is not None:
            events = watched(events, self.keys)
        self.buffer.add_all([e for e in events if e["topic"] == "queues"])

    def flush(self) -> None:
        events, _dropped = self.buffer.drain()
        self.sent_events += len(events)
        "[" + ",".join(e["viewer_text"] for e in events) + "]"  # noqa: B018 - the text is the cost


def routing_cost(clients: int, queues: int, watch: int, rounds: int = 5) -> dict:
    """CPU seconds per round to hand ``queues`` changed queues to ``clients`` consumers."""
    from django.conf import settings

    from messaging import stream
    from messaging.stream_routes import queue_key

    events = [
        stream.make_event("queues", "queue.sample", {"id": str(n), "depth": n}, key=queue_key(n))
        for n in range(1, queues + 1)
    ]
    encoded = [stream.encode_for_clients(e) for e in events]
    pages = [
        frozenset(queue_key(n) for n in range(i * watch % queues + 1, i * watch % queues + watch + 1))
        for i in range(clients)
    ]
    capacity = settings.SWITCHYARD_STREAM_CLIENT_BUFFER
    figures = {}
    for mode in ("every_queue", "watching_by_key", "watching_by_set_lookup"):

        async def one_round(consumers: list[BenchConsumer], mode: str) -> float:
            for i, consumer in enumerate(consumers):
                stream.subscribe_locally("queues", consumer, pages[i] if mode == "watching_by_key" else None)
            started = time.process_time()
            for _ in range(rounds):
                stream._deliver_locally("queues", encoded)
                for consumer in consumers:
                    consumer.flush()
            took = (time.process_time() - started) / rounds
            for consumer in consumers:
                stream.unsubscribe_locally("queues", consumer)
            return took

        keys = (lambda i: pages[i]) if mode == "watching_by_set_lookup" else (lambda i: None)
        consumers = [BenchConsumer(capacity, keys(i)) for i in range(clients)]
        cpu_s = asyncio.run(one_round(consumers, mode))
        figures[mode] = {
            "cpu_ms_per_round": round(cpu_s * 1000, 1),
            "events_sent_per_client_per_round": consumers[0].sent_events / rounds,
        }
    return {"clients": clients, "queues_changed_per_round": queues, "watch": watch, **figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--routing", action="store_true", help="the in-process cost of one round's fan-out")
    parser.add_argument("--watch", type=int, default=100, help="with --routing: queues each client watches")
    args = parser.parse_args()
    if args.routing:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        import django

        django.setup()
        figures = routing_cost(args.clients, args.queues, args.watch)
        print(json.dumps({**figures, "loadavg": [round(v, 2) for v in os.getloadavg()]}, indent=2))
        return

    from tests.brokers import delete_prefixed_keys
    from tests.scale.cluster import Cluster, PostgresDatabase

    prefix = f"sy-bench-{uuid.uuid4().hex[:8]}:"
    database = PostgresDatabase().create()
    cluster = Cluster(
        Path(tempfile.mkdtemp(prefix="sy-bench-")),
        database,
        prefix,
        SWITCHYARD_SAMPLE_INTERVAL="2",
        # Every client uses the one bench token: lift the per-user connection cap above their number.
        SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER=str(args.clients + 10),
    )
    os.environ.update({k: v for k, v in cluster.env.items() if k.startswith(("SWITCHYARD_", "REDIS_URL"))})
    os.environ["DATABASE_URL"] = database.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    try:
        make_queues(prefix, args.queues)
        cluster.prepare()
        urls = [cluster.start_web(), cluster.start_web()]
        web_pid = cluster.web[0][0].pid
        time.sleep(1.0)
        idle = rss_mib(web_pid)
        result = asyncio.run(fanout(urls, cluster.token, args.clients, args.seconds))
        loaded = rss_mib(web_pid)
        print(f"fan-out: {args.clients} clients over 2 web processes for {args.seconds:.0f}s")
        print(
            f"  published {result['published_per_s']:.0f} events/s, delivered {result['delivered_per_s']:.0f} "
            f"events/s in all ({result['delivered_share']:.1%} of published x clients; per client "
            f"{result['per_client_min']}..{result['per_client_max']})"
        )
        print(f"web process RSS: idle {idle:.0f} MiB, after {args.clients // 2} clients {loaded:.0f} MiB")

        monitor = cluster.start_monitor()
        cluster.wait_for(
            lambda: database.query("SELECT count(*) FROM messaging_queue WHERE present")[0][0] >= args.queues,
            timeout=120,
            what=f"{args.queues} queues sampled",
        )
        time.sleep(10)
        durations = database.query("SELECT sample_duration_s FROM messaging_brokerstate")
        print(
            f"monitor sampling {args.queues} queues: RSS {rss_mib(monitor.pid):.0f} MiB, "
            f"broker sample {durations[0][0] * 1000:.0f} ms per round"
        )
    finally:
        cluster.close()
        database.drop()
        delete_prefixed_keys(prefix)


if __name__ == "__main__":
    main()

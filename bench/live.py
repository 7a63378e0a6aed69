"""Live delivery: broker change -> ``queue.sample`` and Celery event -> ``task.*`` on WebSocket
clients, p50/p95, with 1 and with 200 connected clients.

    .venv/bin/python -m bench.live [--clients 1,200] [--rounds 15] [--interval 1.0]

Runs ``manage.py serve`` (monitor in-process, sample interval ``--interval``) on a temporary
SQLite database against Redis DB 7 under a key prefix of its own. Each round: LPUSH one message
to a watched queue and time until every client has the ``queue.sample`` showing the new depth;
then publish one Celery task event list through Kombu and time until every client has the
``task.*`` event for that task id. Rounds start at random phases of the sample interval. The
clients all live in this one process, so with 200 clients the figures include this process
decoding 200 copies. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import free_port, task_events  # noqa: E402

URL = "redis://127.0.0.1:6379/7"
QUEUE = "live.q"


class Client:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, object], float] = {}

    async def run(self, url: str, ready: asyncio.Event, done: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        async with connect(url, max_size=1 << 22) as ws:
            await ws.send(json.dumps({"subscribe": ["queues", "tasks"]}))
            while json.loads(await ws.recv())["type"] != "stream.subscribed":
                pass
            ready.set()
            while not done.is_set():
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                now = time.time()
                data = event.get("data") or {}
                if event["type"] == "queue.sample" and data.get("name") == QUEUE:
                    self.seen.setdefault(("depth", data.get("depth")), now)
                elif event["type"].startswith("task.") and isinstance(data, dict) and "id" in data:
                    self.seen.setdefault(("task", data["id"]), now)


async def measure(ws_url: str, clients: int, rounds: int, interval: float, push, publish_task) -> dict:
    done = asyncio.Event()
    members = [Client() for _ in range(clients)]
    readies = [asyncio.Event() for _ in members]
    tasks = [asyncio.create_task(c.run(ws_url, r, done)) for c, r in zip(members, readies)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    await asyncio.sleep(interval * 2)
    sample_lat, task_lat, missed = [], [], 0

    async def wait_all(key, t0: float, timeout: float) -> None:
        nonlocal missed
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(key in c.seen for c in members):
            await asyncio.sleep(0.005)
        for c in members:
            if key in c.seen:
                (sample_lat if key[0] == "depth" else task_lat).append((c.seen[key] - t0) * 1000)
            else:
                missed += 1

    for _ in range(rounds):
        await asyncio.sleep(random.uniform(0, interval))
        t0 = time.time()
        depth = await asyncio.to_thread(push)
        await wait_all(("depth", depth), t0, interval * 4 + 5)
        await asyncio.sleep(random.uniform(0, 0.3))
        task_id = uuid.uuid4().hex
        t0 = time.time()
        await asyncio.to_thread(publish_task, task_id)
        await wait_all(("task", task_id), t0, 10)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    def stats(values: list[float]) -> dict:
        values.sort()
        if not values:
            return {"p50_ms": None, "p95_ms": None, "n": 0}
        return {
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[max(0, int(len(values) * 0.95) - 1)], 1),
            "n": len(values),
        }

    return {"clients": clients, "queue_sample": stats(sample_lat), "task_event": stats(task_lat), "missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,200")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()

    import redis
    from kombu import Connection

    prefix = f"sy-bench-live-{uuid.uuid4().hex[:8]}:"
    workdir = Path(tempfile.mkdtemp(prefix="sy-bench-live-"))
    config = workdir / "switchyard.toml"
    config.write_text(
        f'sample_interval = {args.interval}\n[brokers.bench]\nurl = "{URL}"\n'
        f'transport_options = {{ global_keyprefix = "{prefix}" }}\n'
    )
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        SWITCHYARD_CONFIG=str(config),
        DJANGO_SETTINGS_MODULE="console.settings",
        SWITCHYARD_ACTION_RUNNER="false",
        # Every client uses the one bench token: lift the per-user connection cap above their number.
        SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER=str(max(int(n) for n in args.clients.split(",")) + 10),
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    token = (
        subprocess.run(
            [*manage, "issuetoken", "bench-viewer", "--role", "viewer"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    client = redis.Redis.from_url(URL)
    client.sadd(f"{prefix}_kombu.binding.{QUEUE}", f"{QUEUE}\x06\x16\x06\x16{QUEUE}")
    client.lpush(prefix + QUEUE, json.dumps({"body": "", "headers": {}, "properties": {}}))
    port = free_port()
    log = open(workdir / "serve.log", "w")
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    connection = Connection(URL, transport_options={"global_keyprefix": prefix})
    try:
        from celery.events.event import get_exchange

        producer = connection.Producer()
        exchange = get_exchange(connection)
        exchange(connection.default_channel).declare()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                body = requests.get(base + "/api/v1/queues", headers={"Authorization": f"Token {token}"}, timeout=2)
                if body.ok and any(q["name"] == QUEUE for q in body.json()):
                    break
            except (requests.RequestException, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the console did not show {QUEUE}; see {workdir / 'serve.log'}")
            time.sleep(0.3)

        def push() -> int:
            return client.lpush(prefix + QUEUE, json.dumps({"body": "", "headers": {}, "properties": {}}))

        def publish_task(task_id: str) -> None:
            producer.publish(
                json.dumps(task_events(task_id, time.time())[:2]).encode(),
                exchange=exchange,
                routing_key="task.multi",
                content_type="application/json",
                content_encoding="utf-8",
            )

        ws_url = f"ws://127.0.0.1:{port}/ws/stream?token={token}"
        results = [
            asyncio.run(measure(ws_url, int(n), args.rounds, args.interval, push, publish_task))
            for n in args.clients.split(",")
        ]
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        connection.release()
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    print(json.dumps({"interval_s": args.interval, "runs": results}))


if __name__ == "__main__":
    main()

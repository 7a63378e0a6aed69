"""Celery event ingestion: Switchyard and Flower 2.2 fed the same event stream at the same time.

    .venv/bin/python -m bench.ingest [--events 1000000] [--rate 30000] [--flood-events 200000]
                                     [--worker-tasks 2000] [--flower bench/.venv-flower/bin/celery]

Both subscribe to one Redis database of their own (``/7`` by default: Kombu names the fanout
pub/sub channel ``/{db}.celeryev``, so the number isolates the stream from other users of the
server). Switchyard runs its real capture -> bounded queue -> batch writer path in this process
into a temporary SQLite database; Flower runs as ``celery flower --persistent=False`` (default
``--max_tasks``) from its own virtualenv. Phases:

1. sustained: producer processes publish well-formed task events (sent/received/started/succeeded,
   one list message per task as workers do) at ``--rate`` events/s (offer more than either side
   can take, or the events/s measure the offer: a lag of 0 says so); every half second the bench
   reads how many events each has processed (Switchyard: events received + tasks stored in the
   database, the rows the API serves; Flower: the sum of its ``flower_events_total``) and each
   process's RSS. Reported: events/s, the lag after the last publish, events lost, and RSS at
   100,000 and at the end.
2. flood: unthrottled producers; what each loses, and whether Switchyard noticed (its
   ``dropped`` and ``disconnects`` counters, served by GET /api/v1/events).
3. real workers: two Celery solo workers run no-op tasks; tasks each side saw finish.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb(pid: int | None = None) -> float:
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def task_events(task_id: str, now: float) -> list[dict]:
    return [
        {
            "type": "task-sent",
            "uuid": task_id,
            "name": "bench.add",
            "args": "[1, 2]",
            "kwargs": "{}",
            "queue": "bench",
            "timestamp": now,
            "utcoffset": 0,
            "clock": 1,
            "hostname": "producer",
        },
        {
            "type": "task-received",
            "uuid": task_id,
            "name": "bench.add",
            "args": "[1, 2]",
            "kwargs": "{}",
            "timestamp": now,
            "utcoffset": 0,
            "clock": 2,
            "hostname": "w@bench",
            "pid": 1,
        },
        {
            "type": "task-started",
            "uuid": task_id,
            "timestamp": now,
            "utcoffset": 0,
            "hostname": "w@bench",
            "clock": 3,
            "pid": 1,
        },
        {
            "type": "task-succeeded",
            "uuid": task_id,
            "result": "3",
            "runtime": 0.001,
            "timestamp": now,
            "utcoffset": 0,
            "hostname": "w@bench",
            "clock": 4,
            "pid": 1,
        },
    ]


def produce(url: str, tasks: int, seed: str, tasks_per_s: float | None, finished=None, index: int = 0) -> None:
    """Publish ``tasks`` task-event lists (4 events each) to the event exchange, paced.

    Kombu builds the first message; the rest are that envelope with a new body, published with
    pipelined PUBLISHes (what Kombu's ``_put_fanout`` sends, without a client object per message,
    so the producers are not the bottleneck). ``finished[index]`` gets the monotonic time of the
    last publish (the clock is the system's, the same in every process)."""
    import base64

    import redis
    from celery.events.event import get_exchange
    from kombu import Connection

    with Connection(url) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)
        channel = connection.default_channel
        exchange(channel).declare()
        captured = {}

        def grab(exchange, message, routing_key, **kwargs):
            captured["topics"] = channel._get_publish_topics(exchange, routing_key)
            captured["message"] = message

        channel._put_fanout = grab
        producer.publish(
            b"[]",
            exchange=exchange,
            routing_key="task.multi",
            content_type="application/json",
            content_encoding="utf-8",
        )
    template, topics = captured["message"], captured["topics"]
    encoded = template["properties"].get("body_encoding") == "base64"
    client = redis.Redis.from_url(url)
    started = time.monotonic()
    chunk = 20
    for first in range(0, tasks, chunk):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + chunk, tasks)):
            body = json.dumps(task_events(f"{seed}-{i}", time.time())).encode()
            message = dict(template, body=base64.b64encode(body).decode() if encoded else body.decode())
            message["properties"] = dict(template["properties"], delivery_tag=uuid.uuid4().hex)
            payload = json.dumps(message)
            for topic in topics:
                pipe.publish(topic, payload)
        pipe.execute()
        if tasks_per_s:
            ahead = (first + chunk) / tasks_per_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    if finished is not None:
        finished[index] = time.monotonic()
    client.close()


class Flower:
    def __init__(self, celery_bin: str, url: str) -> None:
        self.port = free_port()
        env = dict(os.environ, FLOWER_UNAUTHENTICATED_API="true")
        self.log = tempfile.NamedTemporaryFile(prefix="flower-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [celery_bin, "--broker", url, "flower", f"--port={self.port}", "--address=127.0.0.1", "--persistent=False"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self._last = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/healthcheck", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError(f"flower did not start; see {self.log.name}")

    def events(self) -> int:
        """Events Flower has processed (its Prometheus counter, summed over labels)."""
        try:
            text = requests.get(self.base + "/metrics", timeout=10).text
        except requests.RequestException:
            return self._last  # too busy to answer: the last count read
        self._last = int(
            sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("flower_events_total{"))
        )
        return self._last

    def tasks_succeeded(self) -> int:
        text = requests.get(self.base + "/metrics", timeout=10).text
        return int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("flower_events_total{") and 'type="task-succeeded"' in line
            )
        )

    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def api_tasks_ms(self, repeats: int = 20) -> dict:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            requests.get(self.base + "/api/tasks?limit=100", timeout=30).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        return {"p50_ms": round(times[len(times) // 2], 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)}

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Switchyard:
    def __init__(self, url: str) -> None:
        from messaging.brokers.base import BrokerConfig
        from messaging.celery.service import CeleryWatch

        self.watch = CeleryWatch(BrokerConfig(name="bench", url=url))
        self.watch.inspector.run = lambda: None  # synthetic workers cannot be inspected
        self.watch.start()
        while not self.watch.counters.connected:
            time.sleep(0.1)

    def events(self) -> int:
        return self.watch.counters.received

    def stored_finished(self) -> int:
        from messaging.models import TaskRecord

        return TaskRecord.objects.filter(state="SUCCESS").count()

    def close(self) -> None:
        self.watch.stop()


def run_phase(
    sy: Switchyard,
    flower: Flower | None,
    tasks: int,
    events_per_s: float | None,
    producers: int,
    milestones=(100_000, 1_000_000),
) -> dict:
    sy_before, fl_before = sy.events(), flower.events() if flower else 0
    stored_before = sy.stored_finished()
    counters_before = dict(sy.watch.counters.as_dict())
    expected = tasks * 4
    per = tasks // producers
    seed = uuid.uuid4().hex[:8]
    rate = events_per_s / 4 / producers if events_per_s else None
    finished = multiprocessing.Array("d", producers)
    procs = [
        multiprocessing.Process(target=produce, args=(URL, per, f"{seed}{n}", rate, finished, n))
        for n in range(producers)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    samples, memory = [], {}
    published_at = None
    last_change = time.monotonic()
    last = (-1, -1)
    while True:
        time.sleep(0.5)
        # Each side's counts are stamped once read: Flower's /metrics can take a second when it is
        # busy, and a count read after it must not be credited to the time before it.
        s_ev = sy.events() - sy_before
        stored = sy.stored_finished() - stored_before
        now = time.monotonic() - started
        f_ev = (flower.events() - fl_before) if flower else 0
        row = {
            "t": round(now, 1),
            "t_flower": round(time.monotonic() - started, 1),
            "sy_events": s_ev,
            "sy_tasks_stored": stored,
            "sy_rss_mb": rss_mb(),
            "flower_events": f_ev,
            "flower_rss_mb": flower.rss() if flower else None,
        }
        samples.append(row)
        for mark in milestones:
            for side, count in (("switchyard", s_ev), ("flower", f_ev)):
                key = f"{side}_rss_mb_at_{mark}"
                if count >= mark and key not in memory:
                    memory[key] = row["sy_rss_mb" if side == "switchyard" else "flower_rss_mb"]
        if published_at is None and all(not p.is_alive() for p in procs):
            published_at = max(finished) - started
        if (s_ev, f_ev, stored) != last:
            last, last_change = (s_ev, f_ev, stored), time.monotonic()
        caught_up = s_ev >= expected and stored >= tasks and (not flower or f_ev >= expected)
        if published_at is not None and (caught_up or time.monotonic() - last_change > 8):
            break
    for p in procs:
        p.join()

    def done_at(key: str, total: int) -> float:
        """When a side processed its last event (its final count first reached)."""
        return next(r["t_flower" if key.startswith("flower") else "t"] for r in samples if r[key] >= total)

    final = samples[-1]
    counters = sy.watch.counters.as_dict()
    # Lost: never received (Redis cut the subscription) or received and dropped at the full queue.
    sy_lost = expected - final["sy_events"] + counters["dropped"] - counters_before["dropped"]
    result = {
        "events_published": expected,
        "publish_seconds": round(published_at, 2),
        "offered_events_per_s": round(expected / published_at),
        "switchyard": {
            "events_received": final["sy_events"],
            "tasks_stored": final["sy_tasks_stored"],
            "events_per_s": round(
                4 * final["sy_tasks_stored"] / max(done_at("sy_tasks_stored", final["sy_tasks_stored"]), 0.5)
            ),
            "lag_after_publish_s": round(
                max(0.0, done_at("sy_tasks_stored", final["sy_tasks_stored"]) - published_at), 2
            ),
            "events_lost": sy_lost,
            "dropped_counted": counters["dropped"] - counters_before["dropped"],
            "disconnects_counted": counters["disconnects"] - counters_before["disconnects"],
            "rss_mb_end": final["sy_rss_mb"],
        },
    }
    sy_side = result["switchyard"]
    sy_side["loss_detected"] = sy_lost == 0 or bool(sy_side["dropped_counted"] or sy_side["disconnects_counted"])
    if flower:
        f_total = final["flower_events"]
        result["flower"] = {
            "events_received": f_total,
            "events_per_s": round(f_total / max(done_at("flower_events", f_total), 0.5)),
            "lag_after_publish_s": round(max(0.0, done_at("flower_events", f_total) - published_at), 2),
            "events_lost": expected - f_total,
            "loss_detected": expected == f_total and None,  # Flower has no counter of lost events
            "rss_mb_end": final["flower_rss_mb"],
        }
    result["memory"] = memory
    result["samples"] = samples[:: max(1, len(samples) // 40)]
    return result


def real_workers(sy: Switchyard, flower: Flower | None, tasks: int) -> dict:
    """Two Celery solo workers run ``tasks`` no-op tasks; what each side saw succeed."""
    env = dict(os.environ, BENCH_BROKER=URL, PYTHONPATH=str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="sy-bench-workers-"))
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.noop_app",
                "worker",
                "-P",
                "solo",
                "-E",
                "-Q",
                queue,
                "-n",
                f"w{n}-{queue}@bench",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(2)
    ]
    try:
        from bench.noop_app import app, noop

        sy_before = sy.stored_finished()
        fl_before = flower.tasks_succeeded() if flower else 0
        time.sleep(3)  # workers up
        started = time.monotonic()
        for _ in range(tasks):
            noop.apply_async(queue=queue)
        deadline = time.monotonic() + 120
        sy_seen = fl_seen = 0
        while time.monotonic() < deadline:
            sy_seen = sy.stored_finished() - sy_before
            fl_seen = (flower.tasks_succeeded() - fl_before) if flower else tasks
            if sy_seen >= tasks and fl_seen >= tasks:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        app.close()
        return {
            "tasks": tasks,
            "seconds": round(elapsed, 1),
            "switchyard_tasks_seen": sy_seen,
            "flower_tasks_seen": fl_seen if flower else None,
            "tasks_per_s": round(min(sy_seen, tasks) / elapsed),
        }
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                w.kill()
        import redis

        client = redis.Redis.from_url(URL)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


URL = "redis://127.0.0.1:6379/7"


def main() -> None:
    global URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL)
    parser.add_argument("--events", type=int, default=1_000_000, help="sustained phase, events (4 per task)")
    parser.add_argument(
        "--rate", type=float, default=30_000, help="sustained phase, events/s offered (2 producers give ~30k at most)"
    )
    parser.add_argument("--flood-events", type=int, default=200_000)
    parser.add_argument("--worker-tasks", type=int, default=2_000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--flower", default=str(ROOT / "bench/.venv-flower/bin/celery"))
    args = parser.parse_args()
    URL = args.url

    workdir = Path(tempfile.mkdtemp(prefix="sy-bench-ingest-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    flower = Flower(args.flower, URL) if Path(args.flower).exists() else None
    sy = Switchyard(URL)
    results: dict = {
        "url": URL,
        "flower": bool(flower),
        "rss_mb_idle": {"switchyard": rss_mb(), "flower": flower.rss() if flower else None},
    }
    try:
        time.sleep(2)  # Flower subscribes once its event loop runs
        results["warmup"] = run_phase(sy, flower, 50, None, 1)["switchyard"]["events_received"]
        results["sustained"] = run_phase(sy, flower, args.events // 4, args.rate, args.producers)
        if flower:
            results["flower_api_tasks_limit100"] = flower.api_tasks_ms()
        results["flood"] = run_phase(sy, flower, args.flood_events // 4, None, args.producers)
        if args.worker_tasks:
            results["real_workers"] = real_workers(sy, flower, args.worker_tasks)
    finally:
        sy.close()
        if flower:
            flower.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()

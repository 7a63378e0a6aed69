"""Celery event firehose: how many events/s Switchyard ingests end to end, and its memory.

Publishes synthetic task events (sent/received/started/succeeded per task, unique ids) to the
broker's event exchange from producer processes, runs the real capture -> queue -> writer path
into the database, and reports events/s written, events dropped, and the process's RSS.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python bench/celery_events.py --tasks 25000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


def produce(url: str, options: dict, tasks: int, seed: int) -> None:
    from celery.events.event import get_exchange
    from kombu import Connection

    with Connection(url, transport_options=options) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)
        producer.declare()
        exchange(connection.default_channel).declare()
        for i in range(tasks):
            task_id = f"{seed}-{i}-{uuid.uuid4().hex[:8]}"
            now = time.time()
            batch = [
                {"type": "task-sent", "uuid": task_id, "name": "bench.add", "args": "[1, 2]", "kwargs": "{}",
                 "queue": "bench", "timestamp": now, "utcoffset": 0, "clock": 1, "hostname": "producer"},
                {"type": "task-received", "uuid": task_id, "name": "bench.add", "args": "[1, 2]", "kwargs": "{}",
                 "timestamp": now, "utcoffset": 0, "clock": 2, "hostname": "w@bench"},
                {"type": "task-started", "uuid": task_id, "timestamp": now, "utcoffset": 0, "hostname": "w@bench"},
                {"type": "task-succeeded", "uuid": task_id, "result": "3", "runtime": 0.001, "timestamp": now,
                 "utcoffset": 0, "hostname": "w@bench"},
            ]  # fmt: skip
            # Celery workers send buffered task events as one list per message; do the same.
            producer.publish(
                json.dumps(batch).encode(),
                exchange=exchange,
                routing_key="task.multi",
                content_type="application/json",
                content_encoding="utf-8",
            )


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=25_000, help="tasks (4 events each)")
    parser.add_argument("--producers", type=int, default=2)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from messaging.brokers.base import BrokerConfig
    from messaging.celery.service import CeleryWatch
    from messaging.models import TaskRecord

    options = {"global_keyprefix": f"bench{uuid.uuid4().hex[:6]}:"} if args.url.startswith("redis") else {}
    watch = CeleryWatch(BrokerConfig(name="bench", url=args.url, options=options))
    watch.inspector.run = lambda: None  # no workers to inspect
    before = TaskRecord.objects.count()
    baseline_mb = current_rss_mb()
    watch.start()
    while not watch.counters.connected:
        time.sleep(0.1)
    time.sleep(1.0)
    per = args.tasks // args.producers
    started = time.monotonic()
    workers = [multiprocessing.Process(target=produce, args=(args.url, options, per, n)) for n in range(args.producers)]
    for process in workers:
        process.start()
    expected = per * args.producers * 4
    last_change, last_seen = time.monotonic(), -1
    while True:
        folded = watch.counters.received
        written = watch.writer.written
        if written != last_seen:
            last_change, last_seen = time.monotonic(), written
        done = all(not p.is_alive() for p in workers) and watch.writer.inbox.empty()
        if (done and folded >= expected) or time.monotonic() - last_change > 10:
            break
        time.sleep(0.2)
    time.sleep(FLUSH_GRACE := 0.6)
    elapsed = time.monotonic() - started - FLUSH_GRACE
    stored = TaskRecord.objects.count() - before
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "transport": args.url.split("://")[0],
                "events_published": expected,
                "events_received": watch.counters.received,
                "events_dropped": watch.counters.dropped,
                "tasks_stored": stored,
                "seconds": round(elapsed, 2),
                "events_per_s": round(watch.counters.received / elapsed),
                "tasks_in_memory": len(watch.writer.tasks),
                "rss_before_mb": baseline_mb,
                "rss_after_mb": current_rss_mb(),
                "max_rss_mb": round(rss_mb, 1),
                "db": os.environ.get("DATABASE_URL", "sqlite (project file)"),
            }
        )
    )
    watch.stop()


if __name__ == "__main__":
    main()

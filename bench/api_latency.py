"""API latency with a big database: GET /api/v1/queues over 1,000 queues (the whole list, and
pages of 100: from the middle, deepest first, by name substring), GET /api/v1/tasks over
1,000,000 stored tasks (unfiltered, by state, by name, by both, a rare state), p50/p95.

    .venv/bin/python -m bench.api_latency [--tasks 1000000] [--queues 1000] [--repeats 40]

Builds a temporary SQLite database (queue rows with bulk_create, task rows with one executemany
per 50,000), serves it with ``manage.py serve --no-monitor`` on a free port and times real HTTP
calls with a viewer token (the first call of each URL is a warm-up and not counted). Prints JSON.

    .venv/bin/python -m bench.api_latency --fleet 10000 [--repeats 60]

The fleet under monitor load (issue 18 items 3 and 4) instead: a private redis-server holding
``--fleet`` Celery-bound queues with one message each, one ``manage.py serve`` with its monitor
in-process sampling every 2 s (every queue changes every round: 10,000 row writes per round),
and, while it runs, pages of 100 of the API (middle, deepest first, worst first, by name) and the
overview page (logged in) timed in turn, with ``/api/v1/health`` beside them as the floor any
request pays under that load. Prints a table next to the targets on stderr, JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NAMES = [f"app.tasks.job_{n:02d}" for n in range(20)]
STATES = ["SUCCESS"] * 90 + ["FAILURE"] * 6 + ["STARTED"] * 2 + ["RECEIVED", "RETRY"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(tasks: int, queues: int) -> float:
    from django.db import connection, transaction

    from messaging.models import Queue, TaskRecord

    started = time.monotonic()
    now = datetime.now(UTC)
    Queue.objects.bulk_create(
        Queue(broker="redis", name=f"bench.q{n:05d}", depth=n % 97, consumers=1, sampled_at=now) for n in range(queues)
    )
    fields = [f for f in TaskRecord._meta.concrete_fields if f.name != "id"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {TaskRecord._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608 (names from the model)
    defaults = {f.name: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    rng = random.Random(7)
    for first in range(0, tasks, 50_000):
        rows = []
        for n in range(first, min(first + 50_000, tasks)):
            at = now - timedelta(seconds=(tasks - n) * 0.05)
            values = dict(
                defaults,
                task_id=f"bench-{n:08d}",
                broker="redis",
                name=rng.choice(NAMES),
                state=rng.choice(STATES),
                queue=f"bench.q{n % queues:05d}",
                worker=f"w{n % 8}@bench",
                args="[1, 2]",
                kwargs="{}",
                created_at=at,
                updated_at=at,
                sent_at=at,
                received_at=at,
                started_at=at,
                finished_at=at,
                runtime_s=0.01,
                wait_s=0.002,
                events="[]",
            )
            rows.append([values[f.name] for f in fields])
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.monotonic() - started


def timed(session: requests.Session, url: str, repeats: int) -> dict:
    session.get(url, timeout=60).raise_for_status()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = session.get(url, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    times.sort()
    body = response.json()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "count": body.get("count") if isinstance(body, dict) else len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--fleet", type=int, default=0, help="queues: time pages under monitor load instead")
    parser.add_argument(
        "--monitor-process", action="store_true", help="with --fleet: the monitor in a process of its own"
    )
    args = parser.parse_args()
    if args.fleet:
        from bench.api_fleet import run_fleet

        print(json.dumps(run_fleet(args.fleet, args.repeats, args.monitor_process)))
        return

    workdir = Path(tempfile.mkdtemp(prefix="sy-bench-api-"))
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        DJANGO_SETTINGS_MODULE="console.settings",
        SWITCHYARD_ACTION_RUNNER="false",
        SWITCHYARD_BROKERS="",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill_s = fill(args.tasks, args.queues)
    from io import StringIO

    out = StringIO()
    call_command("issuetoken", "bench-viewer", role="viewer", stdout=out, stderr=StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-monitor", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(base + "/health", timeout=2).status_code < 500:
                    break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        urls = {
            "queues": "/queues",
            # A page of 100 from the middle, sorted and filtered in the database (issue 18 item 3).
            "queues_page": f"/queues?limit=100&offset={args.queues // 2}",
            "queues_page_deepest": "/queues?limit=100&ordering=-depth",
            "queues_page_name": "/queues?limit=100&name=q0&ordering=name",
            "tasks": "/tasks",
            "tasks_state": "/tasks?state=SUCCESS",
            "tasks_name": f"/tasks?name={NAMES[3]}",
            "tasks_state_name": f"/tasks?state=FAILURE&name={NAMES[3]}",
            "tasks_rare_state": "/tasks?state=RETRY",
        }
        results = {key: timed(session, base + path, args.repeats) for key, path in urls.items()}
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps({"tasks": args.tasks, "queues": args.queues, "fill_s": round(fill_s, 1), "calls": results}))


if __name__ == "__main__":
    main()

"""History rows and database size for 10,000 queues over 24 h (issue 18 item 2), on SQLite and
PostgreSQL: stores one hour of what the monitor writes (10,000 queues, a 2 s interval, a share of
them changing every round, the rest only their hourly keep-alive), measures rows and bytes, and
extrapolates to 24 h; then runs the retention (fold past the raw window, expire past the rollup
window) over a 24-hour-old hour and reports what it left.

    .venv/bin/python -m bench.history_size [--queues 10000] [--changing 100] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTERVAL_S = 2.0


def setup(url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def one_hour(queue_ids: list[int], changing: int, start: datetime) -> int:
    """The rows an hour of rounds writes: ``changing`` queues write a point every round, every
    other queue its one keep-alive point (messaging.queue_sampling.HISTORY_KEEPALIVE_S)."""
    from messaging.models import QueueSample

    rows, written = [], 0
    rounds = int(3600 / INTERVAL_S)
    for n, queue_id in enumerate(queue_ids):
        busy = n < changing
        for r in range(rounds if busy else 1):
            at = start + timedelta(seconds=r * INTERVAL_S + (n % 2000) / 1000)
            depth = (r * 7 + n) % 500 if busy else 3
            rows.append(QueueSample(queue_id=queue_id, at=at, depth=depth, depth_max=depth, unacked=0, consumers=1))
        if len(rows) >= 20000:
            QueueSample.objects.bulk_create(rows, batch_size=2000)
            written += len(rows)
            rows = []
    QueueSample.objects.bulk_create(rows, batch_size=2000)
    return written + len(rows)


def size_bytes(sqlite_path: Path | None) -> int:
    from django.db import connection

    if sqlite_path is not None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sqlite_path.stat().st_size
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('messaging_queuesample')")
        return int(cursor.fetchone()[0])


def measure(url: str, sqlite_path: Path | None, queues: int, changing: int) -> dict:
    setup(url)
    from django.conf import settings

    from messaging.history import enforce_retention
    from messaging.models import Queue, QueueSample

    prefix = f"hs{uuid.uuid4().hex[:6]}"
    Queue.objects.bulk_create([Queue(broker=prefix, name=f"q{n:05d}") for n in range(queues)], batch_size=2000)
    ids = list(Queue.objects.filter(broker=prefix).order_by("id").values_list("id", flat=True))
    base = size_bytes(sqlite_path)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    rows_hour = one_hour(ids, changing, now - timedelta(hours=1))
    write_s = time.perf_counter() - started
    hour_bytes = size_bytes(sqlite_path) - base
    # An hour past the raw window: the retention folds it into minute points.
    old_rows = one_hour(ids, changing, now - timedelta(hours=settings.SWITCHYARD_HISTORY_RAW_HOURS + 1))
    started = time.perf_counter()
    counts = enforce_retention(now)
    retention_s = time.perf_counter() - started
    left = QueueSample.objects.filter(queue__broker=prefix).count()
    result = {
        "queues": queues,
        "changing_every_round": changing,
        "rows_per_hour": rows_hour,
        "rows_per_day": rows_hour * 24,
        "bytes_per_row": round(hour_bytes / rows_hour, 1),
        "mb_per_day_extrapolated": round(hour_bytes * 24 / 2**20, 1),
        "write_hour_s": round(write_s, 1),
        "retention": {**counts, "rows_folded_hour": old_rows, "rows_left": left, "seconds": round(retention_s, 2)},
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    Queue.objects.filter(broker=prefix).delete()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--changing", type=int, default=100, help="queues whose figures change every round")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL database URL to measure instead of SQLite")
    args = parser.parse_args()
    if args.postgres:
        result = measure(args.postgres, None, args.queues, args.changing)
    else:
        path = Path(tempfile.mkdtemp(prefix="swhist-")) / "history.sqlite3"
        result = measure(f"sqlite:///{path}", path, args.queues, args.changing)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

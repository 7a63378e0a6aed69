"""Stuck in flight on Redis: a delivery is listed when held longer than the threshold, or, however
recent, when the worker Celery saw take its task is offline; a delivery held briefly by an online
worker is not."""

from __future__ import annotations

import json
import time

from django.utils import timezone

from messaging import in_flight
from messaging.models import TaskRecord, Worker
from tests.action_helpers import celery_envelope, redis_broker, unique_name  # noqa: F401  (fixture)


def deliver(redis_client, prefix: str, queue: str, age_s: float) -> tuple[str, str]:
    message = json.loads(celery_envelope(queue))
    tag = message["properties"]["delivery_tag"]
    redis_client.hset(prefix + "unacked", tag, json.dumps([message, "", queue]))
    redis_client.zadd(prefix + "unacked_index", {tag: time.time() - age_s})
    return tag, message["headers"]["id"]


def taken_by(task_id: str, hostname: str, status: str) -> None:
    now = timezone.now()
    Worker.objects.get_or_create(broker="main", hostname=hostname, defaults={"status": status, "last_heartbeat": now})
    TaskRecord.objects.create(
        task_id=task_id, broker="main", name="app.work", state="STARTED", worker=hostname,
        created_at=now, updated_at=now,
    )  # fmt: skip


def test_deliveries_of_offline_workers_are_stuck_however_recent(redis_broker, db):
    _, redis_client, prefix = redis_broker
    queue = unique_name("jobs")
    old_tag, _ = deliver(redis_client, prefix, queue, age_s=900)
    orphan_tag, orphan_task = deliver(redis_client, prefix, queue, age_s=10)
    busy_tag, busy_task = deliver(redis_client, prefix, queue, age_s=10)
    taken_by(orphan_task, "celery@gone", Worker.OFFLINE)
    taken_by(busy_task, "celery@alive", Worker.ONLINE)

    listed = {item["tag"]: item for item in in_flight.stuck("main", older_than_s=300)}

    assert set(listed) == {old_tag, orphan_tag}
    assert listed[old_tag]["reason"] == in_flight.HELD_TOO_LONG and listed[old_tag]["worker"] is None
    assert listed[orphan_tag]["reason"] == in_flight.WORKER_OFFLINE
    assert listed[orphan_tag]["worker"] == "celery@gone" and listed[orphan_tag]["queue"] == queue
    assert busy_tag in {item["tag"] for item in in_flight.stuck("main", older_than_s=5)}

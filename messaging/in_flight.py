"""Messages stuck in flight: held by a consumer that is gone or hung.

Redis: entries of Kombu's ``unacked`` hash held longer than a threshold, or held for a task whose
worker (from Celery's events) is offline, however recently; an operator restores them to
their queue now instead of waiting for the visibility timeout (one atomic script per message,
as Kombu's ``restore_by_tag``). RabbitMQ: unacknowledged messages per consumer connection; an
admin closes a stuck connection and the broker requeues what it held. Everything is audited.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from messaging import audit
from messaging.brokers.base import BrokerError

MAX_TAGS = 1000


# How many in-flight entries are looked at to find those whose worker is gone.
SCAN_LIMIT = 2000
HELD_TOO_LONG, WORKER_OFFLINE, AGE_UNKNOWN = "held too long", "worker offline", "holding (age unknown)"


def stuck(broker_name: str, older_than_s: float, limit: int = 200) -> list[dict[str, Any]]:
    """Stuck deliveries, oldest first, each with the ``worker`` Celery saw take its task (or None)
    and the ``reason`` it is listed: held longer than ``older_than_s``, or its worker is offline.
    Kombu does not record who holds a delivery: the worker comes from the task's events."""
    from messaging.process_config import open_broker

    with open_broker(broker_name) as broker:
        items = [asdict(item) for item in broker.stuck_in_flight(0.0, SCAN_LIMIT)]
    workers = _workers_of(broker_name, [item["task_id"] for item in items if item.get("task_id")])
    found = []
    for item in items:
        worker, online = workers.get(item.get("task_id") or "", (None, None))
        age = item.get("age_s")
        if age is None:
            reason = AGE_UNKNOWN  # RabbitMQ does not say how long a message has been held
        elif age >= older_than_s:
            reason = HELD_TOO_LONG
        elif online is False:
            reason = WORKER_OFFLINE
        else:
            continue
        found.append({**item, "worker": worker, "reason": reason})
        if len(found) >= limit:
            break
    return found


def _workers_of(broker_name: str, task_ids: list[str]) -> dict[str, tuple[str, bool | None]]:
    """task id -> (the worker that received it, is that worker online?) from stored Celery state."""
    from messaging.models import TaskRecord, Worker

    if not task_ids:
        return {}
    hosts = dict(
        TaskRecord.objects.filter(broker=broker_name, task_id__in=task_ids)
        .exclude(worker="")
        .values_list("task_id", "worker")
    )
    status = dict(
        Worker.objects.filter(broker=broker_name, hostname__in=set(hosts.values())).values_list("hostname", "status")
    )
    return {
        task_id: (host, None if host not in status else status[host] == Worker.ONLINE)
        for task_id, host in hosts.items()
    }


def restore(user: Any, broker_name: str, tags: list[str]) -> dict[str, Any]:
    """Restore each tag; returns ``{restored: {tag: queue}, gone: [tags], errors: {tag: reason}}``."""
    from messaging.process_config import open_broker

    restored: dict[str, str] = {}
    gone: list[str] = []
    errors: dict[str, str] = {}
    with open_broker(broker_name) as broker:
        try:
            for tag in tags:
                try:
                    queue = broker.restore_in_flight(tag)
                except BrokerError as exc:
                    if not exc.permanent:
                        raise
                    errors[tag] = str(exc)
                    continue
                if queue is None:
                    gone.append(tag)
                else:
                    restored[tag] = queue
        finally:
            audit.record(
                user,
                "in_flight.restore",
                broker=broker_name,
                queue=",".join(sorted(set(restored.values())))[:1000],
                params={"tags": tags[:100], "count": len(tags)},
                outcome=f"{len(restored)} restored, {len(gone)} already settled, {len(errors)} refused",
            )
    return {"restored": restored, "gone": gone, "errors": errors}


def close_connection(user: Any, broker_name: str, connection: str) -> None:
    from messaging.process_config import open_broker

    outcome = "closed; the broker requeues the messages it held"
    with open_broker(broker_name) as broker:
        try:
            broker.close_connection(connection)
        except BrokerError as exc:
            outcome = f"failed: {exc}"
            raise
        finally:
            audit.record(
                user, "connection.close", broker=broker_name, params={"connection": connection}, outcome=outcome
            )

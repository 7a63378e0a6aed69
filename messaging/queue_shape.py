"""The JSON shape of a queue, built in one place for every surface that sends one: the REST API's
rows (``console.api.serializers.QueueSerializer``, list and detail) and the monitor's
``queue.sample`` stream events (``messaging.sample_recorder.queue_event``). docs/api.md, "Queues";
docs/websocket.md, "queues".

Unknown figures stay None (``null``). What the surfaces add differs by design: the API names the
queue a DLQ collects from, the queue's type and why its broker is down (queries the monitor's
round over 1,000 queues must not make); the stream event carries the DLQ's id so pages can link
it without a lookup, and its time as epoch seconds.
"""

from __future__ import annotations

from typing import Any

from messaging.models import Queue


def queue_fields(queue: Queue) -> dict[str, Any]:
    """The identity and figures every queue shape carries, in the API's order."""
    return {
        "id": queue.public_id,
        "broker": queue.broker,
        "vhost": queue.vhost,
        "name": queue.name,
        "depth": queue.depth,
        "unacked": queue.unacked,
        "consumers": queue.consumers,
        "publish_rate": queue.publish_rate,
        "consume_rate": queue.consume_rate,
        "oldest_age_s": queue.oldest_age_s,
        "oldest_age_exact": queue.oldest_age_exact,
        "time_to_drain_s": queue.time_to_drain_s,
        "trend": queue.trend,
        "is_dlq": queue.is_dlq,
        "dlq": queue.dlq.name if queue.dlq_id and queue.dlq else None,
        "present": queue.present,
        "system": queue.is_system,
        "kind": queue.kind,
        "topic": queue.topic or None,
        "group": queue.group or None,
        "status": queue.status or None,
    }

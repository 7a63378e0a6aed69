"""A dead-letter queue for Celery on Redis, and exact publish times. Opt-in, for your Celery app.

    from messaging.integrations.celery_dlq import install
    install(app)            # after creating the Celery app, in the module the worker imports

This module needs Celery and Kombu only (no Django). It does two things:

1. **Dead letters.** When a task fails for good (``task_failure``: the exception escaped after any
   retries, or ``Reject(requeue=False)``) the task's ORIGINAL message is pushed to
   ``<queue>.dlq`` on the same Redis (same ``global_keyprefix``), with a death record shaped like
   RabbitMQ's ``x-death`` in its headers: reason, exception type and message, a traceback
   summary, original queue, count and time. Switchyard shows, requeues and moves these messages
   like RabbitMQ's.
   *No loss*: the hooks run in the worker before Celery acknowledges the message, so the copy is
   in the DLQ before the original leaves Kombu's ``unacked`` hash. The original is read from that
   hash (exact bytes) when the task uses ``acks_late=True``; otherwise Celery has already acked it
   at delivery and the message is rebuilt from the task request (same headers, id, args, kwargs).
   *Duplication*: if the worker dies between the DLQ write and the ack, the message is both
   redelivered (visibility timeout) and in the DLQ. If the DLQ write itself fails (Redis down), the
   failure is logged and the task is acknowledged as Celery would have done without this module.
   On RabbitMQ nothing is written: use the broker's own dead-lettering (``x-dead-letter-exchange``).
2. **Publish time.** ``before_task_publish`` stamps header ``x-switchyard-published-at`` (epoch
   seconds, float) so Switchyard's head-of-line age is exact rather than a lower bound.

Nothing else about your tasks changes: no task class, no result, no retry behaviour is touched.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback as tb_module
import uuid
from typing import Any

from celery import signals
from celery.exceptions import Reject
from celery.states import REJECTED
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES

log = logging.getLogger(__name__)

PUBLISHED_AT_HEADER = "x-switchyard-published-at"
DEFAULT_SUFFIX = ".dlq"
TRACEBACK_LINES = 20
REQUEST_HEADERS = (
    "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries", "timelimit",
    "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result", "stamped_headers", "stamps",
)  # fmt: skip

_installed: dict[int, dict[str, Any]] = {}


def install(app: Any, *, suffix: str = DEFAULT_SUFFIX, stamp_published_at: bool = True) -> None:
    """Connect the hooks for ``app`` (idempotent). ``suffix`` names the DLQ: ``<queue><suffix>``."""
    if id(app) in _installed:
        return
    _installed[id(app)] = {"suffix": suffix}
    if stamp_published_at:
        signals.before_task_publish.connect(_stamp_published_at, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)


def _stamp_published_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[PUBLISHED_AT_HEADER] = time.time()


def _on_failure(sender: Any = None, exception: BaseException | None = None, einfo: Any = None, **_: Any) -> None:
    text = str(getattr(einfo, "traceback", "") or "") if einfo is not None else ""
    _dead_letter(sender, "failed", exception, text)


def _on_postrun(sender: Any = None, state: str | None = None, retval: Any = None, **_: Any) -> None:
    if state == REJECTED and isinstance(retval, Reject) and not retval.requeue:
        _dead_letter(sender, "rejected", retval.reason if isinstance(retval.reason, BaseException) else retval, "")


def _dead_letter(task: Any, reason: str, exc: BaseException | None, traceback_text: str) -> None:
    if task is None or id(task.app) not in _installed:
        return
    request = task.request
    if request.is_eager or request.called_directly:
        return
    try:
        with task.app.connection_for_write() as conn:
            if conn.transport.driver_type != "redis":
                return
            channel = conn.default_channel
            client = channel.client  # applies global_keyprefix like Kombu does
            original = _original_message(client, channel.unacked_key, request)
            queue = _queue_of(task, request)
            info = request.delivery_info or {}
            message = with_death(
                original, queue, reason, exc, traceback_text, exchange=_exchange_of(request),
                routing_key=info.get("routing_key") or None,
            )  # fmt: skip
            client.lpush(queue + _installed[id(task.app)]["suffix"], json.dumps(message))
    except Exception:
        log.exception("switchyard: could not dead-letter task %s (%s)", getattr(request, "id", "?"), task.name)


def with_death(
    message: dict[str, Any],
    queue: str,
    reason: str,
    exc: BaseException | None,
    traceback_text: str,
    exchange: str = "",
    routing_key: str | None = None,
) -> dict[str, Any]:
    """The Kombu message with a death record added the way RabbitMQ does it: the entry for the
    same (queue, reason) has its count bumped and moves to the front; ``x-first-death-*`` are set
    once. The copy gets a fresh delivery tag so it never collides with the original in flight."""
    headers = message.setdefault("headers", {})
    if not isinstance(headers, dict):
        headers = message["headers"] = {}
    deaths = [d for d in headers.get("x-death") or [] if isinstance(d, dict)]
    same = next((d for d in deaths if d.get("queue") == queue and d.get("reason") == reason), None)
    count = int(same.get("count") or 0) + 1 if same else 1
    record = {
        "queue": queue,
        "reason": reason,
        "count": count,
        "time": time.time(),
        "exchange": exchange,
        "routing-keys": [routing_key or queue],
        "exception-type": type(exc).__name__ if exc is not None else None,
        "exception-message": str(exc)[:2000] if exc is not None else None,
        "traceback": summarize(traceback_text, exc),
    }
    headers["x-death"] = [record] + [d for d in deaths if d is not same]
    headers.setdefault("x-first-death-queue", queue)
    headers.setdefault("x-first-death-reason", reason)
    headers.setdefault("x-first-death-exchange", exchange)
    properties = message.setdefault("properties", {})
    if isinstance(properties, dict):
        properties["delivery_tag"] = str(uuid.uuid4())
    return message


def summarize(traceback_text: str, exc: BaseException | None) -> str | None:
    if not traceback_text and exc is not None and exc.__traceback__ is not None:
        traceback_text = "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))
    if not traceback_text:
        return None
    lines = traceback_text.rstrip().splitlines()
    return "\n".join(lines[-TRACEBACK_LINES:])[:4000]


def _original_message(client: Any, unacked_key: str, request: Any) -> dict[str, Any]:
    tag = (request.properties or {}).get("delivery_tag")
    if tag:
        stored = client.hget(unacked_key, tag)
        if stored:
            try:
                message, _exchange, _routing_key = json.loads(stored)
                if isinstance(message, dict):
                    return message
            except (ValueError, TypeError):
                pass
    return _rebuilt_message(request)


def _rebuilt_message(request: Any) -> dict[str, Any]:
    """Celery protocol 2 from the task request, when the original was acked at delivery."""
    headers = {name: getattr(request, name, None) for name in REQUEST_HEADERS}
    headers["x-switchyard-rebuilt"] = True
    embed = {
        "callbacks": request.callbacks,
        "errbacks": request.errbacks,
        "chain": request.chain,
        "chord": request.chord,
    }
    body = json.dumps([list(request.args or ()), dict(request.kwargs or {}), embed], default=repr)
    properties = dict(request.properties or {})
    properties["body_encoding"] = "base64"
    return {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": properties,
    }


def _queue_of(task: Any, request: Any) -> str:
    """The queue the worker took the message from. Celery's request does not name it, and the
    routing key is a queue's name only on the default exchange: through a topic, fanout or
    renamed direct binding (Celery's routing guide: queue ``feeds`` bound with ``feed.#``, tasks
    sent with ``feed.import``) the worker's own queues and their bindings say which it was.
    Falls back to the routing key (then the task's queue) when none or several match."""
    info = request.delivery_info or {}
    exchange, routing_key = info.get("exchange") or "", info.get("routing_key") or ""
    fallback = routing_key or task.queue or task.app.conf.task_default_queue
    if not exchange:
        return fallback
    try:
        consumed = list(task.app.amqp.queues.consume_from.values())
    except Exception:
        return fallback
    matches = [q.name for q in consumed if _binds(q, exchange, routing_key)]
    if len(matches) == 1:
        return matches[0]
    return routing_key if routing_key in matches else fallback


def _binds(queue: Any, exchange: str, routing_key: str) -> bool:
    """Whether ``queue`` (a Kombu Queue) is bound to ``exchange`` so that ``routing_key`` reaches
    it, matched as Kombu's virtual transports match (direct, topic, fanout)."""
    bindings = [(queue.exchange, queue.routing_key)]
    bindings += [(b.exchange, b.routing_key) for b in getattr(queue, "bindings", ()) or ()]
    for bound_to, key in bindings:
        if bound_to is None or getattr(bound_to, "name", bound_to) != exchange:
            continue
        kind = STANDARD_EXCHANGE_TYPES.get(getattr(bound_to, "type", "direct") or "direct")
        if kind is None:
            continue
        matcher = kind(None)
        _, pattern, _ = matcher.prepare_bind(queue.name, exchange, key or "", {})
        if matcher.lookup([(key or "", pattern, queue.name)], exchange, routing_key, None):
            return True
    return False


def _exchange_of(request: Any) -> str:
    return (request.delivery_info or {}).get("exchange") or ""

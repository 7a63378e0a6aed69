"""Journey marks an action leaves: for each Celery message it takes from a queue, the death record
the message carried (dead-lettered: where from, why, how often) and the action that took it; and
those a browse leaves (:func:`note_browsed`): the death records it showed, and who took the
messages where looking takes them.

A run's plan wraps its header stamp with :func:`recorder`; the marks wait in memory and are written
when the runner saves a batch (:func:`flush`), so a 100,000-message requeue writes them in batches,
not one by one. Bulk moves (Redis moving every message server-side) see no single message and
leave no marks: the journey shows a gap there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from messaging import decoding
from messaging.brokers.base import RawMessage
from messaging.header_values import as_text
from messaging.models import Action, JourneyMark
from messaging.poison import death_count

_pending: dict[int, list[JourneyMark]] = {}
_lock = threading.Lock()


def task_id_of(message: RawMessage) -> str | None:
    """The Celery task id a message carries (protocol 2 headers), else None."""
    headers = message.headers
    task_id = as_text(headers.get("id")) if headers.get("task") else None
    return task_id[:255] if task_id else None


def recorder(action: Action, target_of: Callable[[RawMessage], str | None] | None) -> Callable[[RawMessage], None]:
    """A callable noting each message the action takes (call it from the plan's transform)."""
    kind = JourneyMark.MOVED if action.kind == Action.MOVE else JourneyMark.REQUEUED
    fixed_target = action.target or action.selection.get("default_target") or ""
    # A run starts clean: what an earlier run of this id noted and never saved (it died, or the
    # id is a new action's after a rollback) is not this run's to write.
    discard(action.pk)

    def note(message: RawMessage) -> None:
        task_id = task_id_of(message)
        if task_id is None:
            return
        now = time.time()
        target = (target_of(message) if target_of is not None else None) or fixed_target
        marks = [_taken_mark(action, kind, task_id, now, target)]
        death = decoding.death_record(message.headers)
        if death is not None:
            marks.append(_death_mark(action, task_id, death, message.headers, now))
        with _lock:
            _pending.setdefault(action.pk, []).extend(marks)

    return note


def _taken_mark(action: Action, kind: str, task_id: str, now: float, target: str) -> JourneyMark:
    return JourneyMark(
        task_id=task_id,
        at=datetime.fromtimestamp(now, UTC),
        kind=kind,
        place=action.queue_name,
        by=action.username,
        action=action.pk,
        detail={"action": action.pk, "from": action.queue_name, "to": target},
    )


def _death_mark(action: Action, task_id: str, death: Any, headers: dict[str, Any], now: float) -> JourneyMark:
    detail: dict[str, Any] = {
        "dlq": action.queue_name,
        "from": death.queue,
        "reason": death.reason,
        "deaths": death_count(headers),
        "exception_type": death.exception_type,
    }
    if death.time is None:
        detail["time"] = "not recorded: shown when the action took the message"
    return JourneyMark(
        task_id=task_id,
        at=datetime.fromtimestamp(death.time if death.time is not None else now, UTC),
        kind=JourneyMark.DEAD_LETTERED,
        place=action.queue_name,
        by="",
        action=None,
        detail=detail,
    )


def flush(action_id: int) -> int:
    """Write the marks the action's run has noted so far; how many."""
    with _lock:
        marks = _pending.pop(action_id, [])
    if marks:
        JourneyMark.objects.bulk_create(marks, batch_size=500)
    return len(marks)


def discard(action_id: int) -> None:
    with _lock:
        _pending.pop(action_id, None)


def note_browsed(user: Any, queue: Any, messages: list[Any], consumed: bool) -> int:
    """Marks from a browse (``DecodedMessage`` rows as the role saw them): the death record of each
    Celery message, once per death, and, where the browse took and requeued the messages
    (``consumed``: RabbitMQ marks them redelivered, a quorum queue counts a delivery), a
    ``browsed`` step naming who. A free read changes nothing and leaves no ``browsed`` step."""
    with_ids = [m for m in messages if m.task_id]
    if not with_ids:
        return 0
    now = datetime.now(UTC)
    username = getattr(user, "username", "") or ""
    seen = set(
        JourneyMark.objects.filter(
            task_id__in=[m.task_id[:255] for m in with_ids], kind=JourneyMark.DEAD_LETTERED, place=queue.name[:1024]
        ).values_list("task_id", "at")
    )
    rows = []
    for message in with_ids:
        task_id, death = message.task_id[:255], message.death
        if death is not None and death.time is not None:
            at = datetime.fromtimestamp(death.time, UTC)
            if (task_id, at) not in seen:
                seen.add((task_id, at))
                detail = {"dlq": queue.name, "from": death.queue, "reason": death.reason, "deaths": death.count}
                detail["exception_type"] = death.exception_type
                rows.append(
                    JourneyMark(task_id=task_id, at=at, kind=JourneyMark.DEAD_LETTERED, place=queue.name, detail=detail)
                )
        if consumed:
            detail = {"position": message.position, "took_and_requeued": True}
            rows.append(
                JourneyMark(
                    task_id=task_id, at=now, kind=JourneyMark.BROWSED, place=queue.name, by=username, detail=detail
                )
            )
    JourneyMark.objects.bulk_create(rows, batch_size=500)
    return len(rows)

"""Operator actions on messages: requests become :class:`Action` rows, checked here.

Views call these functions and nothing else; the rows are run by :mod:`messaging.action_runner`.
Every request is audited when accepted, and again when it ends (by the runner).

Selections: ``ids`` (the message ids shown by the browser: Celery task ids or digests), ``all``
(the messages present when the operator confirmed: ``count`` if the client sends the count it
showed, else the count now), or ``filter`` (task name, exception type, older than N seconds),
which scans the same messages and takes those that match.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging import audit, decoding
from messaging.brokers.base import BrokerError, RawMessage
from messaging.models import Action, Queue
from messaging.stream import make_event, publish

MAX_IDS = 10_000
MAX_RATE = 1_000_000.0
FILTER_KEYS = {"task", "exception", "older_than_s"}


class ActionRefused(Exception):
    """The request cannot be accepted; ``detail`` says why (shown to the operator, 400)."""

    def __init__(self, detail: Any, status: int = 400) -> None:
        super().__init__(str(detail))
        self.detail = detail
        self.status = status


def request_move(
    user: Any,
    queue: Queue,
    *,
    kind: str,
    ids: Any = None,
    all: Any = None,  # noqa: A002 - the API's field name
    filter: Any = None,  # noqa: A002
    target: Any = None,
    rate: Any = None,
    dry_run: Any = False,
    create_target: Any = False,
    count: Any = None,
) -> Action:
    """A requeue (target defaults to where each message was dead-lettered from) or a move
    (target required). Raises :class:`ActionRefused`; :class:`BrokerError` when the broker
    cannot be asked for the count or the target."""
    selection = _selection(ids, all, filter)
    if kind == Action.MOVE and not target:
        raise ActionRefused({"target": "a move needs a target queue"})
    if target is not None and (not isinstance(target, str) or not target or len(target) > 1024):
        raise ActionRefused({"target": "must be a queue name"})
    if target == queue.name:
        raise ActionRefused({"target": "the target is the queue itself"})
    rate = _rate(rate)
    dry_run, create_target = _flag(dry_run, "dry_run"), _flag(create_target, "create_target")
    default_target = None
    if kind == Action.REQUEUE and not target:
        source = queue.dead_letter_source
        default_target = source.name if source else None
    broker = _broker(queue)
    try:
        explicit = target or default_target
        if explicit and not create_target and not dry_run and not _target_known(broker, queue, explicit):
            raise ActionRefused({"target": f"queue {explicit!r} does not exist; send create_target: true to create it"})
        budget = _budget(broker, queue, count)
    finally:
        broker.close()
    if selection.get("ids") is not None:
        requested = len(selection["ids"])
    else:
        requested = budget
    return _create(
        user,
        queue,
        kind=kind,
        selection=selection,
        target=target or "",
        budget=budget,
        requested=requested,
        rate=rate,
        dry_run=dry_run,
        create_target=create_target,
        extra={"default_target": default_target} if default_target else {},
    )


def request_delete(user: Any, queue: Queue, *, ids: Any, dry_run: Any = False) -> Action:
    selection = _selection(ids, None, None)
    if selection.get("ids") is None:
        raise ActionRefused({"ids": "delete needs the ids of the messages; purge empties a queue"})
    broker = _broker(queue)
    try:
        budget = _budget(broker, queue, None)
    finally:
        broker.close()
    return _create(
        user,
        queue,
        kind=Action.DELETE,
        selection=selection,
        target="",
        budget=budget,
        requested=len(selection["ids"]),
        dry_run=_flag(dry_run, "dry_run"),
    )


def request_purge(user: Any, queue: Queue, *, confirm: Any, count: Any = None) -> Action:
    """Delete the messages present now (or the ``count`` the operator was shown), oldest first.
    ``confirm`` must be the queue's exact name."""
    if confirm != queue.name:
        raise ActionRefused({"confirm": "type the queue's exact name to purge it"})
    broker = _broker(queue)
    try:
        budget = _budget(broker, queue, count)
    finally:
        broker.close()
    return _create(
        user,
        queue,
        kind=Action.PURGE,
        selection={"all": True},
        target="",
        budget=budget,
        requested=budget,
    )


def cancel(user: Any, action: Action) -> Action:
    """Ask a running action to stop between batches; a pending one is cancelled at once."""
    if action.is_final:
        raise ActionRefused(f"action {action.pk} already {action.state}", status=409)
    with transaction.atomic():
        updated = Action.objects.filter(pk=action.pk, state=Action.PENDING).update(
            state=Action.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if not updated:
            Action.objects.filter(pk=action.pk).update(cancel_requested=True)
        audit.record(
            user, f"{action.kind}.cancel", broker=action.broker, queue=action.queue_name, params={"action": action.pk}
        )
    action.refresh_from_db()
    if action.is_final:
        transaction.on_commit(lambda: publish_state(action))
    return action


def resume(user: Any, action: Action, stale_after_s: float | None = None) -> Action:
    """Run an interrupted action again from where it stopped (its progress is kept)."""
    from messaging.action_runner import dispatch, reap_interrupted

    reap_interrupted(stale_after_s)
    action.refresh_from_db()
    if not (action.state == Action.FAILED and action.interrupted):
        raise ActionRefused(f"action {action.pk} is {action.state}, not interrupted", status=409)
    with transaction.atomic():
        Action.objects.filter(pk=action.pk, state=Action.FAILED, interrupted=True).update(
            state=Action.PENDING, error="", finished_at=None
        )
        audit.record(
            user, f"{action.kind}.resume", broker=action.broker, queue=action.queue_name, params={"action": action.pk}
        )
        transaction.on_commit(lambda: dispatch(action.pk))
    action.refresh_from_db()
    return action


def action_dict(action: Action) -> dict[str, Any]:
    """CONTRACT.md's action shape, plus what the page shows."""
    return {
        "id": action.pk,
        "kind": action.kind,
        "state": action.state,
        "user": action.username,
        "broker": action.broker,
        "queue": action.queue_name,
        "queue_id": action.queue_id,
        "target": action.target or action.selection.get("default_target") or None,
        "requested": action.requested,
        "done": action.done,
        "failed": action.failed,
        "scanned": action.scanned,
        "budget": action.budget,
        "duplicated": action.duplicated,
        "already_moved": action.already_moved,
        "dry_run": action.dry_run,
        "rate": action.rate,
        "selection": {k: v for k, v in action.selection.items() if k not in ("default_target", "target_created")},
        "create_target": action.create_target,
        # What the action created for its target (create_target), e.g. "created 'x' as a durable
        # classic queue (...)"; null when the target existed or nothing was created.
        "target_created": action.selection.get("target_created"),
        "interrupted": action.interrupted,
        "error": action.error or None,
        "created_at": action.created_at.isoformat() if action.created_at else None,
        "finished_at": action.finished_at.isoformat() if action.finished_at else None,
    }


def publish_state(action: Action) -> None:
    """Stream the action's state (best effort: a lost update is superseded by the next one)."""
    kind = "action.finished" if action.is_final else "action.progress"
    events = [make_event("actions", kind, action_dict(action), key=f"action:{action.pk}")]
    publish("actions", events)


# -- selections (used by the runner too) ------------------------------------------------------


def selector_for(selection: dict[str, Any], now: float | None = None):
    """The predicate a broker applies to each message of the scanned prefix."""
    ids = selection.get("ids")
    if ids is not None:
        wanted = set(ids)
        return lambda m: decoding.message_id(m) in wanted or _digest_id(m) in wanted
    flt = selection.get("filter") or {}
    if not flt:
        return lambda m: True
    cutoff = (now or time.time()) - float(flt["older_than_s"]) if "older_than_s" in flt else None
    task, exception = flt.get("task"), flt.get("exception")

    def matches(message: RawMessage) -> bool:
        if task and decoding.task_name(message) != task:
            return False
        if exception:
            found = decoding.exception_type(message) or ""
            if found != exception and found.rsplit(".", 1)[-1] != exception:
                return False
        if cutoff is not None:
            at = decoding.published_at(message)
            if at is None:
                death = decoding.death_record(message.headers)
                at = death.time if death else None
            if at is None or at > cutoff:
                return False
        return True

    return matches


def _digest_id(message: RawMessage) -> str:
    return "sha1:" + decoding.digest(message)


def _selection(ids: Any, all_: Any, flt: Any) -> dict[str, Any]:
    given = [name for name, value in (("ids", ids), ("all", all_), ("filter", flt)) if value not in (None, False)]
    if len(given) != 1:
        raise ActionRefused("choose exactly one of ids, all: true, or filter")
    if ids is not None:
        if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
            raise ActionRefused({"ids": f"a list of 1 to {MAX_IDS} message ids"})
        if not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids):
            raise ActionRefused({"ids": "message ids are non-empty strings"})
        return {"ids": list(dict.fromkeys(ids))}
    if all_ is not None:
        if all_ is not True:
            raise ActionRefused({"all": "must be true"})
        return {"all": True}
    if not isinstance(flt, dict) or not flt or set(flt) - FILTER_KEYS:
        raise ActionRefused({"filter": f"an object with some of {', '.join(sorted(FILTER_KEYS))}"})
    clean: dict[str, Any] = {}
    for key in ("task", "exception"):
        if key in flt:
            if not isinstance(flt[key], str) or not flt[key] or len(flt[key]) > 300:
                raise ActionRefused({"filter": {key: "a non-empty string"}})
            clean[key] = flt[key]
    if "older_than_s" in flt:
        value = flt["older_than_s"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10 * 365 * 86400:
            raise ActionRefused({"filter": {"older_than_s": "a number of seconds, 0 or more"}})
        clean["older_than_s"] = float(value)
    return {"filter": clean}


def _rate(rate: Any) -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= MAX_RATE:
        raise ActionRefused({"rate": f"messages per second, more than 0 and at most {MAX_RATE:g}"})
    return float(rate)


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ActionRefused({name: "true or false"})
    return value


def _broker(queue: Queue):
    """The broker of ``queue``, refused (409) when its connection cannot reach the queue's vhost."""
    from messaging.process_config import broker_named

    broker = broker_named(queue.broker)
    if not broker.reaches(queue.vhost):
        broker.close()
        raise ActionRefused(unreachable_vhost(broker, queue), status=409)
    return broker


def unreachable_vhost(broker: Any, queue: Queue) -> str:
    return (
        f"queue {queue.name!r} is in vhost {queue.vhost!r}, but broker {queue.broker!r} connects to vhost "
        f"{broker.default_vhost!r}: acting there would reach that vhost's queue of the same name. Configure "
        f"a broker whose URL names vhost {queue.vhost!r} to act on this queue."
    )


def _budget(broker: Any, queue: Queue, count: Any) -> int:
    """The messages the action may look at: those present at confirmation."""
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ActionRefused({"count": "the number of messages shown at confirmation, 0 or more"})
    now = broker.count(queue.name)
    if now is None:
        now = queue.depth
    if now is None:
        raise BrokerError(f"cannot count the messages of {queue.name!r} now")
    return min(now, count) if count is not None else now


def _target_known(broker: Any, queue: Queue, target: str) -> bool:
    if Queue.objects.filter(broker=queue.broker, vhost=queue.vhost, name=target, present=True).exists():
        return True
    return bool(broker.queue_exists(target))


def _create(
    user: Any,
    queue: Queue,
    *,
    kind: str,
    selection: dict[str, Any],
    target: str,
    budget: int,
    requested: int,
    rate: float | None = None,
    dry_run: bool = False,
    create_target: bool = False,
    extra: dict[str, Any] | None = None,
) -> Action:
    from messaging.action_runner import dispatch

    with transaction.atomic():
        action = Action.objects.create(
            kind=kind,
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "username", None) or "system",
            broker=queue.broker,
            queue=queue,
            queue_name=queue.name,
            vhost=queue.vhost,
            target=target,
            selection={**selection, **(extra or {})},
            budget=budget,
            requested=requested,
            rate=rate,
            dry_run=dry_run,
            create_target=create_target,
        )
        audit.record(
            user,
            f"{kind}.dry_run" if dry_run else kind,
            broker=queue.broker,
            queue=queue.name,
            params=_audit_params(action),
            outcome=f"accepted as action {action.pk}: {budget} message(s) counted",
        )
        transaction.on_commit(lambda: publish_state(action))
        transaction.on_commit(lambda: dispatch(action.pk))
    return action


def _audit_params(action: Action) -> dict[str, Any]:
    selection = dict(action.selection)
    if "ids" in selection and len(selection["ids"]) > 100:
        selection["ids"] = selection["ids"][:100] + [f"... {len(selection['ids']) - 100} more"]
    return {
        "action": action.pk,
        "selection": selection,
        "target": action.target or selection.get("default_target"),
        "counted": action.budget,
        "rate": action.rate,
        "dry_run": action.dry_run,
        "create_target": action.create_target,
    }

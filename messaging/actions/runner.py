"""Running operator actions: claim a row, move messages in batches, report, audit, resume.

:func:`run_action` is the unit of work (a Celery task calls it as is: ``worker_app``): it claims a
pending action atomically (pending -> running with a fresh claim token), opens a broker move
session and processes batches, checking for cancellation and a lost claim between batches,
saving progress and a heartbeat after each batch, honouring the action's rate. Progress streams
on the ``actions`` topic; the end is audited.

A run that stops beating (the process was killed, the machine died) is found by
:func:`reap_interrupted` and marked ``failed`` with ``interrupted`` set; ``resume`` puts it back
to pending and the next run continues from the saved progress. No message is lost: the broker
session guarantees it (see ``messaging/brokers/redis/moves.py``, ``rabbitmq/move_session.py``).
:func:`take_over_stale` lets another worker resume a run that stopped beating. Who calls
:func:`run_action` (this process's thread or a Celery worker) is :mod:`messaging.actions.dispatch`'s
business.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from messaging import audit
from messaging.actions import move_memory
from messaging.actions.plan import build_plan
from messaging.actions.progress import outcome_text, publish_state
from messaging.brokers.base import Broker, BrokerError
from messaging.brokers.moves import MoveProgress
from messaging.journeys import marks
from messaging.models import Action
from messaging.process_config import open_broker
from messaging.sample_recorder import watch_queue

log = logging.getLogger(__name__)

PUBLISH_EVERY_S = 0.25


def stale_after_s() -> float:
    return float(getattr(settings, "SWITCHYARD_ACTION_STALE_S", 30.0))


def claim(action_id: int) -> str | None:
    """Pending -> running, atomically; the claim token, or None when someone else has it."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = Action.objects.filter(pk=action_id, state=Action.PENDING, cancel_requested=False).update(
        state=Action.RUNNING,
        claim_token=token,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now),
        runs=F("runs") + 1,
        interrupted=False,
    )
    return token if claimed else None


def take_over_stale(action_id: int, stale_s: float | None = None) -> bool:
    """A running action whose run stopped beating goes back to pending (its progress kept), so the
    next :func:`claim` resumes it. Atomic on the old claim token: of two callers, one wins; a run
    that still beats is left alone. True when this call put it back."""
    stale_s = stale_after_s() if stale_s is None else stale_s
    cutoff = timezone.now() - timedelta(seconds=stale_s)
    row = (
        Action.objects.filter(pk=action_id, state=Action.RUNNING, heartbeat_at__lt=cutoff).values("claim_token").first()
    )
    if row is None:
        return False
    return bool(
        Action.objects.filter(
            pk=action_id, state=Action.RUNNING, claim_token=row["claim_token"], heartbeat_at__lt=cutoff
        ).update(state=Action.PENDING, claim_token="")
    )


def run_action(
    action_id: int,
    stop: threading.Event | None = None,
    release_on_stop: bool = False,
) -> Action | None:
    """Claim and run one action to its end (or until ``stop`` is set, which interrupts it, or with
    ``release_on_stop`` puts it back to pending for another process to resume).
    Returns the row as left, or None when it could not be claimed."""
    token = claim(action_id)
    if token is None:
        return None
    action = Action.objects.get(pk=action_id)
    if action.in_doubt:
        # The last run died with a batch published but not acknowledged at the source.
        Action.objects.filter(pk=action.pk).update(duplicated=F("duplicated") + F("in_doubt"), in_doubt=0)
        action.refresh_from_db()
    publish_state(action)
    try:
        broker = open_broker(action.broker)
    except Exception as exc:
        return _finish(action, token, Action.FAILED, f"broker {action.broker!r}: {exc}")
    with broker:
        try:
            return _run_on(broker, action, token, stop, release_on_stop)
        except BrokerError as exc:
            # A broker that went away interrupts (resumable); a refusal fails for good.
            return _finish(action, token, Action.FAILED, str(exc), interrupted=not exc.permanent)
        except Exception as exc:
            log.exception("action %s failed", action.pk)
            return _finish(action, token, Action.FAILED, f"internal error: {type(exc).__name__}", interrupted=True)


def _run_on(broker: Broker, action: Action, token: str, stop: threading.Event | None, release_on_stop: bool) -> Action:
    """The claimed action's run on its open broker: a move session, batch after batch."""
    if not broker.reaches(action.vhost):
        return _finish(
            action, token, Action.FAILED, f"vhost {action.vhost!r} is not reachable through {action.broker!r}"
        )
    _watch_target(action)
    session = broker.open_move(build_plan(action, token, broker.capabilities))
    try:
        if session.target_created:
            _note_target_created(action, session.target_created)
        # Each broker declares its batch (``Capabilities.move_batch_size``): bigger batches amortise
        # the per-batch costs (a DB progress row, a Lua call, a confirm wait).
        return _loop(action, token, session, broker.capabilities.move_batch_size, stop, release_on_stop)
    finally:
        try:
            session.close()
        except Exception:
            log.warning("action %s: closing the broker session failed", action.pk, exc_info=True)


def _watch_target(action: Action) -> None:
    """A queue Switchyard writes to is sampled from then on, even where nothing else makes it
    discoverable (Redis: a target created by the move has no binding)."""
    target = action.target or action.selection.get("default_target")
    if target and not action.dry_run and action.kind in (Action.MOVE, Action.REQUEUE):
        watch_queue(action.broker, action.vhost, target)


def _loop(
    action: Action, token: str, session: Any, batch: int, stop: threading.Event | None, release_on_stop: bool
) -> Action:
    if action.rate:
        batch = max(1, min(batch, int(action.rate)))
    last_publish = 0.0
    while True:
        state = Action.objects.filter(pk=action.pk).values("claim_token", "cancel_requested").first()
        if state is None or state["claim_token"] != token:
            log.warning("action %s: claim lost; stopping", action.pk)
            action.refresh_from_db()
            return action
        if state["cancel_requested"]:
            _settle(action, token, session)
            return _finish(action, token, Action.CANCELLED, "")
        if stop is not None and stop.is_set():
            _settle(action, token, session)
            if release_on_stop:
                return _release(action, token)
            return _finish(action, token, Action.FAILED, "interrupted: the console stopped", interrupted=True)
        started = time.monotonic()
        progress = session.step(batch)
        _save(action, token, progress)
        if progress.finished:
            return _finish(action, token, Action.SUCCEEDED, "")
        if time.monotonic() - last_publish >= PUBLISH_EVERY_S:
            publish_state(action)
            last_publish = time.monotonic()
        if action.rate:
            # Pace to the rate: a batch of n messages takes at least n / rate seconds. Nothing
            # stays in flight while it waits (there is no confirm wait to hide then).
            _settle(action, token, session)
            wait = batch / action.rate - (time.monotonic() - started)
            if wait > 0 and (stop.wait(wait) if stop is not None else time.sleep(wait)):
                continue


def _note_target_created(action: Action, created: str) -> None:
    """Keep what the session created for the target (``create_target``) with the action, where
    its result and final audit show it, and audit the creation itself now (a dry run creates
    nothing: its final outcome says what it would have created)."""
    action.selection = {**action.selection, "target_created": created}
    Action.objects.filter(pk=action.pk).update(selection=action.selection)
    if action.dry_run:
        return
    audit.record(
        action.user or action.username,
        f"{action.kind}.target_created",
        broker=action.broker,
        queue=action.queue_name,
        params={"action": action.pk, "target": action.target or action.selection.get("default_target")},
        outcome=created,
    )


def _settle(action: Action, token: str, session: Any) -> None:
    """Let the session finish the batch it still has in flight before the action stops between
    batches, so stopping duplicates nothing."""
    progress = session.settle()
    if progress is not None:
        _save(action, token, progress)


def _save(action: Action, token: str, progress: MoveProgress) -> None:
    action.scanned = progress.scanned
    action.done = progress.moved
    action.failed = progress.missing + progress.unroutable
    action.duplicated = max(action.duplicated, progress.duplicated)
    action.already_moved = progress.already_moved
    Action.objects.filter(pk=action.pk, claim_token=token).update(
        scanned=action.scanned,
        done=action.done,
        failed=action.failed,
        duplicated=action.duplicated,
        already_moved=action.already_moved,
        heartbeat_at=timezone.now(),
    )
    marks.flush(action.pk)


def _release(action: Action, token: str) -> Action:
    """Hand a running action back (pending, progress kept): its process is stopping cleanly."""
    marks.flush(action.pk)
    Action.objects.filter(pk=action.pk, claim_token=token, state=Action.RUNNING).update(
        state=Action.PENDING, claim_token=""
    )
    action.refresh_from_db()
    publish_state(action)
    return action


def _finish(action: Action, token: str, state: str, error: str, interrupted: bool = False) -> Action:
    marks.flush(action.pk)
    with transaction.atomic():
        updated = Action.objects.filter(pk=action.pk, claim_token=token, state=Action.RUNNING).update(
            state=state, error=error[:2000], interrupted=interrupted, finished_at=timezone.now()
        )
        action.refresh_from_db()
        if updated and not action.interrupted:
            # Over for good: no later run will need to recognise what this one moved.
            move_memory.forget(action)
        if updated:
            audit.record(
                action.user or action.username,
                f"{action.kind}.finished",
                broker=action.broker,
                queue=action.queue_name,
                params={"action": action.pk, "target": action.target or action.selection.get("default_target")},
                outcome=outcome_text(action),
            )
    if updated:
        publish_state(action)
    return action


def reap_interrupted(stale_s: float | None = None) -> list[int]:
    """Running actions whose run stopped beating become failed + interrupted (resumable)."""
    stale_s = stale_after_s() if stale_s is None else stale_s
    cutoff = timezone.now() - timedelta(seconds=stale_s)
    reaped = []
    for action in Action.objects.filter(state=Action.RUNNING, heartbeat_at__lt=cutoff):
        updated = Action.objects.filter(pk=action.pk, state=Action.RUNNING, claim_token=action.claim_token).update(
            state=Action.FAILED,
            interrupted=True,
            error="interrupted: its run stopped (console crash or restart); resume to continue",
            finished_at=timezone.now(),
        )
        if updated:
            action.refresh_from_db()
            audit.record(
                "system",
                f"{action.kind}.interrupted",
                broker=action.broker,
                queue=action.queue_name,
                params={"action": action.pk},
                outcome=outcome_text(action),
            )
            publish_state(action)
            reaped.append(action.pk)
    return reaped

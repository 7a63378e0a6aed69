"""Switchyard's own Celery app: operator actions as tasks, so no web process has to live as long as
a requeue of a million messages.

With ``SWITCHYARD_TASK_BROKER_URL`` set, creating (or resuming) an action enqueues
``switchyard.run_action(action_id)`` on ``SWITCHYARD_TASK_QUEUE`` once the row is committed, and
``manage.py worker`` (or ``celery -A messaging.actions.worker_app worker -Q switchyard.actions``)
runs it. Unset, actions run in-process (:class:`messaging.actions.dispatch.ActionRunner`).

Nothing runs twice at once: the task calls :func:`messaging.actions.runner.run_action`, which claims
the row atomically (pending -> running with a claim token) and heartbeats after every batch; a task
that cannot claim returns without touching the broker. A worker that dies mid-action:

- its task was acknowledged late (``task_acks_late``; ``task_reject_on_worker_lost`` when a pool
  child dies), so the broker delivers it again; the redelivered task takes the action over if its
  heartbeat is stale, and otherwise leaves it to the run that still beats;
- every worker's sweeper (a thread started when the worker is ready) puts running actions whose
  heartbeat is older than ``SWITCHYARD_ACTION_STALE_S`` back to pending and enqueues them again,
  so a killed worker's action resumes, from its saved progress, within about that long once any
  worker runs. At start the sweeper also enqueues every pending action, and on every round the
  pending actions whose task could not be sent (the task broker was down when they were created or
  handed back: ``enqueued_at`` is null), so they start once the task broker is back.

A worker stopped cleanly (SIGTERM) hands its running actions back (pending) and enqueues them
again, so another worker continues them at once.

Only JSON crosses the task broker (an action id); message contents never do.

``celery -A`` imports this module before Django's apps are ready (Celery's Django fixup sets them
up when the worker starts), so the model and runner imports are made inside the functions.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from celery import Celery, signals
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

log = logging.getLogger(__name__)

TASK_NAME = "switchyard.run_action"

app = Celery("switchyard")


def configure() -> None:
    """(Re)read the settings into the app (tests change them): connections made under the old
    settings are dropped, as Celery does after a fork."""
    app._after_fork()
    queue = settings.SWITCHYARD_TASK_QUEUE
    url = settings.SWITCHYARD_TASK_BROKER_URL or ""
    prefix = settings.SWITCHYARD_TASK_BROKER_KEYPREFIX
    # Every key of a Redis task broker (queue, bindings, unacked hash) under a prefix of its own.
    redis_url = url.startswith(("redis://", "rediss://", "unix://"))
    app.conf.broker_transport_options = {"global_keyprefix": prefix} if prefix and redis_url else {}
    app.conf.update(
        broker_url=settings.SWITCHYARD_TASK_BROKER_URL,
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        task_routes={TASK_NAME: {"queue": queue}},
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_concurrency=settings.SWITCHYARD_TASK_CONCURRENCY,
        worker_pool="threads",
    )


configure()

# A pending action younger than this is its creator's to send (on commit), not the sweeper's.
UNSENT_GRACE_S = 5.0

# Set when this worker is shutting down: running actions are handed back (see module docstring).
stopping = threading.Event()


@app.task(name=TASK_NAME, ignore_result=True)
def run_action(action_id: int) -> str:
    """Run one action to its end in this worker; what happened, for the worker's log."""
    from messaging.actions import runner
    from messaging.models import Action

    if stopping.is_set():
        # Delivered to this worker while it stops (the hand-back below): leave it to the next one.
        enqueue(action_id)
        return "this worker is stopping: enqueued again"
    close_old_connections()
    try:
        took_over = runner.take_over_stale(action_id)
        action = runner.run_action(action_id, stop=stopping, release_on_stop=True)
        if action is None:
            return "not claimed: it runs elsewhere or is already over"
        if action.state == Action.PENDING:
            # Handed back by a stopping worker: another worker continues it.
            enqueue(action_id)
            return f"handed back at {action.done} done"
        return f"{'resumed and ' if took_over else ''}{action.state}: {action.done} done"
    finally:
        close_old_connections()


def enqueue(action_id: int) -> bool:
    """Send the task (after the action's row is committed) and note when. A task broker that cannot
    be reached leaves the action pending with ``enqueued_at`` null: the sweepers send it later."""
    from messaging.models import Action

    try:
        run_action.apply_async(
            (action_id,),
            queue=settings.SWITCHYARD_TASK_QUEUE,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:
        log.exception("action %s: could not enqueue its task; a worker's sweeper sends it later", action_id)
        Action.objects.filter(pk=action_id).update(enqueued_at=None)
        return False
    Action.objects.filter(pk=action_id).update(enqueued_at=timezone.now())
    return True


def sweep(stale_s: float | None = None) -> list[int]:
    """Put running actions whose heartbeat is stale back to pending and enqueue them again."""
    from messaging.actions import runner
    from messaging.models import Action

    stale_s = runner.stale_after_s() if stale_s is None else stale_s
    resumed = []
    for action_id in Action.objects.filter(state=Action.RUNNING).values_list("pk", flat=True):
        if runner.take_over_stale(action_id, stale_s):
            log.warning("action %s: its run stopped beating; enqueued again to resume", action_id)
            enqueue(action_id)
            resumed.append(action_id)
    return resumed


def enqueue_pending() -> list[int]:
    from messaging.models import Action

    pending = list(Action.objects.filter(state=Action.PENDING).order_by("id").values_list("pk", flat=True))
    for action_id in pending:
        enqueue(action_id)
    return pending


def enqueue_unsent(grace_s: float = UNSENT_GRACE_S) -> list[int]:
    """Send the tasks of pending actions whose send failed. ``grace_s`` leaves a just-created action
    to the process that created it (it sends on commit); a task sent twice is harmless anyway: only
    one run can claim the action."""
    from messaging.models import Action

    unsent = Action.objects.filter(
        state=Action.PENDING, enqueued_at__isnull=True, created_at__lt=timezone.now() - timedelta(seconds=grace_s)
    )
    sent = []
    for action_id in unsent.order_by("id").values_list("pk", flat=True):
        if enqueue(action_id):
            log.warning("action %s: its task had not been sent; sent now", action_id)
            sent.append(action_id)
    return sent


class Sweeper(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="switchyard-action-sweeper", daemon=True)
        self.stop_event = threading.Event()

    def run(self) -> None:
        from messaging.actions.runner import stale_after_s

        every = max(stale_after_s() / 3, 0.5)
        first = True
        while not self.stop_event.is_set():
            close_old_connections()
            try:
                if first:
                    enqueue_pending()
                    first = False
                else:
                    enqueue_unsent()
                sweep()
            except Exception:
                log.exception("action sweeper: round failed; retrying")
            finally:
                close_old_connections()
            self.stop_event.wait(every)


_sweeper: Sweeper | None = None


@signals.worker_ready.connect
def _start_sweeper(**kwargs) -> None:
    global _sweeper
    stopping.clear()
    _sweeper = Sweeper()
    _sweeper.start()


@signals.worker_shutting_down.connect
def _stop(**kwargs) -> None:
    stopping.set()
    if _sweeper is not None:
        _sweeper.stop_event.set()

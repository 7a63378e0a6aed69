"""Who runs a pending action: this process's :class:`ActionRunner` thread, or a Celery worker.

:class:`ActionRunner` is the in-process driver: one thread that waits for work, started by the
monitor (``MonitorHooks.background``) or, in a web process without a monitor, by the first
request that creates an action. With ``SWITCHYARD_TASK_BROKER_URL`` set it stays off and
:mod:`messaging.actions.worker_app` runs actions as Celery tasks instead (:func:`dispatch`
enqueues them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from messaging import runtime
from messaging.actions import worker_app
from messaging.actions.runner import reap_interrupted, run_action, stale_after_s
from messaging.db import close_thread_connections
from messaging.models import Action

log = logging.getLogger(__name__)


class ActionRunner:
    """One thread per process that runs pending actions one after another."""

    def __init__(self, poll_s: float = 2.0) -> None:
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self.stop_event.clear()
            self._thread = threading.Thread(target=self._run, name="switchyard-actions", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        reap_every, last_reap = max(stale_after_s() / 3, 1.0), 0.0
        while not self.stop_event.is_set():
            self._wake.clear()
            close_old_connections()
            try:
                if time.monotonic() - last_reap >= reap_every:
                    reap_interrupted()
                    last_reap = time.monotonic()
                pending = list(
                    Action.objects.filter(state=Action.PENDING).order_by("id").values_list("pk", flat=True)[:20]
                )
                for action_id in pending:
                    if self.stop_event.is_set():
                        break
                    run_action(action_id, stop=self.stop_event)
            except Exception:
                log.exception("action runner: round failed; retrying")
            finally:
                close_old_connections()
            self._wake.wait(self.poll_s)
        close_thread_connections()


def runner() -> ActionRunner:
    """This process's action runner, kept on its runtime (``messaging.runtime``), built on first use."""
    state = runtime.current()
    with state.lock:
        if state.action_runner is None:
            state.action_runner = ActionRunner()
        return state.action_runner


def tasks_enabled() -> bool:
    """Actions run in Celery workers (``manage.py worker``), not in web or monitor processes."""
    return bool(getattr(settings, "SWITCHYARD_TASK_BROKER_URL", None))


def dispatch(action_id: int) -> None:
    """Have a pending action run: enqueue its task (Celery workers) or wake this process's runner.
    Call it once the row is committed (``transaction.on_commit``)."""
    if tasks_enabled():
        worker_app.enqueue(action_id)
    else:
        wake()


def wake() -> None:
    """Run pending actions soon, starting this process's runner if it is not running."""
    if getattr(settings, "SWITCHYARD_ACTION_RUNNER", True) and not tasks_enabled():
        runner().wake()


async def action_runner_job(stop: asyncio.Event) -> None:
    """The monitor's background job: run actions for the monitor's lifetime (unless Celery
    workers run them: then their sweepers resume stale runs, and this process stays out)."""
    if tasks_enabled():
        await stop.wait()
        return
    runner().start()
    try:
        await stop.wait()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, runner().stop)

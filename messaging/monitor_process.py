"""Running the monitor in a process: wiring its plug-ins together onto the process's
:class:`~messaging.runtime.Runtime`, and leader election among several processes."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.utils import timezone

from messaging import leader, runtime
from messaging.actions.dispatch import action_runner_job
from messaging.alerts.engine import AlertEngine
from messaging.celery.figures import task_figures
from messaging.celery.service import CeleryWatches
from messaging.config import SwitchyardConfig
from messaging.fleet_summary import FleetSummary
from messaging.monitor import Monitor, MonitorHooks
from messaging.runtime import Runtime, sample_interval

log = logging.getLogger("switchyard.monitor")


def build_monitor(
    config: SwitchyardConfig | None = None,
    fence: leader.Fence | None = None,
    state: Runtime | None = None,
) -> Monitor:
    """A monitor with its plug-ins (action runner, Celery watching, alerts), recorded on ``state``
    (default: this process's runtime), whose configuration becomes ``config`` when given."""
    state = state or runtime.current()
    if config is not None:
        state.config = config
    config = state.config
    hooks = MonitorHooks()
    # Operator actions run beside the monitor; a web process without one starts its own runner.
    hooks.background.append(action_runner_job)
    # Celery: events -> task/worker records, periodic inspection, consumers and consumed counts.
    celery_watches = CeleryWatches(config)
    hooks.activity = celery_watches.activity
    hooks.background.append(celery_watches.run)
    monitor = Monitor(config, sample_interval(config), hooks, fence=fence)
    monitor.celery = celery_watches
    # Alerts: evaluate after every sample (off the event loop), watch for stale brokers and task
    # figures on a timer, and deliver webhooks from their own threads.
    alerts = AlertEngine(monitor, task_figures=task_figures)
    # The overview's summary over every queue, for clients that watch only the rows they show;
    # first, since it is cheap and the alert engine's evaluation may take a while.
    hooks.after_sample.append(FleetSummary().after_sample)
    hooks.after_sample.append(alerts.after_sample)
    hooks.background.extend(alerts.background_jobs())
    state.monitor = monitor
    return monitor


async def run_monitor(state: Runtime, stop: asyncio.Event) -> None:
    """Run the monitor of ``state``'s configuration until ``stop``: through leader election when a
    Redis for it is configured (``SWITCHYARD_LEADER_REDIS_URL``, else ``REDIS_URL``), so only one of
    several processes samples; otherwise unconditionally (a single process)."""
    url = leader.election_redis_url()
    if not url:
        state.leader.mode = "in-process"
        state.leader.identity = leader.new_identity()
        state.leader.role = "active"
        state.leader.since = timezone.now()
        try:
            await build_monitor(state=state).run(stop)
        finally:
            state.leader.role = "none"
        return

    async def lead(fence: leader.Fence, term_stop: asyncio.Event) -> None:
        # A fresh monitor per term: nothing remembered from an earlier term can be stale.
        await build_monitor(fence=fence, state=state).run(term_stop)

    election = leader.LeaderElection(
        url, settings.SWITCHYARD_LEADER_KEY, settings.SWITCHYARD_LEADER_TTL, state=state.leader
    )
    await election.run(lead, stop)

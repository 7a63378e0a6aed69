"""Wiring the monitor and its plug-ins together for the processes that run it."""

from __future__ import annotations

import asyncio
import logging
import weakref

from django.conf import settings
from django.utils import timezone

from messaging import leader
from messaging.alerts import set_task_figures_provider
from messaging.alerts.engine import AlertEngine
from messaging.celery.figures import task_figures
from messaging.celery.service import CeleryWatches
from messaging.config import SwitchyardConfig, load_config
from messaging.monitor import Monitor, MonitorHooks
from messaging.process_config import set_config

_running: weakref.ReferenceType[Monitor] | None = None

log = logging.getLogger("switchyard.monitor")


def sample_interval(config: SwitchyardConfig) -> float:
    return float(config.sample_interval or settings.SWITCHYARD_SAMPLE_INTERVAL)


def running_monitor() -> Monitor | None:
    """The monitor built in this process, if any (for /metrics' round counter)."""
    return _running() if _running is not None else None


def build_monitor(config: SwitchyardConfig | None = None, fence: leader.Fence | None = None) -> Monitor:
    global _running
    from messaging.action_runner import action_runner_job

    config = config or load_config()
    set_config(config)
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
    alerts = AlertEngine(monitor)
    set_task_figures_provider(task_figures)
    hooks.after_sample.append(alerts.after_sample)
    hooks.background.extend(alerts.background_jobs())
    _running = weakref.ref(monitor)
    return monitor


async def run_monitor(config: SwitchyardConfig, stop: asyncio.Event) -> None:
    """Run the monitor until ``stop``: through leader election when a Redis for it is configured
    (``SWITCHYARD_LEADER_REDIS_URL``, else ``REDIS_URL``), so only one of several processes samples;
    otherwise unconditionally (a single process)."""
    url = leader.election_redis_url()
    if not url:
        leader.local_state.mode = "in-process"
        leader.local_state.identity = leader.new_identity()
        leader.local_state.role = "active"
        leader.local_state.since = timezone.now()
        try:
            await build_monitor(config).run(stop)
        finally:
            leader.local_state.role = "none"
        return

    async def lead(fence: leader.Fence, term_stop: asyncio.Event) -> None:
        # A fresh monitor per term: nothing remembered from an earlier term can be stale.
        await build_monitor(config, fence=fence).run(term_stop)

    election = leader.LeaderElection(url, settings.SWITCHYARD_LEADER_KEY, settings.SWITCHYARD_LEADER_TTL)
    await election.run(lead, stop)

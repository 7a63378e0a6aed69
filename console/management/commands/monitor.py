"""``manage.py monitor``: the monitor alone, publishing through the channel layer (REDIS_URL).

Run it more than once for failover: with REDIS_URL (or SWITCHYARD_LEADER_REDIS_URL) set, the
processes elect one active monitor through a Redis lock; the others stand by."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.config import ConfigError, load_config
from messaging.monitor_process import run_monitor
from messaging.runtime import Runtime, install


class Command(BaseCommand):
    help = "Run the monitor without a web server (several web processes share it through REDIS_URL)."

    def handle(self, *args, **options) -> None:
        try:
            config = load_config()
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        if not settings.REDIS_URL:
            self.stderr.write("warning: REDIS_URL is not set; events reach no web process")
        asyncio.run(self._run(install(Runtime(config))))

    async def _run(self, state: Runtime) -> None:
        loop = asyncio.get_running_loop()
        state.home_loop = loop
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_monitor(state, stop)

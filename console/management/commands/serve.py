"""``manage.py serve``: HTTP + WebSocket in one process, with the monitor unless --no-monitor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from console.stream.protocol import uvicorn_websocket_options
from messaging.alerts.targets import note_console_port
from messaging.config import ConfigError, load_config
from messaging.leader import election_redis_url
from messaging.monitor_process import run_monitor
from messaging.runtime import Runtime, install

log = logging.getLogger("switchyard.serve")


class Command(BaseCommand):
    help = "Serve the console (HTTP and WebSocket), with the monitor in the same process by default."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-monitor", action="store_true", help="run the monitor elsewhere (manage.py monitor)")

    def handle(self, *args, host: str, port: int, no_monitor: bool, **options) -> None:
        try:
            config = load_config()
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        if no_monitor and not settings.REDIS_URL:
            log.warning("--no-monitor without REDIS_URL: this process will serve data but stream no events")
        state = install(Runtime(config))
        note_console_port(port)  # webhooks sent from this process must not come back to it
        server = uvicorn.Server(
            uvicorn.Config(
                "console.asgi:application",
                host=host,
                port=port,
                lifespan="off",
                log_level="warning",
                proxy_headers=True,
                **uvicorn_websocket_options(),
            )
        )
        mode = "off" if no_monitor else ("elected through Redis" if election_redis_url() else "in-process")
        self.stdout.write(f"Switchyard on http://{host}:{port}/ (monitor: {mode})")
        asyncio.run(self._serve(server, state, with_monitor=not no_monitor))

    async def _serve(self, server: uvicorn.Server, state: Runtime, with_monitor: bool) -> None:
        loop = asyncio.get_running_loop()
        state.home_loop = loop
        # Our own signal handling, so SIGTERM/SIGINT stop the server *and* the monitor cleanly and
        # the process exits 0 (uvicorn's would re-raise the signal after its own shutdown).
        server.capture_signals = contextlib.nullcontext
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.handle_exit, sig, None)
        stop = asyncio.Event()
        monitor_task = asyncio.create_task(run_monitor(state, stop)) if with_monitor else None
        try:
            await server.serve()
        finally:
            stop.set()
            if monitor_task is not None:
                await asyncio.wait_for(asyncio.gather(monitor_task, return_exceptions=True), 10)

"""``manage.py demo``: a living console in a minute. Starts the demo Celery workers against the
broker Switchyard watches (the first Redis or RabbitMQ broker of ``SWITCHYARD_CONFIG``, else
``SWITCHYARD_BROKER_URL``), a producer of mixed tasks, and (unless ``--no-serve``) the console
itself. Output goes to log files; the terminal gets a status line. Ctrl-C stops everything it started."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from messaging.config import ConfigError
from messaging.runtime import Runtime, install


class Command(BaseCommand):
    help = "Run sample Celery workers and a task producer (and the console) against the configured broker."

    def add_arguments(self, parser) -> None:
        from messaging.demo.workload import DEFAULT_LOG_DIR

        parser.add_argument("--rate", type=float, default=3.0, help="tasks per second (default 3)")
        parser.add_argument("--no-serve", action="store_true", help="do not start the console")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR, help=f"default {DEFAULT_LOG_DIR}")
        parser.add_argument("--status-interval", type=float, default=10.0, help="seconds between status lines")

    def handle(self, *args, **options) -> None:
        install(Runtime())  # the environment's configuration, as the demo's broker is chosen from it
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive")
        if options["status_interval"] <= 0:
            raise CommandError("--status-interval must be positive")
        try:
            from messaging.demo.app import BROKER, QUEUES
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        from messaging.demo.workload import QueueConflict, declare_queues, run

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        serve = None if options["no_serve"] else ["serve", "--host", options["host"], "--port", str(options["port"])]
        say(f"demo: workers on {BROKER.describe()}, queues {', '.join(QUEUES)}; Ctrl-C stops all")
        try:
            if not declare_queues():
                say("demo: the broker cannot be reached yet; the workers and the producer keep trying")
        except QueueConflict as exc:
            raise CommandError(
                f"the broker refuses the demo's queues: {exc}\nAn older demo declared them with other arguments: "
                "delete them, or give the demo names of its own, e.g. SWITCHYARD_DEMO_PREFIX=demo2. make demo"
            ) from None
        if serve:
            say(f"demo: console on http://{options['host']}:{options['port']}/")
        run(
            rate=options["rate"],
            serve=serve,
            log_dir=options["log_dir"].resolve(),
            status_interval=options["status_interval"],
            say=say,
        )

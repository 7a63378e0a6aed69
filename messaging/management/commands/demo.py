"""``manage.py demo``: a living console in a minute. Starts the demo Celery workers against the
configured broker, a producer of mixed tasks, and (unless ``--no-serve``) the console itself.
Ctrl-C stops everything it started."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run sample Celery workers and a task producer (and the console) against the configured broker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rate", type=float, default=3.0, help="tasks per second (default 3)")
        parser.add_argument("--no-serve", action="store_true", help="do not start the console")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options) -> None:
        from messaging.brokers.base import redact_url
        from messaging.demo.app import BROKER_URL, QUEUES
        from messaging.demo.workload import run

        serve = None if options["no_serve"] else ["serve", "--host", options["host"], "--port", str(options["port"])]
        self.stdout.write(f"demo: workers on {redact_url(BROKER_URL)}, queues {', '.join(QUEUES)}; Ctrl-C stops all")
        if serve:
            self.stdout.write(f"demo: console on http://{options['host']}:{options['port']}/")
        if options["rate"] <= 0:
            self.stderr.write("--rate must be positive")
            return
        run(rate=options["rate"], serve=serve)

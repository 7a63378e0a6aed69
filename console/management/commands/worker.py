"""``manage.py worker``: a Celery worker of Switchyard's own app, running operator actions.

The same as ``celery -A messaging.actions.worker_app worker -Q <SWITCHYARD_TASK_QUEUE> --pool threads``,
with the queue, concurrency and node name filled in. Needs SWITCHYARD_TASK_BROKER_URL; progress
reaches the web processes through the channel layer, so REDIS_URL should be set too."""

from __future__ import annotations

import os
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.runtime import Runtime, install


class Command(BaseCommand):
    help = "Run operator actions (requeue, move, purge) as Celery tasks; start one or more per deployment."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--concurrency", type=int, default=None, help="actions run at once (default SWITCHYARD_TASK_CONCURRENCY)"
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, concurrency: int | None, loglevel: str, **options) -> None:
        if not settings.SWITCHYARD_TASK_BROKER_URL:
            raise CommandError("set SWITCHYARD_TASK_BROKER_URL (the Celery broker of Switchyard's own tasks)")
        if not settings.REDIS_URL:
            self.stderr.write("warning: REDIS_URL is not set; action progress reaches no web process")
        # The configuration is the environment's, loaded when the first action asks for it.
        install(Runtime())
        from messaging.actions.worker_app import app

        app.worker_main(
            [
                "worker",
                "--queues",
                settings.SWITCHYARD_TASK_QUEUE,
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency or settings.SWITCHYARD_TASK_CONCURRENCY),
                "--hostname",
                f"switchyard-{os.getpid()}@{socket.gethostname()}",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                loglevel,
            ]
        )

"""``manage.py check`` (``switchyard check``): Django's system checks, then the configuration, the
database and every configured broker, each reached and described. Exits non-zero when any of them
fails, so an operator (or a deploy script) learns of a wrong URL before starting the console."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.core.management.commands import check as django_check
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.brokers.registry import broker_for
from messaging.brokers.urls import redact_url
from messaging.config import ConfigError, load_config
from switchyard import __version__

QUEUES_SHOWN = 10  # queue names printed per broker; the rest are counted


class Command(django_check.Command):
    help = (
        "Run Django's system checks, then validate Switchyard's configuration, open the database and "
        "reach every broker, printing what was found; exit 1 if anything fails."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--skip-brokers",
            action="store_true",
            help="only Django's system checks (no database, configuration or broker checks)",
        )

    def handle(self, *app_labels, skip_brokers: bool = False, **options) -> None:
        super().handle(*app_labels, **options)
        if skip_brokers:
            return
        self.stdout.write(f"Switchyard {__version__}")
        self._check_database()
        try:
            config = load_config()
        except ConfigError as exc:
            raise CommandError(f"configuration: {exc}") from None
        self.stdout.write(f"configuration: {config.source} ({len(config.brokers)} broker(s))")
        failures = [failure for broker in config.brokers if (failure := self._check_broker(broker))]
        if failures:
            raise CommandError(
                f"{len(failures)} of {len(config.brokers)} broker(s) could not be reached: {', '.join(failures)}"
            )

    def _check_database(self) -> None:
        described = f"{connection.vendor} {connection.settings_dict['NAME']}"
        try:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise CommandError(f"database: {described} cannot be opened: {exc}") from None
        state = f"{len(pending)} migration(s) to apply: run `switchyard migrate`" if pending else "up to date"
        self.stdout.write(f"database: {described} ({state})")

    def _check_broker(self, config: BrokerConfig) -> str | None:
        """Print what the broker holds; return why it failed, or None."""
        where = f"broker {config.name} ({redact_url(config.url)})"
        try:
            with broker_for(config) as broker:
                broker.ping()
                sample = broker.sample(known_queues=config.queues)
        except BrokerError as exc:
            self.stderr.write(f"{where}: unreachable: {exc}")
            return config.name
        queues = sorted(sample.queues, key=lambda queue: queue.name)
        listed = ", ".join(
            f"{queue.name} ({'?' if queue.depth is None else queue.depth})" for queue in queues[:QUEUES_SHOWN]
        )
        more = f" and {len(queues) - QUEUES_SHOWN} more" if len(queues) > QUEUES_SHOWN else ""
        self.stdout.write(
            f"{where}: reachable ({broker.transport}), {len(queues)} queue(s)" + (f": {listed}{more}" if queues else "")
        )
        if sample.warning:
            self.stdout.write(f"  warning: {sample.warning}")
        return None

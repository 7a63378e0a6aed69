"""The ``switchyard`` command: the console's management commands under one name, for installs
without a checkout (``pip install switchyard``, then ``switchyard serve --broker redis://...``).

Each subcommand is the Django management command of the same name, run through
``execute_from_command_line``; ``--broker`` and ``--config`` are accepted by all of them and set
``SWITCHYARD_BROKER_URL`` / ``SWITCHYARD_CONFIG`` before Django starts. ``serve`` on the default
per-user SQLite database applies migrations and creates the ``admin`` user first, as ``make run``
does, so one command starts a working console.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from switchyard import __version__

# What `switchyard --help` lists; every other management command (revoketoken, ensureadmin,
# demo, ...) works as well and `switchyard help` lists them all.
COMMANDS = {
    "serve": "serve the console (HTTP and WebSocket), with the monitor in the same process by default",
    "monitor": "sample the brokers and receive Celery events, without serving HTTP (for several web processes)",
    "worker": "run operator actions as Celery tasks (needs SWITCHYARD_TASK_BROKER_URL)",
    "migrate": "create or update the database tables",
    "createuser": "create a user who logs in with a password, with a role (viewer, operator, admin)",
    "issuetoken": "create the user if needed and print a new API token for it",
    "check": "validate the configuration and reach every broker, printing what it found",
}

GLOBAL_OPTIONS = {"--broker": "SWITCHYARD_BROKER_URL", "--config": "SWITCHYARD_CONFIG"}

USAGE = f"""usage: switchyard [--version] COMMAND [--broker URL | --config FILE] [options]

Switchyard {__version__}: an operations console for Celery and Kombu brokers (Redis, RabbitMQ).

commands:
{chr(10).join(f"  {name:<11} {text}" for name, text in COMMANDS.items())}

options every command accepts:
  --broker URL   watch this one broker (sets SWITCHYARD_BROKER_URL), e.g. redis://127.0.0.1:6379/0
  --config FILE  a TOML file naming the brokers (sets SWITCHYARD_CONFIG)

`switchyard COMMAND --help` describes one command; `switchyard help` lists every command.
Without DATABASE_URL the SQLite database and the generated secret key live in
$XDG_DATA_HOME/switchyard (default ~/.local/share/switchyard).
"""


class UsageError(Exception):
    """The command line cannot be run; the message says why."""


@dataclass
class Invocation:
    """A command line split into what the ``switchyard`` layer handles and what Django runs."""

    command: str | None
    arguments: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def parse(argv: Sequence[str]) -> Invocation:
    """Split ``argv`` (without the program name) into the command, its own arguments, and the
    environment the global options set. Global options may stand anywhere before a ``--``.
    Raises :class:`UsageError`."""
    remaining: list[str] = []
    settings: dict[str, str] = {}
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            remaining.extend(words[index:])
            break
        name, equals, value = word.partition("=")
        if name in GLOBAL_OPTIONS:
            if not equals:
                index += 1
                if index == len(words) or words[index].startswith("-"):
                    raise UsageError(f"{name} needs a value")
                value = words[index]
            if not value:
                raise UsageError(f"{name} needs a value")
            if GLOBAL_OPTIONS[name] in settings:
                raise UsageError(f"{name} given twice")
            settings[GLOBAL_OPTIONS[name]] = value
        else:
            remaining.append(word)
        index += 1
    if "SWITCHYARD_BROKER_URL" in settings and "SWITCHYARD_CONFIG" in settings:
        raise UsageError("give --broker or --config, not both (name several brokers in the file)")
    command = remaining[0] if remaining and not remaining[0].startswith("-") else None
    return Invocation(command=command, arguments=remaining[1:] if command else remaining, settings=settings)


def _refuse_overridden_broker(broker_url: str) -> None:
    """``--broker`` with a SWITCHYARD_CONFIG in the environment that names its own brokers would
    watch the file's brokers, not the one asked for: say so instead of ignoring the option."""
    from messaging.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not any(broker.url == broker_url for broker in config.brokers):
        raise UsageError(
            f"--broker is overridden by SWITCHYARD_CONFIG={config.source}, which names its own brokers; "
            "unset SWITCHYARD_CONFIG or name the broker in that file"
        )


def _prepare_database() -> None:
    """Before ``serve``: on the default per-user SQLite database, apply migrations and create
    ``admin`` if it is missing (its password printed once), as ``make run`` does, so a first
    run needs no other step. On a database named by DATABASE_URL, shared by other processes,
    migrating is the operator's explicit step: refuse to serve a database that lacks tables
    instead of failing on the first page."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from console.env import env_str

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if env_str("DATABASE_URL"):  # DATABASE_URL or DATABASE_URL_FILE, as settings reads it
        if pending:
            raise UsageError(
                f"the database at DATABASE_URL lacks {len(pending)} migration(s): run `switchyard migrate` first"
            )
        return
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
        print(f"switchyard: created the database {connection.settings_dict['NAME']}", file=sys.stderr)
    call_command("ensureadmin")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        invocation = parse(argv)
    except UsageError as exc:
        print(f"switchyard: {exc}", file=sys.stderr)
        return 2
    options = invocation.arguments
    if "--" in options:
        options = options[: options.index("--")]
    # Django's own --version (any command's) would print Django's version: this one is Switchyard's.
    if "--version" in options or (invocation.command is None and "-V" in options):
        print(f"switchyard {__version__}")
        return 0
    if invocation.command is None:
        if invocation.arguments and invocation.arguments[0] not in ("-h", "--help"):
            print(f"switchyard: unknown option {invocation.arguments[0]}\n\n{USAGE}", file=sys.stderr)
            return 2
        print(USAGE, end="")
        return 0 if invocation.arguments else 2

    os.environ.update(invocation.settings)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    try:
        if "SWITCHYARD_BROKER_URL" in invocation.settings:
            _refuse_overridden_broker(invocation.settings["SWITCHYARD_BROKER_URL"])
        if invocation.command == "serve" and not {"-h", "--help"} & set(invocation.arguments):
            import django

            django.setup()
            _prepare_database()
    except UsageError as exc:
        print(f"switchyard: {exc}", file=sys.stderr)
        return 1

    from django.core.management import execute_from_command_line

    execute_from_command_line(["switchyard", invocation.command, *invocation.arguments])
    return 0

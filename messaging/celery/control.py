"""Every Celery broadcast Switchyard sends goes through here: enabling events, inspection, task
revocation and worker remote control. Views validate and audit; this module does the broker I/O.

Control commands are fire-and-collect: a worker that does not answer within the timeout is
reported as not answering (the command may still take effect later).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery import Celery

from messaging.brokers.base import BrokerError
from messaging.brokers.urls import redact_url
from messaging.celery.ingest import text
from messaging.errors import DomainError

REPLY_TIMEOUT_S = 2.0
INSPECT_TIMEOUT_S = 1.0
INSPECT_METHODS = ("stats", "active_queues", "registered", "active", "reserved", "scheduled")
MAX_TASKS_LISTED = 100
_RATE = re.compile(r"^\d+(\.\d+)?(/[smh])?$")
_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")


class CommandError(DomainError):
    """The command or its arguments are invalid (400); ``fields`` maps argument names to problems,
    and the API answers them as its field errors (``{field: [problem]}``)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__({name: [problem] for name, problem in fields.items()})
        self.fields = fields

    def __str__(self) -> str:
        return "; ".join(f"{name}: {problem}" for name, problem in self.fields.items())


def _broker_error(app: Celery, exc: Exception) -> BrokerError:
    return BrokerError(f"{redact_url(app.conf.broker_url)}: {type(exc).__name__}: {exc}")


def enable_events(app: Celery, destination: list[str] | None = None) -> None:
    """Ask workers to send task events (``celery control enable_events``), as Flower does."""
    try:
        app.control.broadcast("enable_events", destination=destination)
    except Exception as exc:
        raise _broker_error(app, exc) from exc


def _call(app: Celery, method: str, timeout: float, limit: int | None, destination: list[str] | None):
    inspector = app.control.inspect(timeout=timeout, limit=limit, destination=destination)
    return getattr(inspector, method)() or {}


def inspect_workers(
    app: Celery,
    timeout: float = INSPECT_TIMEOUT_S,
    expected: int | None = None,
    destination: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Ask every worker for stats, queues, registered tasks and its active/reserved/scheduled
    tasks, in parallel. Returns ``{hostname: {method: reply}}``; a method a worker did not answer is
    missing. ``expected`` (known live workers) lets the calls return as soon as all answered."""
    by_worker: dict[str, dict[str, Any]] = {}
    try:
        with ThreadPoolExecutor(max_workers=len(INSPECT_METHODS), thread_name_prefix="inspect") as pool:
            futures = {m: pool.submit(_call, app, m, timeout, expected or None, destination) for m in INSPECT_METHODS}
            for method, future in futures.items():
                for hostname, reply in future.result().items():
                    by_worker.setdefault(hostname, {})[method] = reply
    except Exception as exc:
        raise _broker_error(app, exc) from exc
    return by_worker


def task_brief(request: Any) -> dict[str, Any] | None:
    """A worker's description of a task (from active/reserved/scheduled), reduced to what we show."""
    if not isinstance(request, dict):
        return None
    if isinstance(request.get("request"), dict):  # scheduled() wraps the request with its eta
        eta = request.get("eta")
        request = dict(request["request"], eta=eta)
    delivery = request.get("delivery_info") if isinstance(request.get("delivery_info"), dict) else {}
    return {
        "id": text(request.get("id"), 255),
        "name": text(request.get("name") or request.get("type"), 255),
        "args": text(request.get("args"), 1000),
        "kwargs": text(request.get("kwargs"), 1000),
        "time_start": request.get("time_start") if isinstance(request.get("time_start"), int | float) else None,
        "eta": text(request.get("eta"), 64),
        "routing_key": text(delivery.get("routing_key"), 255),
        "worker_pid": request.get("worker_pid") if isinstance(request.get("worker_pid"), int) else None,
    }


def task_briefs(replies: Any) -> list[dict[str, Any]] | None:
    if not isinstance(replies, list):
        return None
    return [b for b in (task_brief(r) for r in replies[:MAX_TASKS_LISTED]) if b is not None]


def revoke(app: Celery, task_id: str, terminate: bool = False) -> list[str]:
    """Revoke a task on every worker (a queued task is discarded when a worker gets it; with
    ``terminate`` a running one is killed with SIGTERM). Returns the hostnames that acknowledged."""
    try:
        replies = app.control.revoke(task_id, terminate=terminate, signal="SIGTERM", reply=True, timeout=1.0)
    except Exception as exc:
        raise _broker_error(app, exc) from exc
    return sorted(h for reply in replies or [] for h in reply)


@dataclass(frozen=True)
class Command:
    name: str
    arguments: dict[str, Any]


def _int(body: dict[str, Any], key: str, default: int | None, low: int, high: int, errors: dict[str, str]) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[key] = f"an integer from {low} to {high}"
        return 0
    return value


def _str(body: dict[str, Any], key: str, errors: dict[str, str], required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not _NAME.match(value):
        errors[key] = "a name of 1 to 255 printable characters"
        return ""
    return value


def _seconds(body: dict[str, Any], key: str, errors: dict[str, str]) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 7 * 86400:
        errors[key] = "seconds, more than 0 and at most a week, or null"
    return value


COMMANDS = ("pool_grow", "pool_shrink", "autoscale", "add_consumer", "cancel_consumer", "rate_limit", "time_limit")
# Disruptive: the worker's hostname must be typed to confirm them.
CONFIRMED_COMMANDS = ("pool_restart", "shutdown")
COMMANDS += CONFIRMED_COMMANDS


def parse_command(body: Any, hostname: str) -> Command:
    """Validate a control request body. Raises CommandError with per-field problems."""
    if not isinstance(body, dict):
        raise CommandError({"command": "send a JSON object with a command"})
    name = body.get("command")
    if name not in COMMANDS:
        raise CommandError({"command": f"one of {', '.join(COMMANDS)}"})
    errors: dict[str, str] = {}
    args: dict[str, Any] = {}
    if name in ("pool_grow", "pool_shrink"):
        args["n"] = _int(body, "n", 1, 1, 100, errors)
    elif name == "autoscale":
        args["max"] = _int(body, "max", None, 1, 1000, errors)
        args["min"] = _int(body, "min", 0, 0, 1000, errors)
        if not errors and args["min"] > args["max"]:
            errors["min"] = "must not exceed max"
    elif name in ("add_consumer", "cancel_consumer"):
        args["queue"] = _str(body, "queue", errors)
    elif name == "rate_limit":
        args["task"] = _str(body, "task", errors)
        rate = body.get("rate")
        if isinstance(rate, int | float) and not isinstance(rate, bool) and rate >= 0:
            rate = str(rate)
        if not isinstance(rate, str) or not (rate == "" or _RATE.match(rate)):
            errors["rate"] = 'tasks per second, or "N/s", "N/m", "N/h"; "" or "0" removes the limit'
        args["rate"] = rate
    elif name == "time_limit":
        args["task"] = _str(body, "task", errors)
        args["soft"] = _seconds(body, "soft", errors)
        args["hard"] = _seconds(body, "hard", errors)
        if not errors and args["soft"] and args["hard"] and args["soft"] > args["hard"]:
            errors["soft"] = "must not exceed hard"
    elif name in CONFIRMED_COMMANDS:
        if body.get("confirm") != hostname:
            what = "the shutdown" if name == "shutdown" else "the pool restart"
            errors["confirm"] = f"type the worker's hostname to confirm {what}"
    if errors:
        raise CommandError(errors)
    return Command(name, args)


def run_command(app: Celery, hostname: str, command: Command, timeout: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
    """Send one command to one worker. Returns ``{"answered": bool, "reply": ...}``; the reply is
    the worker's own (``{"ok": ...}`` or ``{"error": ...}``). Shutdown is not answered by Celery."""
    control, a, dest = app.control, command.arguments, [hostname]
    common = {"destination": dest, "reply": True, "timeout": timeout}
    try:
        if command.name == "pool_grow":
            replies = control.pool_grow(a["n"], **common)
        elif command.name == "pool_shrink":
            replies = control.pool_shrink(a["n"], **common)
        elif command.name == "autoscale":
            replies = control.autoscale(a["max"], a["min"], **common)
        elif command.name == "add_consumer":
            replies = control.add_consumer(a["queue"], **common)
        elif command.name == "cancel_consumer":
            replies = control.cancel_consumer(a["queue"], **common)
        elif command.name == "rate_limit":
            replies = control.rate_limit(a["task"], a["rate"], **common)
        elif command.name == "time_limit":
            replies = control.time_limit(a["task"], soft=a["soft"], hard=a["hard"], **common)
        elif command.name == "pool_restart":
            # Celery acts on it only where the worker runs with worker_pool_restarts=True; elsewhere
            # the worker answers {"error": "Pool restarts not enabled"}, reported as it is.
            replies = control.pool_restart(**common)
        elif command.name == "shutdown":
            control.shutdown(destination=dest)
            return {"answered": False, "reply": None}
        else:  # parse_command admits nothing else
            raise CommandError({"command": "unknown"})
    except CommandError:
        raise
    except Exception as exc:
        raise _broker_error(app, exc) from exc
    for reply in replies or []:
        if hostname in reply:
            return {"answered": True, "reply": reply[hostname]}
    return {"answered": False, "reply": None}

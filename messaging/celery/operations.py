"""Operator actions on Celery, shared by the API and the pages: each one checks nothing about
roles (callers do), talks to workers through ``control`` and writes one audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messaging import audit
from messaging.brokers.base import BrokerError
from messaging.celery import apps, control
from messaging.celery.inspect import refresh_worker
from messaging.errors import DomainError
from messaging.models import TaskRecord, Worker


class NotConfigured(DomainError):
    """The broker has no Celery configuration here (404)."""

    status = 404


def _app(broker: str):
    config = apps.broker_config(broker)
    if config is None:
        raise NotConfigured(f"broker {broker!r} is not configured for Celery")
    return apps.app_for(config)


def revoke_task(user: Any, task: TaskRecord, terminate: bool) -> list[str]:
    """Revoke on every worker; returns the hostnames that acknowledged. Raises BrokerError."""
    app = _app(task.broker)
    params = {"task_id": task.task_id, "task": task.name, "terminate": terminate}
    try:
        acknowledged = control.revoke(app, task.task_id, terminate=terminate)
    except BrokerError as exc:
        audit.record(user, "task.revoke", broker=task.broker, queue=task.queue, params=params, outcome=f"failed: {exc}")
        raise
    outcome = f"acknowledged by {len(acknowledged)} worker(s)"
    audit.record(user, "task.revoke", broker=task.broker, queue=task.queue, params=params, outcome=outcome)
    return acknowledged


@dataclass(frozen=True)
class ControlResult:
    command: control.Command
    answered: bool
    ok: bool
    reply: dict[str, Any] | None
    outcome: str


def control_worker(user: Any, worker: Worker, body: Any) -> ControlResult:
    """Validate (CommandError), send (BrokerError), audit, and re-inspect the worker on success."""
    command = control.parse_command(body, worker.hostname)
    app = _app(worker.broker)
    params = {"hostname": worker.hostname, "command": command.name, **command.arguments}
    action = f"worker.{command.name}"
    try:
        result = control.run_command(app, worker.hostname, command)
    except BrokerError as exc:
        audit.record(user, action, broker=worker.broker, params=params, outcome=f"failed: {exc}")
        raise
    reply = result["reply"] if isinstance(result["reply"], dict) else None
    ok = bool(reply and "ok" in reply)
    if command.name == "shutdown":
        outcome = "shutdown sent (workers do not answer it)"
    elif not result["answered"]:
        outcome = "no answer within 2s"
    elif ok:
        outcome = f"ok: {reply['ok']}"
    else:
        outcome = f"error: {(reply or {}).get('error')}"
    audit.record(user, action, broker=worker.broker, params=params, outcome=str(outcome))
    if ok:
        refresh_worker(worker.broker, app, worker.hostname)
    return ControlResult(command, result["answered"], ok, reply, str(outcome))

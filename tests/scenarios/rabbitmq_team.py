"""RabbitMQ scenario fixtures: real Celery apps configured as teams configure them, a real RabbitMQ vhost of
the test's own, the console with its monitor discovering the queues, and a requeue through the
REST API whose messages a real worker then processes.

A scenario's tasks fail on their first deliveries only: each delivery is counted in a ledger file
per task id (``<ledger>/<task id>``), and a task that finally succeeds writes
``<ledger>/<task id>.done`` with what it saw (delivery count, priority, x-death).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import amqp
import pytest
import requests

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

# The part every scenario app shares; ``{queues}`` is the scenario's own queue configuration.
APP = '''
import json
import os
from pathlib import Path

from celery import Celery
from celery.exceptions import Reject
from kombu import Exchange, Queue

LEDGER = Path({ledger!r})
FAILURES = {failures!r}  # deliveries that fail before one succeeds
FAILING_BY = {failing_by!r}

app = Celery("scenario", broker={url!r})
app.conf.update(
    accept_content=["json"],
    task_serializer="json",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

{queues}


def delivery(task_id):
    """Count this delivery of ``task_id``; its number, from 1."""
    path = LEDGER / task_id
    with path.open("a") as ledger:
        ledger.write("delivery\\n")
    return len(path.read_text().splitlines())


@app.task(bind=True, name="scenario.charge")
def charge(self, order):
    number = delivery(self.request.id)
    if number <= FAILURES:
        if FAILING_BY == "reject":
            raise Reject(f"order {{order}}: payment service down", requeue=False)
        if FAILING_BY == "reject-requeue":
            raise Reject(f"order {{order}}: payment service down", requeue=True)
        if FAILING_BY == "worker-lost":
            os._exit(1)  # the pool process dies (OOM kill, segfault): WorkerLostError
    headers = self.request.headers or {{}}
    (LEDGER / (self.request.id + ".done")).write_text(
        json.dumps(
            {{
                "order": order,
                "deliveries": number,
                "priority": (self.request.delivery_info or {{}}).get("priority"),
                "requeued_by": headers.get("x-switchyard-requeued-by"),
                "x_death": bool(headers.get("x-death")),
            }}
        )
    )
    return order
'''


@dataclass
class CeleryProject:
    """One scenario's Celery app: its module on disk (the worker's ``-A``), the same module loaded
    in the test process (the producer), its ledger and its workers."""

    directory: Path
    url: str
    ledger: Path
    app_module: ModuleType | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def write(self, queues: str, failures: int, failing_by: str) -> ModuleType:
        source = APP.format(
            ledger=str(self.ledger), failures=failures, failing_by=failing_by, url=self.url, queues=queues
        )
        path = self.directory / "scenario_app.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(f"scenario_app_{uuid.uuid4().hex[:8]}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.app_module = module
        return module

    @property
    def app(self):
        return self.app_module.app

    def declare_queues(self) -> None:
        """What a deploy step does (``celery amqp queue.declare``, a bootstep): every queue of
        ``task_queues`` with its exchange, binding and arguments, the DLQs included."""
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in self.app.conf.task_queues:
                queue.bind(channel).declare()

    def send(self, count: int, queue: str, **options: Any) -> list[str]:
        return [self.app.send_task("scenario.charge", args=[n], queue=queue, **options).id for n in range(count)]

    def start_worker(self, queues: list[str], pool: str = "solo", concurrency: int = 1) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": f"{self.directory}:{ROOT}"}
        command = [
            sys.executable, "-m", "celery", "-A", "scenario_app", "worker", "-P", pool, "-c", str(concurrency),
            "-Q", ",".join(queues), "-n", f"scenario-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "-l", "WARNING",
        ]  # fmt: skip
        worker = subprocess.Popen(
            command,
            cwd=self.directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / f"worker-{len(self.workers)}.log", "wb"),  # noqa: SIM115
            start_new_session=True,  # its pool processes share its group: stop() kills them all
        )
        self.workers.append(worker)
        return worker

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.directory.glob("worker-*.log")))

    def deliveries(self, task_id: str) -> int:
        path = self.ledger / task_id
        return len(path.read_text().splitlines()) if path.exists() else 0

    def done(self, task_id: str) -> dict[str, Any] | None:
        path = self.ledger / f"{task_id}.done"
        return json.loads(path.read_text()) if path.exists() else None

    def stop(self) -> None:
        for worker in self.workers:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def celery_project(tmp_path, rabbit_vhost):
    """A :class:`CeleryProject` on the test's own vhost; its workers are killed afterwards."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    project = CeleryProject(directory=tmp_path, url=rabbit_vhost.amqp_url, ledger=ledger)
    yield project
    project.stop()


def _passive(vhost, queue: str):
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost.name)
    connection.connect()
    try:
        return connection.channel().queue_declare(queue, passive=True)
    except amqp.exceptions.NotFound:
        return None
    finally:
        connection.close()


def ready_count(vhost, queue: str) -> int | None:
    """Messages ready in ``queue`` straight from AMQP (None when it does not exist)."""
    found = _passive(vhost, queue)
    return found.message_count if found else None


def consumer_count(vhost, queue: str) -> int | None:
    found = _passive(vhost, queue)
    return found.consumer_count if found else None


def death_records(vhost, queue: str) -> list[tuple[str, str]]:
    """(reason, queue) of the newest ``x-death`` entry of each message in ``queue``, as the broker
    wrote it. Every message is taken unacknowledged and goes back when the channel closes."""
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost.name)
    connection.connect()
    found = []
    try:
        channel = connection.channel()
        while (message := channel.basic_get(queue, no_ack=False)) is not None:
            death = (message.properties.get("application_headers") or {}).get("x-death") or [{}]
            found.append((death[0].get("reason"), death[0].get("queue")))
    finally:
        connection.close()
    return found


@dataclass
class Console:
    """The live console (HTTP API, monitor, action runner) watching the scenario's vhost."""

    live: Any
    operator_token: str

    def queue_row(self, name: str) -> dict[str, Any] | None:
        rows = self.live.api(f"/api/v1/queues?broker=rabbit&name={name}", self.operator_token).json()
        return next((row for row in rows if row["name"] == name), None)

    def discovered_dlq(self, dlq: str, source: str, depth: int, timeout: float = 30.0) -> dict[str, Any]:
        """The DLQ's row once the monitor has linked it to ``source`` and counted ``depth``."""

        def linked():
            row = self.queue_row(dlq)
            found = row and row["is_dlq"] and row["dead_letter_source"] == source and row["depth"] == depth
            return row if found else None

        return wait_for(
            linked,
            timeout=timeout,
            message=f"the monitor to link {dlq} to {source} with {depth} messages",
            interval=0.3,
        )

    def act(self, row: dict[str, Any], kind: str, body: dict[str, Any]) -> requests.Response:
        return self.live.api(f"/api/v1/queues/{row['id']}/{kind}", self.operator_token, method="POST", json=body)

    def finished(self, action_id: int, timeout: float = 60.0) -> dict[str, Any]:
        def final():
            action = self.live.api(f"/api/v1/actions/{action_id}", self.operator_token).json()
            return action if action["state"] in ("succeeded", "failed", "cancelled") else None

        return wait_for(final, timeout=timeout, message=f"action {action_id} to finish", interval=0.2)

    def audit(self, action: str) -> list[dict[str, Any]]:
        rows = self.live.api("/api/v1/audit?limit=50", self.operator_token).json()["results"]
        return [row for row in rows if row["action"] == action]


@pytest.fixture
def console(live_console, rabbit_vhost, make_user) -> Console:
    """The console started on a configuration naming the scenario's vhost only."""
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url),)
    )
    live = live_console(config, monitor=True, interval=0.5)
    _, token = make_user("operator")
    return Console(live=live, operator_token=token)

"""One test's Celery-on-Redis world, set up as a team sets it up: the team's Celery app
(:mod:`tests.scenarios.redis_team_app`) with its ``broker_transport_options``, real worker
subprocesses, and a Switchyard TOML file that repeats those options as the README says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.conftest import REDIS_URL, unique
from tests.scenarios.redis_team_app import Memory, make_app

ROOT = Path(__file__).resolve().parents[2]
BROKER_NAME = "team"


@dataclass
class RedisTeam:
    """Names carry ``token``: the Kombu ``global_keyprefix``, the queues and the task memory."""

    transport_options: dict[str, Any]
    routing: dict[str, str] | None = None
    acks_late: bool = True
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    url: str = REDIS_URL
    workers: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prefix = f"team-{self.token}:"
        self.transport_options = {"global_keyprefix": self.prefix, **self.transport_options}
        self.queue = unique("orders")
        self.memory = Memory(self.url, f"scenario-{self.token}:")
        self.client = redis.Redis.from_url(self.url)
        self.app = make_app(
            self.url, self.transport_options, self.queue, self.memory.prefix, self.routing, self.acks_late
        )

    # -- the team's side -------------------------------------------------------------------------

    @property
    def sep(self) -> str:
        return self.transport_options.get("sep", "\x06\x16")

    @property
    def steps(self) -> list[int]:
        return list(self.transport_options.get("priority_steps", [0, 3, 6, 9]))

    def key(self, queue: str, step: int = 0) -> str:
        """The Redis key of ``queue``'s sub-queue for priority step ``step``, as Kombu names it."""
        return self.prefix + (f"{queue}{self.sep}{step}" if step else queue)

    def step_of(self, priority: int) -> int:
        """Kombu's ``priority()``: the largest step <= priority."""
        return max(s for s in self.steps if s <= priority)

    def send(self, order: int, plan: list[str] | None = None, priority: int | None = None, queue: str | None = None):
        """Send one task: routed by the app's ``task_routes`` when the team routes, else to ``queue``."""
        routed = {} if self.routing and queue is None else {"queue": queue or self.queue}
        return self.app.tasks["scenario.scripted"].apply_async(
            (order,), {"plan": plan or []}, priority=priority, **routed
        )

    def declare_queues(self) -> None:
        """Declare the app's queues and bindings, as its workers do when they start (a message
        routed through an exchange before any binding exists is dropped by Kombu)."""
        with self.app.connection_for_write() as connection:
            for queue in self.app.amqp.queues.values():
                queue(connection.default_channel).declare()

    def start_worker(self, name: str, queues: list[str] | None = None, pool: str = "solo") -> subprocess.Popen:
        environ = dict(
            os.environ,
            SCENARIO_BROKER_URL=self.url,
            SCENARIO_TRANSPORT_OPTIONS=json.dumps(self.transport_options),
            SCENARIO_QUEUE=self.queue,
            SCENARIO_MEMORY=self.memory.prefix,
            SCENARIO_ROUTING=json.dumps(self.routing),
            SCENARIO_ACKS_LATE="1" if self.acks_late else "0",
        )
        command = [
            sys.executable, "-m", "celery", "-A", "tests.scenarios.redis_team_app", "worker", "-P", pool,
            "-c", "1", "-Q", ",".join(queues or [self.queue]), "-n", f"{name}@{self.token}",
            "--without-gossip", "--without-mingle", "-l", "WARNING",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=environ,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # one process group: SIGKILL takes the pool children too
        )
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL, as the OOM killer or a lost node does: nothing is acknowledged or restored."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    # -- Switchyard's side -----------------------------------------------------------------------

    def switchyard_toml(self, directory: Path) -> Path:
        """A ``SWITCHYARD_CONFIG`` file naming this Redis with the team's transport options."""
        options = ", ".join(f"{name} = {_toml(value)}" for name, value in self.transport_options.items())
        path = directory / "switchyard.toml"
        broker = f'[brokers.{BROKER_NAME}]\nurl = "{self.url}"\ntransport_options = {{ {options} }}\n'
        path.write_text("sample_interval = 0.5\n\n" + broker)
        return path

    def switchyard_config(self, directory: Path):
        from messaging.config import load_config

        return load_config({"SWITCHYARD_CONFIG": str(self.switchyard_toml(directory))})

    # -- cleanup ---------------------------------------------------------------------------------

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                self.kill(process)
        keys = list(self.client.scan_iter(match=f"*{self.token}*", count=10_000))
        for start in range(0, len(keys), 1000):
            self.client.unlink(*keys[start : start + 1000])
        self.client.close()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")

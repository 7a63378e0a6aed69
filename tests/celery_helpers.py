"""Real Celery workers for tests: each test gets its own Redis key prefix or RabbitMQ vhost, runs
the demo app's workers as subprocesses and kills them at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_BASE = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/").rstrip("/")
MANAGEMENT = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
MANAGEMENT_AUTH = ("guest", "guest")


@dataclass
class CeleryEnv:
    """Where one test's Celery world lives."""

    url: str
    options: dict
    prefix: str
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return f"{self.prefix}default"

    def environ(self, task_events: bool = False) -> dict[str, str]:
        return dict(
            os.environ,
            SWITCHYARD_DEMO_BROKER_URL=self.url,
            SWITCHYARD_DEMO_TRANSPORT_OPTIONS=json.dumps(self.options),
            SWITCHYARD_DEMO_PREFIX=self.prefix,
            SWITCHYARD_DEMO_TASK_EVENTS="1" if task_events else "0",
        )

    def broker_config(self, name: str = "default"):
        from messaging.brokers.base import BrokerConfig

        return BrokerConfig(name=name, url=self.url, options=dict(self.options))

    def start_worker(self, name: str, pool: str = "solo", concurrency: int = 1, queues: list[str] | None = None):
        hostname = f"{name}@{self.prefix.strip('.')}"
        command = [
            sys.executable, "-m", "celery", "-A", "messaging.demo.app", "worker", "-P", pool, "-c", str(concurrency),
            "-Q", ",".join(queues or [self.queue]), "-n", hostname, "--without-gossip", "--without-mingle",
            "-l", "WARNING",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=self.environ(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its pool processes share its process group: stop() kills them all
        )
        self.workers.append(process)
        return hostname, process

    def producer_app(self):
        """The demo app module configured for this environment (imported fresh in-process)."""
        from celery import Celery

        from messaging.demo import app as demo

        app = Celery("test-producer", set_as_current=False)
        app.conf.update(demo.app.conf)
        # The workers' queues, declared as they declare them (RabbitMQ refuses a queue redeclared
        # with other arguments, such as its dead-lettering).
        work_queues, _ = demo.demo_queues(self.prefix, self.url)
        app.conf.update(
            broker_url=self.url,
            broker_transport_options={**demo.app.conf.broker_transport_options, **self.options},
            task_default_queue=self.queue,
            task_default_exchange=f"{self.prefix}tasks",
            task_default_routing_key=self.queue,
            task_queues=work_queues,
            task_routes=None,
            task_send_sent_event=True,
        )
        return app

    def send(self, app, name: str, args=(), kwargs=None, **options) -> str:
        return app.send_task(name, args=list(args), kwargs=kwargs or {}, queue=self.queue, **options).id

    def stop(self) -> None:
        for process in self.workers:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.workers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def redis_env() -> CeleryEnv:
    tag = uuid.uuid4().hex[:8]
    return CeleryEnv(url=REDIS_URL, options={"global_keyprefix": f"sytest{tag}:"}, prefix=f"t{tag}.")


def rabbit_env() -> CeleryEnv:
    tag = uuid.uuid4().hex[:8]
    vhost = f"sytest-{tag}"
    requests.put(
        f"{MANAGEMENT}/api/vhosts/{quote(vhost, safe='')}", auth=MANAGEMENT_AUTH, timeout=10
    ).raise_for_status()
    requests.put(
        f"{MANAGEMENT}/api/permissions/{quote(vhost, safe='')}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=MANAGEMENT_AUTH,
        timeout=10,
    ).raise_for_status()
    return CeleryEnv(url=f"{AMQP_BASE}/{vhost}", options={}, prefix=f"t{tag}.")


def drop_rabbit_env(env: CeleryEnv) -> None:
    vhost = env.url.rsplit("/", 1)[1]
    requests.delete(f"{MANAGEMENT}/api/vhosts/{quote(vhost, safe='')}", auth=MANAGEMENT_AUTH, timeout=10)


@pytest.fixture
def env(settings):
    """A Redis Celery environment of the test's own (workers started by the test), with worker
    inspection every second; stopped afterwards. Import it into a test module to use it."""
    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0
    environment = redis_env()
    yield environment
    environment.stop()


def start(live_console, env: CeleryEnv):
    """A live console watching ``env``'s broker, once its Celery event capture is connected."""
    from messaging.config import SwitchyardConfig
    from tests.waiting import wait_for

    console = live_console(config=SwitchyardConfig(brokers=(env.broker_config(),)), interval=0.5)
    wait_for(lambda: console.monitor.celery.watches["default"].counters.connected, message="event capture")
    return console

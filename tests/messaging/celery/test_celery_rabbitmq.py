"""Celery on RabbitMQ: events in the test's own vhost, and remote control of a prefork worker."""

from __future__ import annotations

import time

import pytest

from messaging.celery.service import CeleryWatches
from messaging.config import SwitchyardConfig
from messaging.models import AuditEntry
from messaging.process_config import set_config
from tests.celery_helpers import drop_rabbit_env, rabbit_env
from tests.waiting import wait_for

pytestmark = pytest.mark.celery


@pytest.fixture
def env(settings):
    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0
    environment = rabbit_env()
    yield environment
    environment.stop()
    drop_rabbit_env(environment)


def test_events_and_pool_grow_on_rabbitmq(live_console, env, tokens):
    # The Celery side alone (the RabbitMQ queue sampler is another branch's): capture, writer, inspector.
    config = SwitchyardConfig(brokers=(env.broker_config("rabbit"),))
    set_config(config)
    watches = CeleryWatches(config)
    for watch in watches.watches.values():
        watch.start()
    try:
        run(live_console(monitor=False), env, tokens)
    finally:
        watches.stop()


def run(console, env, tokens):
    hostname, _ = env.start_worker("r1", pool="prefork", concurrency=1)

    def inspected():
        return [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["concurrency"]]

    worker = wait_for(inspected, timeout=30, message="the inspected worker")[0]
    assert (worker["hostname"], worker["pool"], worker["concurrency"]) == (hostname, "prefork", 1)
    time.sleep(0.5)
    task_id = env.send(env.producer_app(), "demo.add", (20, 22))
    done = wait_for(
        lambda: (
            (r := console.api(f"/api/v1/tasks/{task_id}", tokens["operator"])).status_code == 200
            and r.json()["state"] == "SUCCESS"
            and r.json()
        ),
        timeout=20,
        message="success on RabbitMQ",
    )
    assert done["result"] == "42" and done["wait_s"] is not None and done["wait_s"] >= 0

    url = f"/api/v1/workers/{hostname}/control"
    assert console.api(url, tokens["operator"], method="POST", json={"command": "pool_grow"}).status_code == 403
    bad = console.api(url, tokens["admin"], method="POST", json={"command": "pool_grow", "n": 0})
    assert bad.status_code == 400 and "n" in bad.json()["detail"]
    assert console.api(url, tokens["admin"], method="POST", json={"command": "explode"}).status_code == 400
    shutdown = console.api(url, tokens["admin"], method="POST", json={"command": "shutdown", "confirm": "nope"})
    assert shutdown.status_code == 400 and "confirm" in shutdown.json()["detail"]
    missing = console.api(
        "/api/v1/workers/nobody@nowhere/control", tokens["admin"], method="POST", json={"command": "pool_grow"}
    )
    assert missing.status_code == 404

    grown = console.api(url, tokens["admin"], method="POST", json={"command": "pool_grow", "n": 1})
    assert grown.status_code == 200, grown.text
    assert grown.json()["ok"] is True
    # billiard starts the new process a moment later; the inspector sees it within a round or two
    wait_for(
        lambda: console.api(f"/api/v1/workers/{hostname}", tokens["viewer"]).json()["concurrency"] == 2,
        timeout=20,
        message="concurrency 2",
    )
    entry = AuditEntry.objects.filter(action="worker.pool_grow").get()
    assert entry.params == {"hostname": hostname, "command": "pool_grow", "n": 1} and entry.outcome.startswith("ok")

"""Operator actions run by Switchyard's own Celery worker (``manage.py worker``), real processes:
web processes (``serve --no-monitor``), a monitor, workers, PostgreSQL, Redis as the watched broker,
the task broker and the channel layer (each under names of its own).

A requeue of 20,000 messages started through web process A keeps running while A is SIGKILLed and
restarted, and progress reaches WebSocket clients of the restarted A and of B. A worker SIGKILLed
mid-action: another worker resumes it (stale heartbeat -> sweeper) with nothing lost or doubled.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
import redis
import requests
from kombu import Connection, Exchange
from kombu import Queue as KombuQueue
from websockets.sync.client import connect

from tests.action_helpers import celery_envelope, death_record, push, task_ids_in
from tests.brokers import delete_prefixed_keys
from tests.conftest import REDIS_URL, unique
from tests.scale.cluster import Cluster, PostgresDatabase, subscribe, ws_url
from tests.waiting import wait_for

pytestmark = [pytest.mark.scale, pytest.mark.celery, pytest.mark.postgres, pytest.mark.timeout(150)]

COUNT = 20_000
RATE = 2_500  # messages/s: the action lasts 8 s, long enough to kill processes under it
STALE_S = 2.0


class Collector(threading.Thread):
    """Keeps every ``actions`` event one WebSocket client receives."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.connection = connect(ws_url(url, token), legacy=True)  # kept open by the thread, closed in close()
        subscribe(self.connection, ["actions"])
        self.events: list[dict] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                message = json.loads(self.connection.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception:
                return
            if message.get("topic") == "actions":
                self.events.append(message)

    def of(self, action_id: int) -> list[str]:
        return [e["type"] for e in self.events if e["data"]["id"] == action_id]

    def close(self) -> None:
        self.stopped.set()
        self.join(5)
        self.connection.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    prefix = unique("sy-celery") + ":"
    database = PostgresDatabase().create()
    cluster = Cluster(
        tmp_path_factory.mktemp("celery-actions"),
        database,
        prefix,
        SWITCHYARD_TASK_BROKER_URL=REDIS_URL,
        SWITCHYARD_TASK_BROKER_KEYPREFIX=prefix + "tasks:",
        SWITCHYARD_TASK_QUEUE=unique("sy-actions"),
        SWITCHYARD_ACTION_STALE_S=str(STALE_S),
    )
    client = redis.Redis.from_url(REDIS_URL)
    cluster.client = client
    cluster.queues = {}
    try:
        with Connection(REDIS_URL, transport_options={"global_keyprefix": prefix}) as connection:
            # Bindings as Celery declares them, so the monitor discovers the queues.
            for name in ("alpha", "alpha.dlq", "beta", "beta.dlq", "gamma", "gamma.dlq"):
                KombuQueue(name, Exchange(name, type="direct"), routing_key=name)(connection.channel()).declare()
        for name in ("alpha", "beta", "gamma"):
            values = [celery_envelope(name, death=death_record(name)) for _ in range(COUNT)]
            push(client, prefix + name + ".dlq", values)
            cluster.queues[name] = [json.loads(v)["headers"]["id"] for v in values]
        cluster.prepare()
        cluster.operator = cluster.manage("issuetoken", "scale-operator", "--role", "operator").strip().splitlines()[-1]
        cluster.urls = [cluster.start_web(), cluster.start_web()]
        cluster.start_monitor()
        cluster.start_worker()
        wait_for(lambda: queue_id(cluster, "gamma.dlq"), timeout=20, message="the monitor's first sample")
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.close()
        client.close()
        database.drop()
        delete_prefixed_keys(prefix)


def queue_id(cluster: Cluster, name: str) -> str | None:
    rows = cluster.api(cluster.urls[-1], f"/api/v1/queues?name={name}").json()
    return next((row["id"] for row in rows if row["name"] == name), None)


def action(cluster: Cluster, action_id: int) -> dict:
    return cluster.api(cluster.urls[-1], f"/api/v1/actions/{action_id}").json()


def start_requeue(cluster: Cluster, url: str, name: str) -> int:
    response = requests.post(
        f"{url}/api/v1/queues/{queue_id(cluster, name + '.dlq')}/requeue",
        json={"all": True, "target": name, "create_target": True, "rate": RATE},
        headers={"Authorization": f"Token {cluster.operator}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def assert_nothing_lost_or_doubled(cluster: Cluster, name: str) -> None:
    prefix = cluster.redis_prefix
    assert cluster.client.llen(prefix + name + ".dlq") == 0
    moved = task_ids_in(cluster.client, prefix + name)
    assert len(moved) == COUNT and set(moved) == set(cluster.queues[name])


def test_the_action_outlives_the_web_process_that_started_it_and_streams_to_every_web_process(cluster):
    url_a, url_b = cluster.urls
    on_b = Collector(url_b, cluster.token)
    on_b.start()
    try:
        action_id = start_requeue(cluster, url_a, "alpha")
        wait_for(lambda: action(cluster, action_id)["done"] > 0, timeout=15, message="the worker to start")
        process_a = next(p for p, port in cluster.web if url_a.endswith(f":{port}"))
        process_a.send_signal(signal.SIGKILL)
        process_a.wait(5)
        progress_when_killed = action(cluster, action_id)["done"]
        restarted = cluster.urls[0] = cluster.start_web()
        on_restarted = Collector(restarted, cluster.token)
        on_restarted.start()
        running_when_subscribed = action(cluster, action_id)["state"] == "running"
        try:
            done = wait_for(
                lambda: (a := action(cluster, action_id))["state"] not in ("pending", "running") and a,
                timeout=30,
                message="the action to end",
            )
            time.sleep(0.5)  # the last events cross the channel layer
        finally:
            on_restarted.close()
    finally:
        on_b.close()
    assert done["state"] == "succeeded", done
    assert (done["done"], done["failed"], done["duplicated"]) == (COUNT, 0, 0)
    assert progress_when_killed < COUNT, "the action ended before the web process was killed"
    assert_nothing_lost_or_doubled(cluster, "alpha")
    # One run, in the worker: the web process's death did not touch it.
    runs = cluster.database.query("SELECT runs FROM messaging_action WHERE id = %s", (action_id,))[0][0]
    assert runs == 1
    assert "'succeeded: 20000 done'" in (cluster.workdir / "worker-0.log").read_text()
    seen_b, seen_restarted = on_b.of(action_id), on_restarted.of(action_id)
    assert seen_b.count("action.progress") >= 5 and seen_b[-1] == "action.finished", seen_b
    assert seen_restarted and seen_restarted[-1] == "action.finished", seen_restarted
    assert running_when_subscribed, "the action ended before the restarted web process answered"
    assert "action.progress" in seen_restarted, seen_restarted


def test_a_killed_workers_action_resumes_on_another_worker_without_loss(cluster):
    action_id = start_requeue(cluster, cluster.urls[1], "beta")
    wait_for(lambda: action(cluster, action_id)["done"] >= 2_000, timeout=15, message="the worker to start")
    worker = cluster.workers[-1]
    worker.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    worker.wait(5)
    done_when_killed = action(cluster, action_id)["done"]
    cluster.start_worker()

    def resumed() -> bool:
        runs, done = cluster.database.query("SELECT runs, done FROM messaging_action WHERE id = %s", (action_id,))[0]
        return runs == 2 and done > done_when_killed

    wait_for(resumed, timeout=30, message="another worker to resume the action")
    resumed_after = time.monotonic() - killed_at
    done = wait_for(
        lambda: (a := action(cluster, action_id))["state"] not in ("pending", "running") and a,
        timeout=30,
        message="the action to end",
    )
    print(f"worker SIGKILLed at {done_when_killed} done; resumed {resumed_after:.1f} s later (stale after {STALE_S} s)")
    assert done["state"] == "succeeded", done
    assert (done["done"], done["failed"], done["duplicated"]) == (COUNT, 0, 0)
    assert done_when_killed < COUNT
    assert_nothing_lost_or_doubled(cluster, "beta")
    assert resumed_after < STALE_S + 10


def test_a_worker_stopped_cleanly_hands_its_action_back_and_the_next_worker_continues(cluster):
    action_id = start_requeue(cluster, cluster.urls[0], "gamma")
    wait_for(lambda: action(cluster, action_id)["done"] >= 2_000, timeout=15, message="the worker to start")
    worker = cluster.workers[-1]
    worker.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    worker.wait(15)
    stop_took = time.monotonic() - stopped_at
    handed_back = action(cluster, action_id)
    assert handed_back["state"] == "pending" and 0 < handed_back["done"] < COUNT, handed_back
    cluster.start_worker()
    done = wait_for(
        lambda: (a := action(cluster, action_id))["state"] not in ("pending", "running") and a,
        timeout=30,
        message="the action to end",
    )
    print(f"SIGTERM: the worker handed the action back and exited in {stop_took:.1f} s")
    assert done["state"] == "succeeded", done
    assert (done["done"], done["failed"], done["duplicated"]) == (COUNT, 0, 0)
    assert_nothing_lost_or_doubled(cluster, "gamma")
    runs = cluster.database.query("SELECT runs FROM messaging_action WHERE id = %s", (action_id,))[0][0]
    assert runs == 2


def test_every_task_a_worker_received_has_ended(cluster):
    """Duplicate deliveries (hand-back, sweeps, startup) return at once instead of holding a slot."""
    for index, worker in enumerate(cluster.workers):
        log_path = cluster.workdir / f"worker-{index}.log"

        def balanced(log_path=log_path) -> bool:
            text = log_path.read_text(errors="replace")
            return text.count("] received") == text.count("] succeeded")

        if worker.poll() is None:
            wait_for(balanced, timeout=10, message=f"worker-{index}'s tasks to end")

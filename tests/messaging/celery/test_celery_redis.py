"""Celery on Redis, end to end: real workers, the monitor's event capture, the API and the socket."""

from __future__ import annotations

import json
import signal
import time

import pytest
from celery.events.event import get_exchange
from kombu import Connection
from websockets.sync.client import connect

from tests.celery_helpers import env, redis_env, start  # noqa: F401 (env: a fixture)
from tests.waiting import wait_for

pytestmark = pytest.mark.celery


def task(console, token, task_id):
    response = console.api(f"/api/v1/tasks/{task_id}", token)
    return response.json() if response.status_code == 200 else None


def test_task_states_timings_and_workers_reach_api_and_socket(live_console, env, tokens):
    console = start(live_console, env)
    hostname, _ = env.start_worker("w1")
    app = env.producer_app()
    socket = connect(f"{console.ws_url}/ws/stream?token={tokens['admin']}", open_timeout=10, legacy=True)
    socket.send(json.dumps({"subscribe": ["tasks", "workers"]}))
    # The worker runs without -E: task events come only after the monitor's enable_events, sent
    # as soon as the worker answers its first inspection.
    wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=20,
        message="inspection",
    )
    time.sleep(0.5)
    ok_id = env.send(app, "demo.add", (2, 3))
    bad_id = env.send(app, "demo.fail", ("no luck",))

    done = wait_for(
        lambda: (t := task(console, tokens["admin"], ok_id)) and t["state"] == "SUCCESS" and t,
        timeout=20,
        message="success",
    )
    assert done["args"] == "[2, 3]" and done["result"] == "5"
    assert done["queue"] == env.queue and done["worker"] == hostname
    assert done["runtime_s"] is not None and done["runtime_s"] >= 0
    assert done["received_at"] and done["started_at"] and done["finished_at"]
    assert {e["type"] for e in done["events"]} == {"sent", "received", "started", "succeeded"}
    assert done["wait_s"] is not None and done["wait_s"] >= 0
    failed = wait_for(
        lambda: (t := task(console, tokens["admin"], bad_id)) and t["state"] == "FAILURE" and t,
        timeout=20,
        message="failure",
    )
    assert "no luck" in failed["exception"] and "ValueError" in failed["traceback"]

    # Viewers never see content.
    as_viewer = console.api("/api/v1/tasks", tokens["viewer"], params={"state": "SUCCESS"}).json()
    assert as_viewer["count"] == 1 and as_viewer["results"][0]["args"] is None
    assert as_viewer["results"][0]["kwargs"] is None and as_viewer["results"][0]["result"] is None
    assert console.api("/api/v1/tasks", tokens["viewer"], params={"state": "bogus"}).status_code == 400

    seen = set()
    deadline = time.monotonic() + 10
    while {"task.succeeded", "task.failed"} - seen and time.monotonic() < deadline:
        event = json.loads(socket.recv(timeout=5))
        if event.get("data", {}).get("id") in (ok_id, bad_id):
            seen.add(event["type"])
    socket.close()
    assert {"task.succeeded", "task.failed"} <= seen

    worker = wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=20,
        message="inspection",
    )[0]
    assert (worker["hostname"], worker["status"], worker["pool"], worker["concurrency"]) == (
        hostname,
        "online",
        "solo",
        1,
    )
    assert worker["queues"] == [env.queue] and worker["processed"] is not None
    assert "demo.add" in worker["registered"]
    # Redis has no consumer count: the queue's consumers come from the workers' active queues.
    queue = wait_for(
        lambda: [
            q
            for q in console.api("/api/v1/queues", tokens["viewer"]).json()
            if q["name"] == env.queue and q["consumers"]
        ],
        timeout=20,
        message="consumers on the queue",
    )[0]
    assert queue["consumers"] == 1
    detail = console.api(f"/api/v1/queues/{queue['id']}", tokens["viewer"]).json()
    assert detail["wait_samples"] >= 1 and detail["wait_p95_s"] is not None

    assert console.api(f"/api/v1/tasks/{ok_id}/revoke", tokens["viewer"], method="POST", json={}).status_code == 403
    control = console.api(
        f"/api/v1/workers/{hostname}/control", tokens["operator"], method="POST", json={"command": "pool_grow"}
    )
    assert control.status_code == 403


def test_revoke_a_queued_task_then_a_killed_worker_goes_offline(live_console, env, tokens):
    console = start(live_console, env)
    # prefork: the solo pool runs tasks inside the event loop, so its events wait until the task ends
    hostname, process = env.start_worker("w2", pool="prefork")
    app = env.producer_app()
    wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=20,
        message="inspection",
    )
    time.sleep(0.5)
    slow_id = env.send(app, "demo.slow", (2.0,))
    wait_for(
        lambda: (t := task(console, tokens["viewer"], slow_id)) and t["state"] == "STARTED",
        timeout=20,
        message="slow task started",
    )
    queued_id = env.send(app, "demo.add", (1, 1))
    wait_for(lambda: task(console, tokens["viewer"], queued_id), timeout=20, message="the queued task's sent event")

    revoked = console.api(
        f"/api/v1/tasks/{queued_id}/revoke", tokens["operator"], method="POST", json={"terminate": False}
    )
    assert revoked.status_code == 202, revoked.text
    assert revoked.json()["acknowledged_by"] == [hostname]
    wait_for(lambda: task(console, tokens["viewer"], queued_id)["state"] == "REVOKED", timeout=20, message="revoked")
    audit = console.api("/api/v1/audit", tokens["viewer"])
    assert audit.status_code == 200, audit.text
    revokes = [e for e in audit.json()["results"] if e["action"] == "task.revoke"]
    assert [(e["params"]["task_id"], e["user"].startswith("operator")) for e in revokes] == [(queued_id, True)]
    from messaging.models import AuditEntry

    entry = AuditEntry.objects.get(action="task.revoke")
    assert entry.params["task_id"] == queued_id and entry.username.startswith("operator")

    freq = console.api("/api/v1/workers", tokens["viewer"]).json()[0]["heartbeat_freq_s"]
    process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: console.api("/api/v1/workers", tokens["viewer"]).json()[0]["status"] == "offline",
        timeout=4 * freq,
        interval=0.1,
        message="offline",
    )
    assert time.monotonic() - killed_at <= 3 * freq


def test_malformed_unknown_and_hostile_events_are_counted_skipped_and_escaped(
    live_console, env, tokens, client, make_user
):
    console = start(live_console, env)
    hostile_id = "hostile-1"
    hostile_args = "<script>alert(1)</script>" + "\u0000\ufffd binary " + "A" * 5000
    with Connection(env.url, transport_options=env.options) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)  # fanout on Redis, as Celery's own dispatcher uses

        def send(body, content_type="application/json"):
            producer.publish(
                body,
                exchange=exchange,
                declare=[exchange],
                routing_key="task.x",
                content_type=content_type,
                content_encoding="utf-8",
            )

        # Redis subscribes on the receiver's first poll: probe until an event gets through.
        def subscribed():
            send(json.dumps({"type": "probe-event"}).encode())
            return console.monitor.celery.watches["default"].counters.unknown > 0 or None

        wait_for(subscribed, timeout=20, message="the event subscription")
        send(b"{not json")
        send(json.dumps([1, 2]).encode())
        send(json.dumps({"type": "task-succeeded"}).encode())  # no task id
        send(b"\x80\x04K\x01.", content_type="application/x-python-serialize")  # pickle: refused, never loaded
        send(json.dumps({"type": "made-up-event", "uuid": "x"}).encode())
        send(json.dumps({"type": "task-received", "uuid": hostile_id, "name": "<b>evil</b>", "args": hostile_args,
                         "kwargs": "{}", "hostname": "w@x", "timestamp": time.time()}).encode())  # fmt: skip

    def counters():
        streams = console.api("/api/v1/events", tokens["viewer"]).json()
        return streams and streams[0]["malformed"] >= 4 and streams[0]["unknown"] >= 2 and streams[0]

    stream = wait_for(counters, timeout=20, message="the counters")
    assert stream["received"] >= 6 and stream["connected"] is True
    wait_for(lambda: task(console, tokens["admin"], hostile_id), timeout=20, message="the hostile task")

    user, _ = make_user("operator")
    client.force_login(user)
    page = client.get(f"/tasks/{hostile_id}/", HTTP_HOST="localhost").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page and "Show all (5" in page
    listing = client.get("/tasks/", HTTP_HOST="localhost").content.decode()
    assert "<b>evil</b>" not in listing and hostile_id in listing
    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    hidden = client.get(f"/tasks/{hostile_id}/", HTTP_HOST="localhost").content.decode()
    assert "AAAAAAAAAA" not in hidden and "hidden for your role" in hidden


def test_key_prefix_in_the_broker_url_reaches_event_capture_and_inspection(live_console, env, tokens):
    """``redis://…?global_keyprefix=…`` (the single-URL form of the setting) is Switchyard's option,
    not redis-py's: Celery's connections get it as the transport option the workers use."""
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig

    prefix = env.options["global_keyprefix"]
    config = BrokerConfig(name="default", url=f"{env.url}?global_keyprefix={prefix}")
    console = live_console(config=SwitchyardConfig(brokers=(config,)), interval=0.5)
    wait_for(lambda: console.monitor.celery.watches["default"].counters.connected, message="event capture")
    hostname, _ = env.start_worker("w1")
    workers = wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=20,
        message="inspection",
    )
    assert [w["hostname"] for w in workers] == [hostname]
    time.sleep(0.5)
    task_id = env.send(env.producer_app(), "demo.add", (1, 2))
    wait_for(
        lambda: (t := task(console, tokens["admin"], task_id)) and t["state"] == "SUCCESS",
        timeout=20,
        message="the task's events",
    )

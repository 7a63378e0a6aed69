"""Viewers see a failed task's exception type only, on every surface: the task API (list and detail,
timeline included), the task page, the tasks and worker pages, and the WebSocket ``tasks`` topic.
Operators see the message and traceback. A real worker raises ``ValueError('bad card 4111-...')``:
its message once reached viewers everywhere the message browser hid it."""

from __future__ import annotations

import json
import time

import pytest
from websockets.sync.client import connect

from messaging.config import SwitchyardConfig
from tests.celery_helpers import redis_env
from tests.waiting import wait_for

pytestmark = pytest.mark.celery

SECRET = "bad card 4111-1111-1111-1111"


@pytest.fixture
def env(settings):
    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0
    environment = redis_env()
    yield environment
    environment.stop()


def stream(console, token: str):
    socket = connect(f"{console.ws_url}/ws/stream?token={token}", open_timeout=10, legacy=True)
    socket.send(json.dumps({"subscribe": ["tasks"]}))
    return socket


def events_for(socket, task_id: str, until: str = "task.failed", timeout: float = 20.0) -> list[dict]:
    """Every stream event about ``task_id`` until one of type ``until`` (or the timeout)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        except TimeoutError:
            break
        if event.get("data", {}).get("id") == task_id:
            seen.append(event)
            if event["type"] == until:
                break
    return seen


def test_viewers_see_the_exception_type_only_everywhere_operators_see_it_all(
    live_console, env, tokens, client, make_user
):
    console = live_console(config=SwitchyardConfig(brokers=(env.broker_config(),)), interval=0.5)
    watch = console.monitor.celery.watches["default"]
    wait_for(lambda: watch.counters.connected, timeout=20, message="event capture")
    hostname, _ = env.start_worker("vis")
    wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=30,
        message="the inspected worker (events enabled)",
    )
    sockets = {role: stream(console, tokens[role]) for role in ("viewer", "operator")}
    time.sleep(0.5)
    task_id = env.send(env.producer_app(), "demo.fail", (SECRET,))
    streamed = {role: events_for(socket, task_id) for role, socket in sockets.items()}
    for socket in sockets.values():
        socket.close()

    failed = wait_for(
        lambda: (
            (r := console.api(f"/api/v1/tasks/{task_id}", tokens["operator"])).status_code == 200
            and r.json()["state"] == "FAILURE"
            and r.json()
        ),
        timeout=20,
        message="the failure",
    )
    # Operators: everything.
    assert SECRET in failed["exception"] and failed["exception"].startswith("ValueError(")
    assert "Traceback" in failed["traceback"] and SECRET in failed["traceback"]
    assert SECRET in json.dumps(console.api("/api/v1/tasks", tokens["operator"]).json())
    assert streamed["operator"] and SECRET in json.dumps(streamed["operator"])

    # Viewers: the type, nothing else, on each surface.
    detail = console.api(f"/api/v1/tasks/{task_id}", tokens["viewer"]).json()
    listing = console.api("/api/v1/tasks", tokens["viewer"]).json()
    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    pages = {
        path: client.get(path, HTTP_HOST="localhost")
        for path in (f"/tasks/{task_id}/", "/tasks/", f"/workers/default/{hostname}/", "/workers/")
    }
    surfaces = {
        "api detail": json.dumps(detail),
        "api list": json.dumps(listing),
        "websocket": json.dumps(streamed["viewer"]),
        **{f"page {path}": page.content.decode() for path, page in pages.items()},
    }
    assert [surface for surface, text in surfaces.items() if "4111" in text] == []
    assert all(page.status_code == 200 for page in pages.values())
    assert detail["exception"] == "ValueError" and detail["traceback"] is None
    assert detail["args"] is None and detail["kwargs"] is None and detail["result"] is None
    assert [e["exception"] for e in detail["events"] if e.get("exception")] == ["ValueError"]
    row = next(t for t in listing["results"] if t["id"] == task_id)
    assert row["exception"] == "ValueError" and row["traceback"] is None
    assert [e["type"] for e in streamed["viewer"]][-1] == "task.failed"
    assert streamed["viewer"][-1]["data"]["exception"] == "ValueError"
    task_page = pages[f"/tasks/{task_id}/"].content.decode()
    assert "ValueError" in task_page and "hidden for your role" in task_page

    operator, _ = make_user("operator")
    client.force_login(operator)
    task_page = client.get(f"/tasks/{task_id}/", HTTP_HOST="localhost").content.decode()
    assert SECRET in task_page and "Traceback" in task_page

"""Worker hostnames and task ids are anyone's text: one worker with a "/" in its hostname once made
the Workers page a 500 for everyone (its link could not be built), and the API could not name it;
a task id with a newline did the same to the Tasks page."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
import requests
from celery.events.event import get_exchange
from kombu import Connection

from tests.celery_helpers import env, redis_env, start  # noqa: F401 (env: a fixture)
from tests.waiting import wait_for

pytestmark = pytest.mark.celery


def logged_in(console, make_user, role: str) -> requests.Session:
    user, _ = make_user(role)
    session = requests.Session()
    login = session.get(f"{console.url}/login/", timeout=10)
    token = login.cookies["csrftoken"]
    session.post(
        f"{console.url}/login/",
        data={"username": user.username, "password": "correct-horse-9", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{console.url}/login/"},
        timeout=10,
    )
    return session


def worker_link(page: str, hostname: str) -> str:
    path = f"/workers/default/{quote(hostname, safe='/@')}/"
    assert f'href="{path}"' in page, f"no link {path} on the page"
    return path


def test_a_real_worker_named_with_a_slash_has_a_workers_page_an_api_row_and_takes_commands(
    live_console, env, tokens, make_user
):
    console = start(live_console, env)
    hostname, _ = env.start_worker("team/a")
    assert "/" in hostname
    wait_for(
        lambda: [w for w in console.api("/api/v1/workers", tokens["viewer"]).json() if w["pool"]],
        timeout=30,
        message="the inspected worker",
    )
    viewer = logged_in(console, make_user, "viewer")
    listing = viewer.get(f"{console.url}/workers/", timeout=10)
    assert listing.status_code == 200, listing.text[-500:]
    page = viewer.get(console.url + worker_link(listing.text, hostname), timeout=10)
    assert page.status_code == 200 and hostname in page.text

    detail = console.api(f"/api/v1/workers/{quote(hostname, safe='@')}", tokens["viewer"])
    assert detail.status_code == 200 and detail.json()["hostname"] == hostname
    assert detail.json()["pool"] == "solo"

    url = f"/api/v1/workers/{quote(hostname, safe='@')}/control"
    assert console.api(url, tokens["operator"], method="POST", json={"command": "pool_grow"}).status_code == 403
    limit = {"command": "rate_limit", "task": "demo.add", "rate": "10/m"}
    grown = console.api(url, tokens["admin"], method="POST", json=limit)
    assert grown.status_code == 200, grown.text
    assert grown.json()["hostname"] == hostname and grown.json()["answered"] is True

    admin = logged_in(console, make_user, "admin")
    control_path = worker_link(listing.text, hostname) + "control/"
    answer = admin.post(
        console.url + control_path,
        data={"command": "rate_limit", "task": "demo.add", "rate": ""},
        headers={"X-CSRFToken": admin.cookies["csrftoken"], "Referer": console.url + "/workers/"},
        timeout=15,
    )
    assert answer.status_code == 200 and "rate_limit" in answer.text and "failed" not in answer.text


def test_hostile_hostnames_from_events_leave_the_workers_page_working(live_console, env, tokens, make_user):
    console = start(live_console, env)
    counters = console.monitor.celery.watches["default"].counters
    hostnames = ["x/y@host", "line\nbreak@host", "w/control", "q?a=1#frag@host", "../up@host", " "]
    with Connection(env.url, transport_options=env.options) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)

        def send(event: dict) -> None:
            producer.publish(
                json.dumps(event).encode(),
                exchange=exchange,
                declare=[exchange],
                routing_key="worker.online",
                content_type="application/json",
                content_encoding="utf-8",
            )

        def subscribed():
            send({"type": "probe-event"})
            return counters.unknown > 0

        wait_for(subscribed, timeout=20, message="the event subscription")
        for hostname in hostnames:
            send({"type": "worker-online", "hostname": hostname, "timestamp": time.time(), "freq": 60})
    wait_for(
        lambda: len(console.api("/api/v1/workers", tokens["viewer"]).json()) == len(hostnames),
        timeout=20,
        message="the workers",
    )
    viewer = logged_in(console, make_user, "viewer")
    listing = viewer.get(f"{console.url}/workers/", timeout=10)
    assert listing.status_code == 200, listing.text[-500:]
    for hostname in hostnames:
        page = viewer.get(f"{console.url}/workers/default/{quote(hostname, safe='')}/", timeout=10)
        assert page.status_code == 200, (hostname, page.status_code)
        detail = console.api(f"/api/v1/workers/{quote(hostname, safe='')}", tokens["viewer"])
        assert detail.status_code == 200 and detail.json()["hostname"] == hostname, hostname
    # "w/control": its page and API row, not the control endpoint; the endpoint still controls "w".
    assert "w/control" in viewer.get(f"{console.url}/workers/default/w/control/", timeout=10).text
    assert console.api("/api/v1/workers/w/control", tokens["viewer"]).json()["hostname"] == "w/control"


def test_hostile_task_ids_from_events_leave_the_tasks_page_working(live_console, env, tokens, make_user):
    console = start(live_console, env)
    counters = console.monitor.celery.watches["default"].counters
    task_ids = ["a/b", "line\nbreak", "c/revoke", "q?x=1#frag", "../up"]
    with Connection(env.url, transport_options=env.options) as connection:
        producer = connection.Producer()
        exchange = get_exchange(connection)

        def send(event: dict) -> None:
            producer.publish(
                json.dumps(event).encode(),
                exchange=exchange,
                declare=[exchange],
                routing_key="task.received",
                content_type="application/json",
                content_encoding="utf-8",
            )

        def subscribed():
            send({"type": "probe-event"})
            return counters.unknown > 0

        wait_for(subscribed, timeout=20, message="the event subscription")
        for task_id in task_ids:
            send(
                {
                    "type": "task-received",
                    "uuid": task_id,
                    "name": "demo.add",
                    "hostname": "w@h",
                    "timestamp": time.time(),
                }
            )
    wait_for(
        lambda: console.api("/api/v1/tasks", tokens["viewer"]).json()["count"] == len(task_ids),
        timeout=20,
        message="the tasks",
    )
    viewer = logged_in(console, make_user, "viewer")
    listing = viewer.get(f"{console.url}/tasks/", timeout=10)
    assert listing.status_code == 200, listing.text[-500:]
    for task_id in task_ids:
        page = viewer.get(f"{console.url}/tasks/{quote(task_id, safe='')}/", timeout=10)
        assert page.status_code == 200 and "demo.add" in page.text, (task_id, page.status_code)
        detail = console.api(f"/api/v1/tasks/{quote(task_id, safe='')}", tokens["viewer"])
        assert detail.status_code == 200 and detail.json()["id"] == task_id, task_id
    # "c/revoke": its page and API row; the revoke endpoint of "c/revoke" is one level further.
    assert console.api("/api/v1/tasks/c/revoke", tokens["viewer"]).json()["id"] == "c/revoke"
    revoked = console.api("/api/v1/tasks/c/revoke/revoke", tokens["operator"], method="POST", json={})
    assert revoked.status_code == 202 and revoked.json()["task_id"] == "c/revoke"

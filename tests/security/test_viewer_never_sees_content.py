"""Message bodies, task arguments and results never reach a viewer by any path: API, pages,
WebSocket events and /metrics. A marker is planted in a real Redis message, a TaskRecord's
args/kwargs/result, a worker's active/reserved/scheduled tasks, and a task event on the stream."""

from __future__ import annotations

import json
import time
import uuid

from django.test import Client
from django.utils import timezone
from websockets.sync.client import connect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.action_helpers import celery_envelope, push
from tests.conftest import REDIS_URL
from tests.waiting import wait_for


def test_viewer_never_sees_bodies_args_or_results(live_console, make_user, redis_space, settings):
    from messaging.models import Queue, TaskRecord, Worker
    from messaging.stream import make_event, publish

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    marker = f"SECRET-ARG-{uuid.uuid4().hex}"
    queue_name = redis_space.name("content")
    task_id = str(uuid.uuid4())
    push(
        redis_space.client,
        redis_space.prefix + queue_name,
        [celery_envelope(queue_name, task_id=task_id, args=[marker], kwargs={"k": marker})],
    )
    now = timezone.now()
    hostname = f"celery@content-{uuid.uuid4().hex[:6]}"
    request = {"id": task_id, "name": "app.tasks.work", "args": [marker], "kwargs": {"k": marker}}
    Worker.objects.create(
        broker="main",
        hostname=hostname,
        last_heartbeat=now,
        active_tasks=[request],
        reserved=[{**request, "argsrepr": repr([marker])}],
        scheduled=[{"eta": now.isoformat(), "priority": 0, "request": request}],
    )
    TaskRecord.objects.create(
        task_id=task_id, broker="main", name="app.tasks.work", state="FAILURE", queue=queue_name, worker=hostname,
        args=json.dumps([marker]), kwargs=json.dumps({"k": marker}), result=marker, created_at=now, updated_at=now,
        events=[{"type": "task-received", "args": repr([marker]), "kwargs": repr({"k": marker})}],
    )  # fmt: skip
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(
                name="main", url=REDIS_URL, queues=(queue_name,), options={"global_keyprefix": redis_space.prefix}
            ),
        )
    )
    viewer, viewer_token = make_user("viewer")
    operator, operator_token = make_user("operator")
    console = live_console(config, interval=0.5)
    queue = wait_for(
        lambda: Queue.objects.filter(broker="main", name=queue_name, depth=1).first(), message="the queue sampled"
    )

    def everything(user, token) -> dict[str, str]:
        seen: dict[str, str] = {}
        for path in (
            "/api/v1/queues", f"/api/v1/queues/{queue.pk}", f"/api/v1/queues/{queue.pk}/messages",
            "/api/v1/tasks", f"/api/v1/tasks/{task_id}", f"/api/v1/tasks?q={marker}", "/api/v1/actions",
            "/api/v1/audit", "/api/v1/workers", f"/api/v1/workers/{hostname}", "/api/v1/events", "/metrics",
        ):  # fmt: skip
            response = console.api(path, token)
            assert response.status_code == 200, (path, response.status_code)
            seen[path] = response.text
        client = Client(HTTP_HOST="127.0.0.1")  # the live console narrowed ALLOWED_HOSTS
        client.force_login(user)
        for path in (
            "/", f"/queues/{queue.pk}/", f"/queues/{queue.pk}/messages/", "/tasks/", f"/tasks/{task_id}/",
            f"/tasks/?q={marker}", "/workers/", f"/workers/main/{hostname}/", "/audit/",
        ):  # fmt: skip
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            seen[f"page {path}"] = response.content.decode()
        with connect(f"{console.ws_url}/ws/stream?token={token}", open_timeout=10) as socket:
            socket.send(json.dumps({"subscribe": ["tasks", "queues", "workers"]}))
            for _ in range(10):
                if json.loads(socket.recv(timeout=5))["type"] == "stream.subscribed":
                    break
            data = {"task_id": task_id, "name": "app.tasks.work", "args": [marker], "kwargs": {"k": marker},
                    "result": marker, "argsrepr": repr([marker]), "nested": {"kwargsrepr": marker}}  # fmt: skip
            publish("tasks", [make_event("tasks", "task.succeeded", data, f"task:{task_id}")])
            events, deadline = [], time.monotonic() + 3
            while time.monotonic() < deadline and not any(task_id in e for e in events):
                try:
                    events.append(socket.recv(timeout=0.5))
                except TimeoutError:
                    continue
            assert any(task_id in e for e in events), "the task event never arrived"
            seen["websocket"] = "\n".join(events)
        return seen

    for where, text in everything(viewer, viewer_token).items():
        if "?q=" in where:  # the search box echoes what the viewer typed; the task must not match
            assert task_id not in text, f"a viewer's search matched the arguments in {where}"
        else:
            assert marker not in text, f"a viewer sees message content in {where}"
    operator_view = everything(operator, operator_token)
    # The same paths do carry the content for an operator: the test plants it where it is shown.
    for where in (f"/api/v1/queues/{queue.pk}/messages", f"/api/v1/tasks/{task_id}", f"/api/v1/tasks?q={marker}",
                  f"/api/v1/workers/{hostname}", "websocket"):  # fmt: skip
        assert marker in operator_view[where], f"an operator should see the content in {where}"

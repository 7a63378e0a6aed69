"""Broker passwords, webhook credentials and API tokens never appear in pages, API answers,
/metrics, WebSocket events, health, error answers or log output.

A live console runs with a working Redis broker, a Redis broker with a distinctive password on a
closed port, a RabbitMQ broker whose management URL has a wrong distinctive password, and an
alert rule (firing) whose webhook URL carries a user:password and a ``?token=``. Everything a
viewer and an admin can fetch is collected, with all log output, and searched for the secrets.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import pytest
from django.test import Client
from websockets.sync.client import connect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import Queue
from tests.action_helpers import celery_envelope, push
from tests.conftest import AMQP_URL, REDIS_URL
from tests.waiting import wait_for


@pytest.fixture
def console_log():
    """``capture()`` -> a stream receiving what the console's own log handler (the one with the
    redaction filter) writes from then on. Call it after the console started: importing the ASGI
    application sets up Django again, which installs a fresh handler."""
    swapped: list[tuple[logging.Handler, object, int]] = []
    root = logging.getLogger()
    root_level = root.level

    def capture() -> io.StringIO:
        handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.filters]
        assert handlers, "the console's log handler is not installed"
        stream = io.StringIO()
        for h in handlers:
            # Not setStream(): it flushes the old stream, which pytest may have closed already.
            swapped.append((h, h.stream, h.level))
            h.stream = stream
            h.setLevel(logging.DEBUG)
        root.setLevel(logging.DEBUG)
        return stream

    yield capture
    root.setLevel(root_level)
    for h, old, level in swapped:
        h.stream = old
        h.setLevel(level)


def test_secrets_never_leave_the_console(live_console, make_user, redis_space, console_log, caplog, settings):
    from messaging.models import AlertRule

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex
    secrets = {
        "redis password": f"pw-{tag}",
        "management password": f"mgmt-{tag}",
        "webhook password": f"hook-{tag}",
        "webhook token": f"tok-{tag}",
    }
    queue = redis_space.name("secret-q")
    push(redis_space.client, redis_space.prefix + queue, [celery_envelope(queue) for _ in range(2)])
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(name="main", url=REDIS_URL, queues=(queue,), options={"global_keyprefix": redis_space.prefix}),
            BrokerConfig(name="leaky", url=f"redis://:{secrets['redis password']}@127.0.0.1:1/0", queues=("q",)),
            BrokerConfig(
                name="rabbit",
                url=AMQP_URL,
                management_url=f"http://guest:{secrets['management password']}@127.0.0.1:15672",
                celery_events=False,
            ),
        )
    )
    AlertRule.objects.create(
        name="leaky-hook",
        metric="depth",
        op=">=",
        threshold=0,
        broker="main",
        webhook_url=f"http://hookuser:{secrets['webhook password']}@127.0.0.1:1/hook?token={secrets['webhook token']}",
    )
    viewer, viewer_token = make_user("viewer")
    admin, admin_token = make_user("admin")
    secrets["viewer API token"] = viewer_token
    secrets["admin API token"] = admin_token
    console = live_console(config, interval=0.5)
    log_stream = console_log()

    def brokers_seen():
        rows = console.api("/api/v1/brokers", viewer_token).json()
        return len(rows) == 3 and all(b["status"] != "unknown" for b in rows) and rows

    wait_for(brokers_seen, timeout=20, message="all three brokers checked")
    wait_for(
        lambda: console.api("/api/v1/alerts", viewer_token).json(), timeout=20, message="the rule to fire"
    )  # fmt: skip

    collected: dict[str, str] = {}
    # WebSocket events, as viewer and admin, while the monitor samples and webhooks are retried.
    for role, token in (("viewer", viewer_token), ("admin", admin_token)):
        with connect(f"{console.ws_url}/ws/stream?token={token}", open_timeout=10) as socket:
            socket.send(json.dumps({"subscribe": ["queues", "alerts", "workers", "tasks", "actions", "audit"]}))
            events, deadline = [], time.monotonic() + 2.5
            while time.monotonic() < deadline:
                try:
                    events.append(socket.recv(timeout=0.5))
                except TimeoutError:
                    continue
            collected[f"ws {role}"] = "\n".join(events)
    alert_id = console.api("/api/v1/alerts", admin_token).json()[0]["id"]
    rule_id = AlertRule.objects.get(name="leaky-hook").pk
    api_paths = [
        "/api/v1/brokers", "/api/v1/queues", "/api/v1/health", "/api/v1/alerts", f"/api/v1/alerts/{alert_id}",
        "/api/v1/alert-rules", f"/api/v1/alert-rules/{rule_id}", "/api/v1/audit", "/api/v1/workers",
        "/api/v1/events", "/api/v1/brokers/leaky/in-flight", "/api/v1/brokers/rabbit/in-flight", "/metrics",
        "/api/schema/", "/api/v1/queues/999999", "/api/v1/nope",
    ]  # fmt: skip
    for role, token in (("viewer", viewer_token), ("admin", admin_token)):
        for path in api_paths:
            collected[f"GET {path} as {role}"] = console.api(path, token).text
    # The monitor lists a configured queue of a broker that never answered (with null figures).
    leaky_queue = {"id": Queue.objects.get(broker="leaky", name="q").pk}
    for verb, body in (("purge", {"confirm": "q"}), ("requeue", {"all": True, "target": "x"})):
        path = f"/api/v1/queues/{leaky_queue['id']}/{verb}"
        collected[f"POST {path}"] = console.api(path, admin_token, method="POST", json=body).text
    collected["messages of the down broker"] = console.api(
        f"/api/v1/queues/{leaky_queue['id']}/messages", admin_token
    ).text  # fmt: skip
    collected["anonymous 401"] = console.api("/api/v1/queues", "swy_wrong-token-123456").text
    pages = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")  # the live console narrowed ALLOWED_HOSTS
    pages.force_login(admin)
    for path in (
        "/", "/?broker=leaky", f"/queues/{leaky_queue['id']}/", f"/queues/{leaky_queue['id']}/messages/",
        "/alerts/", f"/alerts/{alert_id}/", "/alerts/rules/", f"/alerts/rules/{rule_id}/", "/audit/", "/workers/",
        "/account/tokens/", "/no-such-page/",
    ):  # fmt: skip
        response = pages.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        collected[f"page {path}"] = response.content.decode()
    # A rule form sent back with a bad value re-renders the (redacted) webhook URL.
    collected["rule form error"] = pages.post(f"/alerts/rules/{rule_id}/", {"metric": "nonsense"}).content.decode()
    console.stop()
    collected["console log"] = log_stream.getvalue()
    collected["all log records (caplog, DEBUG)"] = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )

    assert "leaky" in collected["GET /api/v1/brokers as viewer"]
    assert "alert webhook" in collected["console log"] or "webhook" in collected["all log records (caplog, DEBUG)"]
    leaks = [
        f"{name} in {where}" for where, text in collected.items() for name, secret in secrets.items() if secret in text
    ]
    assert not leaks, leaks
    print(
        f"\nsecrets grep: {len(secrets)} secrets x {len(collected)} places ({sum(map(len, collected.values()))} chars)"
    )

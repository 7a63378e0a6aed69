"""Hostile messages in a real RabbitMQ vhost queue: the API and the message browser render them
safely for an operator, hide their content from a viewer, and never unpickle anything."""

from __future__ import annotations

import json
import pickle
import uuid

import amqp
import pytest
from django.test import Client

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.process_config import set_config
from tests.action_helpers import make_queue
from tests.security.hostile import XSS, _RunsCode
from tests.security.test_hostile_messages import assert_escaped


def hostile_amqp_messages(marker: str, pickle_marker: str) -> list[amqp.Message]:
    deep: dict = {"leaf": marker}
    for _ in range(60):
        deep = {"d": deep}
    return [
        amqp.Message(
            json.dumps([[marker, XSS[0]], {"k": XSS[1]}, {}]),
            content_type="application/json",
            application_headers={"task": XSS[0], "id": XSS[2], "argsrepr": marker, XSS[1]: XSS[3]},
            message_id=XSS[2],
            correlation_id=XSS[1],
            reply_to=XSS[0],
        ),
        amqp.Message(pickle.dumps(_RunsCode(pickle_marker)), content_type="application/x-python-serialize"),
        amqp.Message(b"\xff\xfe" + marker.encode() + b"<script>", content_type="text/html"),
        amqp.Message(marker + "[" * 10_000, content_type="application/json", application_headers={"task": "t"}),
        amqp.Message(marker, application_headers={"nested": deep, "big": XSS[0] * 2000}),
        amqp.Message(json.dumps([[marker + "x" * (1024 * 1024)], {}, {}]), application_headers={"task": "t.big"}),
        amqp.Message(
            marker.encode(), content_type=XSS[1], content_encoding=XSS[0], application_headers={"id": "a/../b"}
        ),
        amqp.Message(b"", content_type=None),
    ]


@pytest.fixture
def rabbit_hostile(rabbit_vhost, make_user, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    marker = f"SECRET-ARG-{uuid.uuid4().hex}"
    pickle_marker = tmp_path / "unpickled-marker"
    name = "hostile-" + uuid.uuid4().hex[:6]
    connection = amqp.Connection(
        host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=rabbit_vhost.name
    )  # fmt: skip
    connection.connect()
    messages = hostile_amqp_messages(marker, str(pickle_marker))
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, auto_delete=False)
        for message in messages:
            channel.basic_publish(message, exchange="", routing_key=name)
    finally:
        connection.close()
    broker = BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url)
    set_config(SwitchyardConfig(brokers=(broker,)))
    queue = make_queue("rabbit", name, depth=len(messages), vhost=rabbit_vhost.name)
    yield queue, marker, pickle_marker, len(messages), {r: make_user(r) for r in ("viewer", "operator")}
    assert not pickle_marker.exists(), "a pickle payload was unpickled"


def test_hostile_rabbitmq_messages_render_safely(rabbit_hostile):
    queue, marker, pickle_marker, count, users = rabbit_hostile
    for role in ("operator", "viewer"):
        user, token = users[role]
        api = Client().get(f"/api/v1/queues/{queue.pk}/messages?limit=50", HTTP_AUTHORIZATION=f"Token {token}")
        assert api["Content-Type"] == "application/json" and api["X-Content-Type-Options"] == "nosniff"
        client = Client()
        client.force_login(user)
        # Browsing RabbitMQ changes it: operators POST; a viewer is told why there is nothing to see.
        page = client.post(f"/queues/{queue.pk}/messages/", {"offset": "0"}) if role == "operator" else None
        html = (page or client.get(f"/queues/{queue.pk}/messages/?browse=1")).content.decode()
        assert_escaped(html, f"message browser as {role}")
        if role == "viewer":
            assert api.status_code == 403, api.content[:500]
            assert marker not in api.content.decode() and marker not in html
            assert "message-row" not in html
        else:
            assert api.status_code == 200, api.content[:500]
            assert len(api.json()["results"]) == count
            assert page.status_code == 200 and marker in html
    # Browsing with get-and-requeue left every message in the queue.
    user, token = users["operator"]
    again = Client().get(f"/api/v1/queues/{queue.pk}/messages?limit=50", HTTP_AUTHORIZATION=f"Token {token}")
    assert again.json()["count"] == count
    assert not pickle_marker.exists()

"""Hostile messages in a real Redis queue: every page and API answer renders them safely (escaped,
no 500), raw downloads can never render as HTML, nothing is ever unpickled, and a viewer never
sees a body or an argument."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.test import Client

from tests.action_helpers import make_queue, push, redis_broker  # noqa: F401  (fixture)
from tests.security.hostile import corpus

UNESCAPED = ["<script>window.__pwned", "<img src=x onerror", "<svg onload", '<iframe srcdoc="', 'href="javascript:']


@pytest.fixture
def hostile_queue(redis_broker, make_user, settings, tmp_path):  # noqa: F811
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _, redis_client, prefix = redis_broker
    marker = f"SECRET-ARG-{uuid.uuid4().hex}"
    pickle_marker = str(tmp_path / "unpickled-marker")
    items = corpus(marker, pickle_marker)
    queue = make_queue("main", "hostile-" + uuid.uuid4().hex[:8], depth=len(items))
    push(redis_client, prefix + queue.name, [value for _, value in reversed(items)])
    users = {role: make_user(role) for role in ("viewer", "operator")}
    yield queue, marker, Path(pickle_marker), items, users
    assert not Path(pickle_marker).exists(), "a pickle payload was unpickled"


def not_json(constant: str):
    pytest.fail(f"{constant} is not JSON")


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_escaped(html: str, where: str) -> None:
    for needle in UNESCAPED:
        assert needle not in html, f"{where}: unescaped {needle!r}"


def fetch_everything(queue, client: Client, token: str) -> dict[str, object]:
    """Every view of the queue's messages a browser or script can ask for."""
    answers: dict[str, object] = {}
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    for path in (f"/queues/{queue.pk}/", *(f"/queues/{queue.pk}/messages/?offset={o}" for o in (0, 25))):
        answers[path] = client.get(path)
    for offset in (0, 30):
        path = f"/api/v1/queues/{queue.pk}/messages?limit=30&offset={offset}"
        answers[path] = client.get(path, **auth)
    return answers


def test_hostile_messages_render_safely_for_an_operator(hostile_queue):
    queue, marker, pickle_marker, items, users = hostile_queue
    user, token = users["operator"]
    answers = fetch_everything(queue, page_client(user), token)
    results = []
    for path, response in answers.items():
        assert response.status_code == 200, f"{path}: {response.status_code}"
        text = response.content.decode()
        if path.startswith("/api/"):
            assert response["Content-Type"] == "application/json"
            assert response["X-Content-Type-Options"] == "nosniff"
            data = json.loads(text, parse_constant=not_json)
            results.extend(data["results"])
        else:
            assert_escaped(text, path)
    assert len(results) == len(items)
    assert marker in json.dumps(results)  # an operator does see the bodies
    # Every message's raw download (ids with "/", "?", "#" and markup included) is an attachment
    # that cannot be sniffed into HTML.
    client = Client()
    for message in results:
        response = client.get(
            f"/api/v1/queues/{queue.pk}/messages/{quote(message['id'], safe='')}/raw",
            {"position": message["position"]},
            HTTP_AUTHORIZATION=f"Token {token}",
        )
        assert response.status_code == 200, f"raw {message['id']!r}: {response.status_code}"
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "\n" not in response["Content-Disposition"] and "<" not in response["Content-Disposition"]
    assert not pickle_marker.exists()


def test_hostile_bodies_and_arguments_never_reach_a_viewer(hostile_queue):
    queue, marker, pickle_marker, items, users = hostile_queue
    user, token = users["viewer"]
    answers = fetch_everything(queue, page_client(user), token)
    listed = []
    for path, response in answers.items():
        assert response.status_code == 200, f"{path}: {response.status_code}"
        text = response.content.decode()
        assert marker not in text, f"{path} shows a body or argument to a viewer"
        if not path.startswith("/api/"):
            assert_escaped(text, path)
        else:  # JSON, served as such and never sniffed: text in it is data, not markup
            assert response["Content-Type"] == "application/json" and response["X-Content-Type-Options"] == "nosniff"
            listed.extend(response.json()["results"])
    # Every message is listed (so the check below looked at each), none with its content.
    assert len(listed) == len(items)
    for message in listed:
        assert message["args"] is None and message["kwargs"] is None and message["body"] is None
    raw = Client().get(f"/api/v1/queues/{queue.pk}/messages/x/raw", HTTP_AUTHORIZATION=f"Token {token}")
    assert raw.status_code == 403


def test_hostile_pages_carry_a_script_free_csp(hostile_queue):
    queue, *_, users = hostile_queue
    response = page_client(users["operator"][0]).get(f"/queues/{queue.pk}/messages/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp

"""Headers on every kind of answer, cookie flags, CSRF, WebSocket refusal and token revocation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.test import Client

from console.models import ApiToken

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_security_headers(response, where: str) -> None:
    csp = response.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, where
    for name, value in HEADERS.items():
        assert response.get(name) == value, f"{where}: {name}={response.get(name)!r}"


@pytest.fixture
def fast_users(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return make_user


def test_security_headers_on_api_pages_metrics_and_errors(fast_users, settings):
    settings.ROOT_URLCONF = "tests.security.urls_boom"
    user, token = fast_users("viewer")
    api = Client(raise_request_exception=False)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    answers = {
        "api 200": api.get("/api/v1/queues", **auth),
        "api 401": api.get("/api/v1/queues"),
        "api 403": api.post("/api/v1/queues/1/purge", {}, **auth),
        "api 404": api.get("/api/v1/queues/999999", **auth),
        "api 404 route": api.get("/api/v1/no-such-route", **auth),
        "api 500": api.get("/api/v1/boom", **auth),
        "schema": api.get("/api/schema/", **auth),
        "metrics": api.get("/metrics", **auth),
        "login page": api.get("/login/"),
    }
    pages = Client(raise_request_exception=False)
    pages.force_login(user)
    answers.update(
        {
            "page 200": pages.get("/"),
            "page 403": pages.post("/alerts/rules/", {}),
            "page 404": pages.get("/no-such-page/"),
            "page 500": pages.get("/boom/"),
            "redirect": Client().get("/"),
        }
    )
    for where, response in answers.items():
        assert_security_headers(response, where)
    assert answers["api 500"].status_code == 500 and answers["api 500"].json()["error"] == "internal_error"
    assert answers["page 500"].status_code == 500 and b"pw-in-a-traceback" not in answers["page 500"].content
    assert b"Traceback" not in answers["page 500"].content and b"RuntimeError" not in answers["api 500"].content
    assert answers["page 404"].status_code == 404 and answers["page 403"].status_code == 403


def test_session_cookie_is_httponly_and_secure_over_tls(fast_users):
    user, _ = fast_users("viewer", password="pw-1")
    plain = Client().post("/login/", {"username": user.username, "password": "pw-1"})
    assert plain.status_code == 302
    cookie = plain.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    tls = Client().post(
        "/login/", {"username": user.username, "password": "pw-1"}, HTTP_X_FORWARDED_PROTO="https", secure=False
    )
    assert tls.status_code == 302
    assert tls.cookies["sessionid"]["secure"] and tls.cookies["sessionid"]["httponly"]
    assert tls.cookies["csrftoken"]["secure"]


def test_session_cookie_secure_switch_from_environment():
    code = "import django; django.setup(); from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"  # noqa: E501
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings", "SESSION_COOKIE_SECURE": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]


def test_websocket_refuses_anonymous_with_4401_and_roleless_with_4403(fast_users, transactional_db):
    from console.asgi import application

    _, token = fast_users(None)

    async def closes_with(path: str) -> int | None:
        communicator = WebsocketCommunicator(application, path)
        connected, _ = await communicator.connect()
        output = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return output.get("code") if output["type"] == "websocket.close" else None

    assert async_to_sync(closes_with)("/ws/stream") == 4401
    assert async_to_sync(closes_with)("/ws/stream?token=swy_bogus-token-xyz") == 4401
    assert async_to_sync(closes_with)(f"/ws/stream?token={token}") == 4403


def test_revoketoken_command_by_hint_and_by_user(fast_users):
    user, token = fast_users("operator")
    _, second = ApiToken.issue(user)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert Client().get("/api/v1/queues", **auth).status_code == 200
    call_command("revoketoken", token[:12])
    assert Client().get("/api/v1/queues", **auth).status_code == 401
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {second}").status_code == 200
    call_command("revoketoken", "--user", user.username)
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {second}").status_code == 401
    with pytest.raises(CommandError):
        call_command("revoketoken", "--user", user.username)  # nothing active left
    with pytest.raises(CommandError):
        call_command("revoketoken", "swy_")  # too short to name one token


def test_tokens_page_lists_own_tokens_by_hint_and_revokes_only_own(fast_users):
    user, token = fast_users("viewer")
    other, other_token = fast_users("admin")
    client = Client()
    client.force_login(user)
    page = client.get("/account/tokens/")
    assert page.status_code == 200
    html = page.content.decode()
    assert token[:10] in html and token not in html and other_token[:10] not in html
    mine = ApiToken.objects.get(user=user)
    theirs = ApiToken.objects.get(user=other)
    assert client.post(f"/account/tokens/{theirs.pk}/revoke/").status_code == 404
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {other_token}").status_code == 200
    assert client.post(f"/account/tokens/{mine.pk}/revoke/").status_code == 302
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert "revoked" in client.get("/account/tokens/").content.decode()

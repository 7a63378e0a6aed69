"""Who may do what: 401 without credentials, 403 without the role, 404 for unknown queues."""

import pytest
from django.test import Client

API_GETS = ["/api/v1/brokers", "/api/v1/queues", "/api/v1/queues/1", "/api/v1/health", "/api/schema/"]


@pytest.mark.parametrize("path", API_GETS)
def test_api_without_credentials_is_401(db, path):
    response = Client().get(path)
    assert response.status_code == 401
    assert b"not_authenticated" in response.content


def test_bad_token_is_401(db):
    response = Client().get("/api/v1/queues", HTTP_AUTHORIZATION="Token swy_not-a-real-token")
    assert response.status_code == 401


def test_user_without_role_is_403_on_api_and_pages(make_user):
    user, token = make_user(None)
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 403


def test_pages_redirect_to_login(db):
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_unknown_queue_is_404_in_api_and_pages(make_user):
    user, token = make_user("viewer")
    for path in ("/api/v1/queues/999999", "/api/v1/queues/not-a-number"):
        response = Client().get(path, HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    client = Client()
    client.force_login(user)
    assert client.get("/queues/999999/").status_code == 404


def test_revoked_token_stops_working(make_user):
    from console.models import ApiToken

    user, token = make_user("viewer")
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    ApiToken.objects.get(user=user).revoke()
    assert Client().get("/api/v1/queues", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401


def test_tokens_are_stored_hashed(make_user):
    from console.models import ApiToken

    user, token = make_user("admin")
    row = ApiToken.objects.get(user=user)
    assert token not in row.digest and len(row.digest) == 64


def test_security_headers_on_pages(make_user):
    user, _ = make_user("viewer")
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_login_is_rate_limited_after_repeated_failures(make_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user, _ = make_user("viewer", password="the-right-one-1")
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(2):
        assert client.post("/login/", {"username": user.username, "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": user.username, "password": "wrong"}).status_code == 429
    locked = client.post("/login/", {"username": user.username, "password": "the-right-one-1"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_login_succeeds_and_logout_needs_post(make_user):
    user, _ = make_user("viewer", password="the-right-one-1")
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": "the-right-one-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302

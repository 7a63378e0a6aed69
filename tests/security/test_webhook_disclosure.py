"""Webhook URLs carry their secret in the path (Slack: ``/services/T…/B…/<secret>``) or the query
(``?code=``): beyond scheme and host they are for admins only. A receiver's error reply may hold
internal detail: it is shown to admins only. Every surface a viewer or operator reaches is checked:
API rule list and detail, rule pages, alert detail (API and page), audit (API, page, WebSocket) and
the WebSocket ``alerts`` topic."""

from __future__ import annotations

import json
import time

import pytest
from django.utils import timezone
from websockets.sync.client import connect

from messaging.alerts.notify import deliver
from messaging.models import Alert, AlertRule, WebhookDelivery
from tests.helpers.webhooks import WebhookReceiver

SLACK_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/XXsecretXX?code=c0de5ecret"
URL_SECRETS = ("T0SECRET", "B0SECRET", "XXsecretXX", "c0de5ecret")
SHOWN_TO_OTHERS = "https://hooks.slack.com/…"
REPLY_SECRET = "db-host=10.1.2.3 internal-trace-42"
RULE = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 100, "for_s": 0, "severity": "warning"}


def leaked(text: str, secrets=URL_SECRETS) -> list[str]:
    return [secret for secret in secrets if secret in text]


@pytest.fixture
def api(client):
    def call(method, path, token, **data):
        return getattr(client, method)(
            f"/api/v1/{path}", data=data or None, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
        )

    return call


@pytest.fixture
def slack_rule(api, tokens) -> dict:
    created = api("post", "alert-rules", tokens["admin"], **RULE, webhook_url=SLACK_URL)
    assert created.status_code == 201, created.json()
    patched = api("patch", f"alert-rules/{created.json()['id']}", tokens["admin"], threshold=200)
    assert patched.status_code == 200, patched.json()
    return created.json()


def test_viewers_and_operators_see_only_scheme_and_host_of_webhook_urls_in_the_api(api, tokens, slack_rule):
    for role in ("viewer", "operator"):
        listing = api("get", "alert-rules", tokens[role])
        detail = api("get", f"alert-rules/{slack_rule['id']}", tokens[role])
        assert leaked(listing.content.decode()) == [] and leaked(detail.content.decode()) == [], role
        assert detail.json()["webhook_url"] == SHOWN_TO_OTHERS
        assert [r["webhook_url"] for r in listing.json() if r["id"] == slack_rule["id"]] == [SHOWN_TO_OTHERS]
    admin = api("get", f"alert-rules/{slack_rule['id']}", tokens["admin"]).json()
    assert admin["webhook_url"] == SLACK_URL


def test_rule_pages_show_viewers_and_operators_only_scheme_and_host(client, make_user, slack_rule):
    for role in ("viewer", "operator"):
        user, _ = make_user(role)
        client.force_login(user)
        for page in ("/alerts/rules/", f"/alerts/rules/{slack_rule['id']}/"):
            html = client.get(page).content.decode()
            assert "hooks.slack.com" in html and leaked(html) == [], (role, page)
    admin, _ = make_user("admin")
    client.force_login(admin)
    assert "XXsecretXX" in client.get(f"/alerts/rules/{slack_rule['id']}/").content.decode()


def test_audit_of_rule_saves_keeps_the_webhook_secret_out(api, client, make_user, tokens, slack_rule):
    entries = api("get", "audit", tokens["viewer"])
    actions = [e["action"] for e in entries.json()["results"]]
    assert "alert_rule.create" in actions and "alert_rule.update" in actions
    assert leaked(entries.content.decode()) == []
    user, _ = make_user("viewer")
    client.force_login(user)
    assert leaked(client.get("/audit/").content.decode()) == []
    api("delete", f"alert-rules/{slack_rule['id']}", tokens["admin"])
    assert leaked(api("get", "audit", tokens["operator"]).content.decode()) == []


def test_a_receivers_error_reply_is_shown_to_admins_only(api, client, make_user, tokens, settings):
    settings.SWITCHYARD_WEBHOOK_MAX_ATTEMPTS = 1
    receiver = WebhookReceiver(statuses=[500], reply=REPLY_SECRET.encode())
    try:
        rule = AlertRule.objects.create(name="R", metric="depth", op=">", threshold=1, webhook_url=receiver.url)
        now = timezone.now()
        alert = Alert.objects.create(
            rule=rule, rule_name="R", metric="depth", severity="warning", fingerprint="b" * 16, labels={},
            state="firing", value=5, threshold=1, started_at=now, fired_at=now, summary="depth is 5",
        )  # fmt: skip
        row = WebhookDelivery.objects.create(
            alert=alert, event="firing", url=receiver.url + "/T0SECRET", payload={"version": "4"}, next_attempt_at=now
        )
        assert deliver(row.pk) == "failed"
    finally:
        receiver.close()
    row.refresh_from_db()
    assert REPLY_SECRET in row.last_error  # kept for admins
    for role in ("viewer", "operator"):
        answer = api("get", f"alerts/{alert.pk}", tokens[role])
        assert leaked(answer.content.decode(), (REPLY_SECRET, "T0SECRET")) == [], role
        assert answer.json()["deliveries"][0]["last_error"] == "HTTP 500"
        user, _ = make_user(role)
        client.force_login(user)
        page = client.get(f"/alerts/{alert.pk}/").content.decode()
        assert "HTTP 500" in page and leaked(page, (REPLY_SECRET, "T0SECRET")) == [], role
    admin = api("get", f"alerts/{alert.pk}", tokens["admin"]).json()
    assert REPLY_SECRET in admin["deliveries"][0]["last_error"]


def test_websocket_alerts_and_audit_topics_keep_the_webhook_secret_from_viewers(live_console, make_user):
    console = live_console(monitor=False)
    _, viewer_token = make_user("viewer")
    _, admin_token = make_user("admin")
    texts: list[str] = []
    with connect(f"{console.ws_url}/ws/stream?token={viewer_token}", open_timeout=10) as socket:
        socket.send(json.dumps({"subscribe": ["alerts", "audit"]}))
        while "stream.subscribed" not in socket.recv(timeout=10):
            pass
        created = console.api(
            "/api/v1/alert-rules", admin_token, method="POST", json={**RULE, "webhook_url": SLACK_URL}
        )
        assert created.status_code == 201, created.text
        rule_id = created.json()["id"]
        console.api(f"/api/v1/alert-rules/{rule_id}", admin_token, method="PATCH", json={"enabled": False})
        console.api(f"/api/v1/alert-rules/{rule_id}", admin_token, method="DELETE")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum('"audit.entry"' in t for t in texts) < 3:
            try:
                texts.append(socket.recv(timeout=1))
            except TimeoutError:
                pass
    assert sum('"audit.entry"' in t for t in texts) == 3, texts
    assert leaked("\n".join(texts)) == [] and "hooks.slack.com" in "\n".join(texts)


def test_audit_entries_recorded_before_the_cut_are_cut_when_read(api, client, make_user, tokens):
    from messaging.models import AuditEntry

    AuditEntry.objects.create(
        username="old-admin", action="alert_rule.create", params={"id": 1, "name": "Old", "webhook_url": SLACK_URL}
    )
    entries = api("get", "audit", tokens["viewer"])
    assert leaked(entries.content.decode()) == []
    assert entries.json()["results"][0]["params"]["webhook_url"] == SHOWN_TO_OTHERS
    user, _ = make_user("viewer")
    client.force_login(user)
    page = client.get("/audit/").content.decode()
    assert "hooks.slack.com" in page and leaked(page) == []

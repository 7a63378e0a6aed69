"""Alert rules and alerts over the REST API: roles, field errors, redaction, acknowledgement."""

import pytest

from messaging.models import Alert, AlertRule, AuditEntry

RULE = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 100, "for_s": 30, "severity": "warning"}


@pytest.fixture
def api(client):
    def call(method, path, token=None, **data):
        headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
        return getattr(client, method)(f"/api/v1/{path}", data=data or None, content_type="application/json", **headers)

    return call


def test_admin_creates_rule_viewer_reads_but_cannot_write(api, tokens):
    created = api("post", "alert-rules", tokens["admin"], **RULE, queue="emails*")
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert rule["broker"] == "*" and rule["queue"] == "emails*" and rule["enabled"] is True
    assert api("get", f"alert-rules/{rule['id']}", tokens["viewer"]).json()["name"] == "Backlog"
    for role in ("viewer", "operator"):
        assert api("post", "alert-rules", tokens[role], **RULE).status_code == 403
        assert api("patch", f"alert-rules/{rule['id']}", tokens[role], enabled=False).status_code == 403
        assert api("delete", f"alert-rules/{rule['id']}", tokens[role]).status_code == 403
    assert api("get", "alert-rules").status_code == 401
    assert AuditEntry.objects.filter(action="alert_rule.create").count() == 1


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"metric": "lag"}, "metric"),
        ({"op": "~"}, "op"),
        ({"for_s": -1}, "for_s"),
        ({"queue": "emails["}, "queue"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"webhook_url": "http://testserver/api/v1/alert-rules"}, "webhook_url"),
        ({"webhook_url": "http://127.0.0.1:80/x"}, "webhook_url"),
        ({"threshold": "many"}, "threshold"),
    ],
)
def test_invalid_rules_get_field_errors(api, tokens, changes, field):
    response = api("post", "alert-rules", tokens["admin"], **{**RULE, **changes})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and field in body["detail"], body


def test_webhook_credentials_are_redacted_and_kept(api, tokens):
    rule = api("post", "alert-rules", tokens["admin"], **RULE, webhook_url="https://bot:s3cret@hooks.example.com/x")
    shown = rule.json()["webhook_url"]
    assert "s3cret" not in shown and "****" in shown
    patched = api("patch", f"alert-rules/{rule.json()['id']}", tokens["admin"], webhook_url=shown, threshold=5)
    assert patched.status_code == 200
    assert AlertRule.objects.get(pk=rule.json()["id"]).webhook_url == "https://bot:s3cret@hooks.example.com/x"
    assert "s3cret" not in str(list(AuditEntry.objects.values_list("params", flat=True)))


def test_patch_validates_the_merged_rule(api, tokens):
    rule = api("post", "alert-rules", tokens["admin"], **RULE).json()
    response = api("patch", f"alert-rules/{rule['id']}", tokens["admin"], metric="trend")
    assert response.status_code == 400 and "trend" in response.json()["detail"]
    ok = api("patch", f"alert-rules/{rule['id']}", tokens["admin"], metric="trend", trend="growing", op="==")
    assert ok.status_code == 200 and ok.json()["condition"] == "trend == growing"


def test_alert_list_filter_and_acknowledge(api, tokens):
    from django.utils import timezone

    rule = AlertRule.objects.create(**RULE)
    alert = Alert.objects.create(
        rule=rule,
        rule_name="Backlog",
        metric="depth",
        severity="warning",
        fingerprint="0123456789abcdef",
        labels={"broker": "main", "queue": "emails"},
        broker="main",
        state="firing",
        value=150,
        threshold=100,
        started_at=timezone.now(),
        fired_at=timezone.now(),
        summary="Backlog: queue emails on main — depth is 150",
    )
    rows = api("get", "alerts?state=firing", tokens["viewer"]).json()
    assert [r["id"] for r in rows] == [alert.pk]
    assert set(rows[0]) >= {
        "id", "rule", "rule_name", "severity", "state", "labels", "value", "threshold",
        "started_at", "fired_at", "resolved_at", "acknowledged_by", "summary",
    }  # fmt: skip
    assert api("get", "alerts?state=resolved", tokens["viewer"]).json() == []
    assert api("get", "alerts?state=bogus", tokens["viewer"]).status_code == 400
    assert api("post", f"alerts/{alert.pk}/acknowledge", tokens["viewer"]).status_code == 403
    acked = api("post", f"alerts/{alert.pk}/acknowledge", tokens["operator"])
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] and acked.json()["state"] == "firing"
    assert api("post", "alerts/999999/acknowledge", tokens["operator"]).status_code == 404
    detail = api("get", f"alerts/{alert.pk}", tokens["viewer"]).json()
    assert detail["deliveries"] == []


def test_deleting_a_rule_keeps_resolved_history(api, tokens):
    from django.utils import timezone

    rule = AlertRule.objects.create(**RULE)
    Alert.objects.create(
        rule=rule, rule_name="Backlog", metric="depth", severity="warning", fingerprint="f" * 16,
        labels={}, state="firing", started_at=timezone.now(), fired_at=timezone.now(),
    )  # fmt: skip
    assert api("delete", f"alert-rules/{rule.pk}", tokens["admin"]).status_code == 204
    alert = Alert.objects.get()
    assert alert.state == "resolved" and alert.rule_id is None and alert.rule_name == "Backlog"


def test_acknowledging_a_resolved_alert_is_a_conflict(api, tokens):
    from django.utils import timezone

    rule = AlertRule.objects.create(**RULE)
    alert = Alert.objects.create(
        rule=rule, rule_name="Backlog", metric="depth", severity="warning", fingerprint="e" * 16,
        labels={}, state="resolved", started_at=timezone.now(), resolved_at=timezone.now(),
    )  # fmt: skip
    response = api("post", f"alerts/{alert.pk}/acknowledge", tokens["operator"])
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "the alert is resolved; there is nothing to acknowledge"}
    assert not AuditEntry.objects.filter(action="alert.acknowledge").exists()

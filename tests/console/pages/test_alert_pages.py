"""Alert pages: everyone reads, operators acknowledge, admins edit rules; the badge counts."""

import pytest
from django.utils import timezone

from messaging.models import Alert, AlertRule, AuditEntry


@pytest.fixture
def as_role(client, make_user):
    def login(role):
        user, _ = make_user(role)
        client.force_login(user)
        return client

    return login


def firing_alert(**fields):
    rule = AlertRule.objects.create(name="Backlog", metric="depth", op=">", threshold=1)
    values = {
        "rule": rule,
        "rule_name": "Backlog <b>x</b>",
        "metric": "depth",
        "severity": "critical",
        "fingerprint": "a" * 16,
        "labels": {"broker": "main", "queue": "<script>alert(1)</script>"},
        "broker": "main",
        "state": "firing",
        "value": 5,
        "threshold": 1,
        "started_at": timezone.now(),
        "fired_at": timezone.now(),
        "summary": "Backlog: depth is 5",
    }
    return Alert.objects.create(**{**values, **fields})


def test_viewer_reads_alerts_with_badge_and_escaped_labels(as_role):
    alert = firing_alert()
    client = as_role("viewer")
    page = client.get("/alerts/").content.decode()
    assert 'id="alerts-badge"' in page and 'data-count="1"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "Acknowledge</button>" not in page
    assert client.post(f"/alerts/{alert.pk}/acknowledge").status_code == 403
    assert client.get(f"/alerts/{alert.pk}/").status_code == 200
    fragment = client.get(
        "/alerts/?state=firing", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-table"
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="alert-table"')
    overview = client.get("/").content.decode()
    assert 'data-count="1"' in overview and "alerts" in overview.split('data-topics="')[1].split('"')[0]


def test_operator_acknowledges_from_the_page(as_role):
    alert = firing_alert()
    client = as_role("operator")
    response = client.post(f"/alerts/{alert.pk}/acknowledge", {"next": "/alerts/?state=open"})
    assert response.status_code == 302 and response["Location"] == "/alerts/?state=open"
    alert.refresh_from_db()
    assert alert.acknowledged_by and alert.state == "firing"
    assert AuditEntry.objects.filter(action="alert.acknowledge").exists()


def test_admin_creates_edits_and_deletes_rules_through_forms(as_role):
    client = as_role("admin")
    AlertRule.objects.all().delete()
    form = {
        "name": "Old head", "metric": "oldest_age_s", "op": ">", "threshold": "300", "for_s": "60",
        "severity": "warning", "broker": "*", "queue": "emails.*", "queue_kind": "any", "enabled": "on",
        "webhook_url": "https://u:hunter2@hooks.example.com/x",
    }  # fmt: skip
    assert client.post("/alerts/rules/", form).status_code == 302
    rule = AlertRule.objects.get()
    assert rule.queue == "emails.*" and rule.enabled and not rule.only_if_backlog
    listing = client.get("/alerts/rules/").content.decode()
    assert "hunter2" not in listing and "Old head" in listing
    edit = client.get(f"/alerts/rules/{rule.pk}/").content.decode()
    assert "hunter2" not in edit
    bad = client.post("/alerts/rules/", {**form, "queue": "emails[", "for_s": "-3"})
    assert bad.status_code == 400 and "unbalanced" in bad.content.decode()
    assert client.post(f"/alerts/rules/{rule.pk}/", {**form, "threshold": "900"}).status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 900
    assert client.post(f"/alerts/rules/{rule.pk}/", {"delete": "yes"}).status_code == 302
    assert not AlertRule.objects.exists()


def test_viewer_cannot_change_rules_from_pages(as_role):
    rule = AlertRule.objects.create(name="R", metric="depth", op=">", threshold=1)
    client = as_role("viewer")
    assert "Only admins change rules" in client.get("/alerts/rules/").content.decode()
    assert client.post("/alerts/rules/", {"name": "x"}).status_code == 403
    assert client.post(f"/alerts/rules/{rule.pk}/", {"delete": "yes"}).status_code == 403
    assert AlertRule.objects.filter(pk=rule.pk).exists()

"""The domain's alert changes: each writes its row and its audit entry in one transaction and
publishes its events only once that transaction commits; refusals change nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.alerts import actions
from messaging.alerts.rules import RULE_FIELDS
from messaging.models import Alert, AlertRule, AuditEntry

RULE = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 100, "for_s": 30, "severity": "warning"}


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, list[dict]]]:
    sent: list[tuple[str, list[dict]]] = []
    monkeypatch.setattr(actions, "publish", lambda topic, events: sent.append((topic, list(events))))
    return sent


@pytest.fixture
def admin(make_user):
    return make_user("admin")[0]


def firing_alert(rule: AlertRule, fingerprint: str = "a" * 16) -> Alert:
    now = timezone.now()
    return Alert.objects.create(
        rule=rule, rule_name=rule.name, metric=rule.metric, severity="warning", fingerprint=fingerprint,
        labels={"broker": "main", "queue": "emails"}, broker="main", state="firing", started_at=now, fired_at=now,
    )  # fmt: skip


def test_new_rule_gets_the_defaults_and_an_audit_entry(admin):
    rule = actions.save_rule(admin, {**RULE, "queue": "emails*"})
    assert (rule.broker, rule.queue, rule.enabled, rule.queue_kind) == ("*", "emails*", True, "any")
    entry = AuditEntry.objects.get(action="alert_rule.create")
    assert entry.username == admin.username and entry.params["id"] == rule.pk


def test_invalid_rule_is_refused_with_field_errors_and_nothing_written(admin):
    rules_before = AlertRule.objects.count()
    with pytest.raises(actions.InvalidRule) as refused:
        actions.save_rule(admin, {**RULE, "metric": "lag", "queue": "emails[", "name": " "})
    assert {"metric", "queue", "name"} <= set(refused.value.errors)
    assert AlertRule.objects.count() == rules_before and not AuditEntry.objects.exists()


def test_a_change_is_validated_merged_with_the_stored_rule(admin):
    rule = actions.save_rule(admin, RULE)
    with pytest.raises(actions.InvalidRule) as refused:
        actions.save_rule(admin, {"metric": "trend"}, rule=rule)
    assert "trend" in refused.value.errors
    assert AlertRule.objects.get(pk=rule.pk).metric == "depth"


def test_redacted_webhook_url_sent_back_keeps_the_stored_one(admin):
    rule = actions.save_rule(admin, {**RULE, "webhook_url": "https://bot:s3cret@hooks.example.com/x"})
    actions.save_rule(admin, {"webhook_url": "https://bot:****@hooks.example.com/x", "threshold": 5}, rule=rule)
    rule.refresh_from_db()
    assert rule.webhook_url == "https://bot:s3cret@hooks.example.com/x" and rule.threshold == 5
    assert "s3cret" not in str(list(AuditEntry.objects.values_list("params", flat=True)))


def test_webhook_aimed_at_the_console_is_refused(admin):
    console = actions.ConsoleAddress("console.example", 8000, None)
    with pytest.raises(actions.InvalidRule) as refused:
        actions.save_rule(admin, {**RULE, "webhook_url": "http://console.example:8000/api/v1/x"}, console=console)
    assert list(refused.value.errors) == ["webhook_url"]


def test_disabling_a_rule_resolves_its_alerts_and_announces_it_after_commit(
    admin, published, django_capture_on_commit_callbacks
):
    rule = actions.save_rule(admin, RULE)
    alert = firing_alert(rule)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.save_rule(admin, {"enabled": False}, rule=rule)
    assert published == []  # nothing announced before the commit
    for callback in callbacks:
        callback()
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.summary.endswith("[rule disabled]")
    [(topic, events)] = [p for p in published if p[0] == "alerts"]
    assert [e["type"] for e in events] == ["alert.resolved"] and events[0]["data"]["firing_count"] == 0
    assert AuditEntry.objects.filter(action="alert_rule.update").count() == 1


def test_deleting_a_rule_keeps_its_alerts_in_the_history(admin, published, django_capture_on_commit_callbacks):
    rule = actions.save_rule(admin, RULE)
    firing_alert(rule)
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_rule(admin, rule)
    alert = Alert.objects.get()
    assert alert.state == "resolved" and alert.rule_id is None and alert.rule_name == "Backlog"
    assert [e["type"] for _topic, events in published for e in events] == ["alert.resolved"]
    assert AuditEntry.objects.get(action="alert_rule.delete").params["name"] == "Backlog"


def test_acknowledge_records_who_audits_and_announces(make_user, published, django_capture_on_commit_callbacks):
    operator = make_user("operator")[0]
    alert = firing_alert(AlertRule.objects.create(**RULE))
    with django_capture_on_commit_callbacks(execute=True):
        actions.acknowledge(operator, alert)
    alert.refresh_from_db()
    assert alert.acknowledged_by == operator.username and alert.state == "firing"
    assert AuditEntry.objects.get(action="alert.acknowledge").params["alert"] == alert.pk
    assert [e["type"] for _topic, events in published for e in events] == ["alert.acknowledged"]


def test_a_resolved_alert_cannot_be_acknowledged(make_user, published):
    alert = firing_alert(AlertRule.objects.create(**RULE))
    Alert.objects.filter(pk=alert.pk).update(state="resolved", resolved_at=timezone.now())
    alert.refresh_from_db()
    with pytest.raises(actions.AlertResolved):
        actions.acknowledge(make_user("operator")[0], alert)
    assert not AuditEntry.objects.exists() and published == []


def test_the_rule_form_and_the_api_serializer_carry_the_same_fields():
    from console.api.alerts import AlertRuleSerializer
    from console.pages.alerts import AlertRuleForm

    writable = {name for name, field in AlertRuleSerializer().fields.items() if not field.read_only}
    assert writable == set(RULE_FIELDS) == set(AlertRuleForm().fields)

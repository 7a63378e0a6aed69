"""The alerts page reads worst first, links queue labels to their queue, and shows figures with
their units (a failure rate is ``10.7 % > 10 %``, not ``0.1 / 0.1``)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.alerts.rules import alert_figure, format_value
from messaging.alerts.series import Series, summary
from messaging.models import Alert, AlertRule, Queue


@pytest.fixture
def viewer(client, make_user):
    user, _ = make_user("viewer")
    client.force_login(user)
    return client


def make_alert(name: str, state: str, severity: str, age_s: int, **fields) -> Alert:
    now = timezone.now()
    values = {
        "rule_name": name,
        "metric": "depth",
        "severity": severity,
        "fingerprint": name[:16].ljust(16, "x"),
        "labels": {"broker": "main", "queue": "emails"},
        "broker": "main",
        "state": state,
        "value": 5,
        "threshold": 1,
        "started_at": now - timedelta(seconds=age_s),
        "fired_at": None if state == "pending" else now - timedelta(seconds=age_s),
        "resolved_at": now if state == "resolved" else None,
    }
    return Alert.objects.create(**{**values, **fields})


def row_names(page: str) -> list[str]:
    return re.findall(r'<a href="/alerts/\d+/">([^<]+)</a>', page)


def test_alert_list_orders_firing_critical_first_then_pending_then_resolved(viewer):
    make_alert("resolved-critical", "resolved", "critical", 1)
    make_alert("pending-critical", "pending", "critical", 2)
    make_alert("firing-warning-new", "firing", "warning", 3)
    make_alert("firing-warning-old", "firing", "warning", 300)
    make_alert("firing-info", "firing", "info", 0)
    make_alert("firing-critical", "firing", "critical", 600)
    page = viewer.get("/alerts/?state=").content.decode()
    assert row_names(page) == [
        "firing-critical",
        "firing-warning-new",
        "firing-warning-old",
        "firing-info",
        "pending-critical",
        "resolved-critical",
    ]


def test_queue_labels_link_to_their_queue_when_it_exists(viewer):
    emails = Queue.objects.create(broker="main", name="emails", present=True)
    make_alert("known", "firing", "warning", 1)
    make_alert("gone", "firing", "warning", 2, labels={"broker": "main", "queue": "vanished"})
    page = viewer.get("/alerts/").content.decode()
    assert f'queue=<strong><a href="/queues/{emails.pk}/">emails</a></strong>' in page
    assert "queue=<strong>vanished</strong>" in page
    detail = viewer.get(f"/alerts/{Alert.objects.get(rule_name='known').pk}/").content.decode()
    assert f'<a href="/queues/{emails.pk}/">emails</a>' in detail


def test_failure_rate_alert_shows_percent_against_threshold(viewer):
    rule = AlertRule.objects.create(name="Failures", metric="task_failure_rate", op=">", threshold=0.1)
    alert = make_alert("Failures", "firing", "warning", 1, rule=rule, metric="task_failure_rate", value=0.107,
                       threshold=0.1, labels={})  # fmt: skip
    page = viewer.get("/alerts/").content.decode()
    assert "10.7 % &gt; 10 %" in page and "0.1 / 0.1" not in page
    assert "10.7 % &gt; 10 %" in viewer.get(f"/alerts/{alert.pk}/").content.decode()


def test_each_metric_keeps_its_unit():
    assert format_value("task_failure_rate", 0.107) == "10.7 %"
    assert format_value("oldest_age_s", 42) == "42 s"
    assert format_value("oldest_age_s", 192) == "3 min 12 s"
    assert format_value("time_to_drain_s", 7500) == "2 h 5 min"
    assert format_value("consume_rate", 1.5) == "1.5 msgs/s"
    assert format_value("depth", 1200) == "1,200 msgs"
    assert alert_figure("oldest_age_s", 720, ">", 600) == "12 min > 10 min"
    assert alert_figure("trend", 40, "==", None) == "40 msgs"


def test_summary_uses_the_same_units_as_the_page():
    rule = AlertRule(name="Failures", metric="task_failure_rate", op=">", threshold=0.1)
    text = summary(rule, Series({}, 0.107, True, ""))
    assert text == "Failures: — task_failure_rate is 10.7 % (task_failure_rate > 10 %)"


def test_only_firing_critical_alerts_are_red(viewer):
    from pathlib import Path

    make_alert("warn", "firing", "warning", 1)
    page = viewer.get("/alerts/").content.decode()
    assert 'class="alert-firing alert-warning"' in page
    css = (Path(__file__).resolve().parents[3] / "static" / "switchyard" / "app.css").read_text()
    amber = next(line for line in css.splitlines() if line.startswith(".alert-warning .state-firing"))
    assert "var(--warn)" in amber
    resolved = next(line for line in css.splitlines() if line.startswith(".state-resolved"))
    assert "var(--good)" not in resolved

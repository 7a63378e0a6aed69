"""Evaluation against the database with a controlled clock (no broker needed)."""

from datetime import UTC, datetime, timedelta

import pytest

from messaging.alerts.defaults import DEFAULT_RULES, install_default_rules
from messaging.alerts.evaluation import evaluate_broker, evaluate_staleness, evaluate_tasks
from messaging.alerts.notify import ZERO_TIME
from messaging.alerts.task_figures import TaskFigures
from messaging.models import Alert, AlertRule, BrokerState, Queue, WebhookDelivery

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def world(db):
    AlertRule.objects.all().delete()
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://x", status="up")
    emails = Queue.objects.create(broker="main", name="emails", depth=5, unacked=0, consumers=0, present=True)
    dlq = Queue.objects.create(broker="main", name="emails.dlq", depth=2, is_dlq=True, present=True)
    emails.dlq = dlq
    emails.save()
    return emails, dlq


def rule(**fields):
    base = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 3, "for_s": 10, "severity": "warning"}
    return AlertRule.objects.create(**{**base, **fields})


def set_depth(queue, depth):
    Queue.objects.filter(pk=queue.pk).update(depth=depth)


def test_backlog_goes_pending_firing_resolved_with_webhooks(world):
    emails, _ = world
    r = rule(queue="emails", webhook_url="http://user:secret@127.0.0.1:9/hook", keep_firing_for_s=0)
    events = evaluate_broker("main", 2.0, now=at(0))
    assert [e["type"] for e in events] == ["alert.pending"]
    alert = Alert.objects.get(rule=r)
    assert alert.state == "pending" and alert.labels == {"broker": "main", "queue": "emails"} and alert.value == 5
    assert evaluate_broker("main", 2.0, now=at(5)) == []
    events = evaluate_broker("main", 2.0, now=at(10))
    assert [e["type"] for e in events] == ["alert.firing"] and events[0]["data"]["firing_count"] == 1
    set_depth(emails, 0)
    events = evaluate_broker("main", 2.0, now=at(12))
    assert [e["type"] for e in events] == ["alert.resolved"]
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_at == at(12) and alert.fired_at == at(10)
    firing, resolved = WebhookDelivery.objects.filter(alert=alert).order_by("id")
    assert firing.event == "firing" and resolved.event == "resolved"
    payload = resolved.payload
    assert payload["version"] == "4" and payload["status"] == "resolved"
    item = payload["alerts"][0]
    assert item["labels"]["alertname"] == "Backlog" and item["labels"]["queue"] == "emails"
    assert item["fingerprint"] == alert.fingerprint and item["endsAt"].startswith("2030-01-01T00:00:12")
    assert firing.payload["alerts"][0]["endsAt"] == ZERO_TIME
    # A new episode of the same series is a new row with the same fingerprint.
    set_depth(emails, 9)
    evaluate_broker("main", 2.0, now=at(20))
    assert Alert.objects.filter(fingerprint=alert.fingerprint).count() == 2


def test_broker_down_holds_alerts_instead_of_resolving(world):
    emails, _ = world
    rule(queue="emails", for_s=0)
    down = rule(name="Broker down", metric="broker_down", op=">=", threshold=1, for_s=0)
    evaluate_broker("main", 2.0, now=at(0))
    Queue.objects.filter(broker="main").update(depth=None, unacked=None, consumers=None)
    BrokerState.objects.filter(name="main").update(status="down")
    events = evaluate_broker("main", 2.0, now=at(60))
    assert [e["type"] for e in events] == ["alert.firing"] and events[0]["data"]["rule"] == down.pk
    backlog = Alert.objects.get(rule__name="Backlog")
    assert backlog.state == "firing" and backlog.held and backlog.value == 5


def test_no_consumers_only_while_messages_wait(world):
    emails, _ = world
    rule(name="No consumers", metric="consumers", op="==", threshold=0, only_if_backlog=True, for_s=0)
    evaluate_broker("main", 2.0, now=at(0))
    assert Alert.objects.get().labels["queue"] == "emails"  # the DLQ has consumers=None: unknown
    set_depth(emails, 0)
    evaluate_broker("main", 2.0, now=at(10))
    assert Alert.objects.get().state == "resolved"


def test_dlq_depth_labels_the_source(world):
    rule(name="DLQ", metric="dlq_depth", op=">", threshold=0, for_s=0, queue="emails")
    evaluate_broker("main", 2.0, now=at(0))
    alert = Alert.objects.get()
    assert alert.labels == {"broker": "main", "queue": "emails.dlq", "source": "emails"}


def test_disabled_rule_resolves_its_alerts(world):
    r = rule(for_s=0)
    evaluate_broker("main", 2.0, now=at(0))
    AlertRule.objects.filter(pk=r.pk).update(enabled=False)
    events = evaluate_broker("main", 2.0, now=at(1))
    assert {e["type"] for e in events} == {"alert.resolved"}
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()


def test_staleness_and_task_figures(world):
    BrokerState.objects.filter(name="main").update(checked_at=at(0))
    rule(name="Stale", metric="monitor_stale", op=">", threshold=10, for_s=0)
    assert evaluate_staleness(["main"], 2.0, now=at(10)) == []
    assert [e["type"] for e in evaluate_staleness(["main"], 2.0, now=at(30))] == ["alert.firing"]
    rule(name="Workers", metric="workers_online", op="<", threshold=1, for_s=0)
    assert evaluate_tasks(TaskFigures(workers_online=None), 2.0, now=at(0), publish_events=False) == []
    events = evaluate_tasks(TaskFigures(workers_online=0), 2.0, now=at(1), publish_events=False)
    assert [e["type"] for e in events] == ["alert.firing"]


def test_default_rules_install_once(db):
    AlertRule.objects.all().delete()
    assert install_default_rules() == len(DEFAULT_RULES)
    assert install_default_rules() == 0
    metrics = set(AlertRule.objects.values_list("metric", flat=True))
    assert {"depth", "trend", "dlq_depth", "broker_down", "monitor_stale", "workers_online"} <= metrics


def test_thousand_queues_twelve_rules_evaluate_fast(db):
    import time

    AlertRule.objects.all().delete()
    install_default_rules()
    BrokerState.objects.create(name="big", transport="redis", redacted_url="redis://x", status="up")
    Queue.objects.bulk_create(
        [Queue(broker="big", name=f"q{i}", depth=i, consumers=1, trend="steady", present=True) for i in range(1000)]
    )
    evaluate_broker("big", 2.0, now=at(0))
    started = time.perf_counter()
    evaluate_broker("big", 2.0, now=at(2))
    assert time.perf_counter() - started < 0.5

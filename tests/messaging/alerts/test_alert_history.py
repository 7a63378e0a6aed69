"""What becomes alert history: only episodes that fired. A pending episode that never fired is
discarded (its row deleted, no webhook), so a flapping trend does not fill ``?state=resolved``."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from messaging import lag
from messaging.alerts.defaults import install_default_rules
from messaging.alerts.evaluation import evaluate_broker
from messaging.alerts.queries import alerts_in
from messaging.alerts.retention import prune_history
from messaging.models import Alert, AlertRule, BrokerState, Queue, WebhookDelivery

T0 = datetime(2030, 1, 1, tzinfo=UTC)
INTERVAL_S = 2.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def emails(db):
    AlertRule.objects.all().delete()
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://x", status="up")
    return Queue.objects.create(broker="main", name="emails", depth=5, unacked=0, consumers=1, present=True)


def test_pending_episode_that_never_fires_leaves_no_row_and_no_webhook(emails):
    AlertRule.objects.create(
        name="Backlog", metric="depth", op=">", threshold=3, for_s=60, severity="warning",
        webhook_url="http://127.0.0.1:9/hook",
    )  # fmt: skip
    assert [e["type"] for e in evaluate_broker("main", INTERVAL_S, now=at(0))] == ["alert.pending"]
    Queue.objects.filter(pk=emails.pk).update(depth=1)
    events = evaluate_broker("main", INTERVAL_S, now=at(4))
    assert [e["type"] for e in events] == ["alert.resolved"]  # live pages drop it
    assert Alert.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_old_never_fired_rows_are_hidden_and_pruned(emails):
    common = {"rule_name": "Backlog growing", "metric": "trend", "severity": "warning", "labels": {}}
    Alert.objects.create(fingerprint="a" * 16, state="resolved", started_at=at(0), resolved_at=at(5), **common)
    fired = Alert.objects.create(
        fingerprint="b" * 16, state="resolved", started_at=at(0), fired_at=at(1), resolved_at=at(5), **common
    )
    assert list(alerts_in("resolved")) == [fired]
    assert prune_history(now=at(10))["never_fired"] == 1
    assert list(Alert.objects.all()) == [fired]


def test_twelve_minutes_of_a_flapping_backlog_leave_no_resolved_history(emails):
    """A demo-like queue: depth wanders around 20 (producer and consumer at the same rate), its
    trend flickers between growing, steady and draining. Before, each flicker of ``growing`` was a
    pending episode that became a resolved row (about 23 per queue in 12 minutes)."""
    install_default_rules()
    history, depth = lag.QueueHistory(), 20
    rng = random.Random(0)
    seen_growing = 0
    for i in range(int(12 * 60 / INTERVAL_S)):
        depth = max(1, depth + rng.choice([-3, -2, -1, 0, 1, 2, 3]))
        figures = lag.observe(
            history, lag.Observation(at=i * INTERVAL_S, depth=depth, unacked=0, broker_consume_rate=1.5)
        )
        seen_growing += figures.trend == lag.GROWING
        Queue.objects.filter(pk=emails.pk).update(depth=depth, trend=figures.trend, consume_rate=1.5, consumers=1)
        evaluate_broker("main", INTERVAL_S, now=at(i * INTERVAL_S))
    assert seen_growing > 20  # the trend did flap
    assert alerts_in("resolved").count() == 0
    assert Alert.objects.filter(state="resolved").count() == 0

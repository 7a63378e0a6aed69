"""Poison messages on real Redis: counted per DLQ (bounded), shown on the queue page, an alert
figure, and left in the DLQ by a requeue of all unless included."""

from __future__ import annotations

import json

from messaging import actions, poison_counts
from messaging.actions.runner import run_action
from messaging.alerts import evaluation
from messaging.models import Action, Alert, AlertRule, JourneyMark
from tests.action_helpers import (
    celery_envelope,
    death_record,
    dlq_setup,  # noqa: F401  (fixture)
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
)


def dead_letters(source: str, count: int, deaths: int) -> list[bytes]:
    return [celery_envelope(source, death={**death_record(source), "count": deaths}) for _ in range(count)]


def test_poison_is_counted_shown_alerted_on_and_left_behind_by_requeue_all(dlq_setup, client, make_user, settings):
    settings.SWITCHYARD_POISON_DEATHS = 3
    redis, prefix, source, dlq, operator = dlq_setup
    poisoned, fresh = dead_letters(source.name, 2, deaths=3), dead_letters(source.name, 3, deaths=1)
    push(redis, prefix + dlq.name, poisoned + fresh)
    poisoned_ids = {json.loads(v)["headers"]["id"] for v in poisoned}

    counted = poison_counts.count(dlq)
    assert (counted.count, counted.scanned, counted.complete) == (2, 5, True)

    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    html = client.get(f"/queues/{dlq.pk}/messages/").content.decode()
    assert 'data-field="poison-count">2<' in html and html.count('data-field="poison"') == 2
    # A free read notes each death record once, and no "browsed" step (it changed nothing).
    client.get(f"/queues/{dlq.pk}/messages/")
    noted = JourneyMark.objects.filter(task_id__in=poisoned_ids)
    assert sorted(noted.values_list("kind", flat=True)) == ["dead_lettered", "dead_lettered"]

    AlertRule.objects.create(name="poison", metric="poison_messages", op=">", threshold=0, queue_kind="dlq")
    assert poison_counts.refresh_for_rules("main") == 1
    evaluation.evaluate_broker("main", 1.0)
    alert = Alert.objects.get(metric="poison_messages", resolved_at__isnull=True)
    assert alert.labels["queue"] == dlq.name and alert.value == 2

    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True).pk)
    assert (action.state, action.done) == (Action.SUCCEEDED, 3)
    assert set(task_ids_in(redis, prefix + dlq.name)) == poisoned_ids
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True, include_poison=True).pk)
    assert (action.state, action.done) == (Action.SUCCEEDED, 2)
    assert redis.llen(prefix + dlq.name) == 0


def test_the_queue_page_asks_before_taking_poison_and_carries_the_choice(dlq_setup):
    from django.test import Client

    _, _, _, dlq, operator = dlq_setup
    page = Client()
    page.force_login(operator)
    html = page.get(f"/queues/{dlq.pk}/").content.decode()
    assert 'id="include-poison"' in html
    plain = page.post(f"/queues/{dlq.pk}/act/", {"kind": "requeue", "selection": "all"}, HTTP_HX_REQUEST="true")
    assert 'id="poison-note"' in plain.content.decode()
    confirm = page.post(
        f"/queues/{dlq.pk}/act/",
        {"kind": "requeue", "selection": "all", "include_poison": "on"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'name="include_poison" value="on"' in confirm and 'id="poison-note"' not in confirm

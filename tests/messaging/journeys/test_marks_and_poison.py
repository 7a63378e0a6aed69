"""What an action notes for journeys, how long it is kept, and how deaths are counted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.brokers.base import RawMessage
from messaging.celery.records import enforce_task_retention
from messaging.journeys import marks
from messaging.models import Action, JourneyMark
from messaging.poison import death_count, excluding_poison, is_poison


def message(headers: dict, properties: dict | None = None) -> RawMessage:
    return RawMessage(
        raw=b"[]", position=0, queue="q", body=b"[]", headers=headers, properties=properties or {},
        content_type="application/json", content_encoding="utf-8",
    )  # fmt: skip


def test_deaths_add_up_over_every_death_record_and_receive_counts():
    deaths = [{"queue": "a", "reason": "rejected", "count": 2}, {"queue": "b", "reason": "expired", "count": 1}]
    assert death_count({"x-death": deaths}) == 3
    assert death_count({}, {"ApproximateReceiveCount": "5"}) == 5
    # SQS counts receives, not deaths: a dead letter was received maxReceiveCount times (SQS adapter).
    assert death_count({"x-sqs-approximate-receive-count": 4}) == 0
    assert death_count({"x-death": [{"count": True}, "junk", {"count": -4}]}) == 0
    assert is_poison(message({"x-death": deaths}), limit=3) and not is_poison(message({"x-death": deaths}), limit=4)
    assert not is_poison(message({"x-death": deaths}), limit=0)
    keep = excluding_poison(lambda m: True, 3)
    assert keep(message({})) and not keep(message({"x-death": deaths}))


@pytest.mark.django_db
def test_an_action_notes_the_death_and_the_requeue_of_each_celery_message(make_user):
    user, _ = make_user("operator")
    action = Action.objects.create(kind="requeue", username=user.username, broker="b", queue_name="orders.dlq")
    note = marks.recorder(action, lambda m: "orders")
    task_id = uuid.uuid4().hex
    death = {"queue": "orders", "reason": "rejected", "count": 1, "time": 1_900_000_000.0, "exception-type": "E"}
    note(message({"task": "shop.charge", "id": task_id, "x-death": [death]}))
    note(message({"no": "task id"}))
    assert JourneyMark.objects.filter(task_id=task_id).count() == 0  # written with the batch
    assert marks.flush(action.pk) == 2
    rows = {m.kind: m for m in JourneyMark.objects.filter(task_id=task_id)}
    assert rows["requeued"].by == user.username and rows["requeued"].detail["to"] == "orders"
    assert rows["dead_lettered"].place == "orders.dlq" and rows["dead_lettered"].detail["deaths"] == 1
    assert rows["dead_lettered"].at.timestamp() == 1_900_000_000.0


@pytest.mark.django_db
def test_marks_go_with_task_records_by_age(settings):
    settings.SWITCHYARD_TASK_RETENTION_HOURS = 1
    old = JourneyMark.objects.create(task_id="t", at=timezone.now() - timedelta(hours=2), kind="requeued")
    new = JourneyMark.objects.create(task_id="t", at=timezone.now(), kind="requeued")
    enforce_task_retention()
    assert list(JourneyMark.objects.filter(pk__in=[old.pk, new.pk]).values_list("pk", flat=True)) == [new.pk]


@pytest.mark.django_db
def test_a_new_run_does_not_write_what_an_earlier_run_of_the_same_id_noted(make_user):
    """Marks wait in memory by action id; a run that died before saving its batch, or an id that a
    rolled-back database hands out again, must not leak its marks into the next run's."""
    user, _ = make_user("operator")
    action = Action.objects.create(kind="requeue", username=user.username, broker="b", queue_name="orders.dlq")
    stale = uuid.uuid4().hex
    marks.recorder(action, None)(message({"task": "shop.charge", "id": stale}))
    fresh = uuid.uuid4().hex
    marks.recorder(action, None)(message({"task": "shop.charge", "id": fresh}))
    assert marks.flush(action.pk) == 1
    assert not JourneyMark.objects.filter(task_id=stale).exists()
    assert JourneyMark.objects.filter(task_id=fresh).count() == 1

"""Requeue, move, delete and purge on real Redis through the action runner: nothing lost, nothing doubled."""

from __future__ import annotations

import json

import pytest

from messaging import actions
from messaging.actions.runner import run_action
from messaging.errors import ActionRefused
from messaging.models import Action, AuditEntry
from tests.action_helpers import (
    celery_envelope,
    death_record,
    dlq_setup,  # noqa: F401  (fixture)
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
)


def fill_dlq(client, prefix, source, count, **kwargs):
    values = [celery_envelope(source.name, death=death_record(source.name), **kwargs) for _ in range(count)]
    push(client, prefix + source.name + ".dlq", values)
    return [json.loads(v)["headers"]["id"] for v in values]


def test_requeue_of_10000_keeps_every_task_id_exactly_once(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    ids = fill_dlq(client, prefix, source, 10_000)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    assert action.budget == 10_000 and action.state == Action.PENDING
    action = run_action(action.pk)
    assert action.state == Action.SUCCEEDED, action.error
    assert (action.done, action.failed) == (10_000, 0)
    assert client.llen(prefix + dlq.name) == 0
    moved = task_ids_in(client, prefix + source.name)
    assert len(moved) == 10_000 and set(moved) == set(ids)
    # Oldest first: the oldest dead letter is consumed first after the requeue too.
    assert moved[-1] == ids[0]
    headers = json.loads(client.lindex(prefix + source.name, 0))["headers"]
    assert headers["x-switchyard-requeued-by"] == operator.username
    assert headers["x-switchyard-requeued-from"] == dlq.name
    outcomes = list(AuditEntry.objects.filter(queue=dlq.name).values_list("action", "outcome"))
    assert ("requeue.finished", "succeeded: 10000 requeued, 0 not taken, 10000 looked at") in outcomes
    assert any(a == "requeue" for a, _ in outcomes)


def test_requeue_of_selected_ids_moves_exactly_those(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    ids = fill_dlq(client, prefix, source, 50)
    chosen = [ids[3], ids[17], ids[49]]
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, ids=chosen).pk)
    assert action.state == Action.SUCCEEDED and action.done == 3
    assert set(task_ids_in(client, prefix + source.name)) == set(chosen)
    assert set(task_ids_in(client, prefix + dlq.name)) == set(ids) - set(chosen)


def test_all_means_the_messages_counted_at_confirmation(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    ids = fill_dlq(client, prefix, source, 100)
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True)
    later = fill_dlq(client, prefix, source, 20)
    action = run_action(action.pk)
    assert action.done == 100
    assert set(task_ids_in(client, prefix + source.name)) == set(ids)
    assert set(task_ids_in(client, prefix + dlq.name)) == set(later)


def test_dry_run_changes_nothing(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    fill_dlq(client, prefix, source, 30)
    before = client.lrange(prefix + dlq.name, 0, -1)
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, all=True, dry_run=True).pk)
    assert action.state == Action.SUCCEEDED and action.done == 30
    assert client.lrange(prefix + dlq.name, 0, -1) == before
    assert client.llen(prefix + source.name) == 0


def test_filter_by_exception_takes_only_matching(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    key = prefix + dlq.name
    bad = [celery_envelope(source.name, death=death_record(source.name, "KeyError")) for _ in range(5)]
    good = [celery_envelope(source.name, death=death_record(source.name, "ValueError")) for _ in range(7)]
    push(client, key, [v for pair in zip(bad, good) for v in pair] + good[5:])
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, filter={"exception": "KeyError"}).pk)
    assert action.done == 5
    assert set(task_ids_in(client, prefix + source.name)) == {json.loads(v)["headers"]["id"] for v in bad}
    assert client.llen(key) == 7


def test_move_to_missing_target_is_refused_unless_created(dlq_setup):
    client, prefix, source, dlq, operator = dlq_setup
    fill_dlq(client, prefix, source, 3)
    with pytest.raises(ActionRefused, match="does not exist"):
        actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target="nowhere")
    action = run_action(
        actions.request_move(operator, dlq, kind=Action.MOVE, all=True, target="nowhere", create_target=True).pk
    )
    assert action.done == 3 and client.llen(prefix + "nowhere") == 3


def test_purge_needs_the_exact_name_and_spares_later_arrivals(dlq_setup, make_user):
    client, prefix, source, dlq, _ = dlq_setup
    admin, _ = make_user("admin")
    fill_dlq(client, prefix, source, 40)
    with pytest.raises(ActionRefused):
        actions.request_purge(admin, dlq, confirm=dlq.name.upper())
    assert client.llen(prefix + dlq.name) == 40
    action = actions.request_purge(admin, dlq, confirm=dlq.name)
    later = fill_dlq(client, prefix, source, 2)
    action = run_action(action.pk)
    assert action.state == Action.SUCCEEDED and action.done == 40
    assert task_ids_in(client, prefix + dlq.name) == later[::-1]


def test_messages_consumed_meanwhile_are_skipped_not_duplicated(dlq_setup):
    from messaging.process_config import open_broker

    client, prefix, source, dlq, operator = dlq_setup
    ids = fill_dlq(client, prefix, source, 10)
    # A filter (matching every message) keeps this on the per-message path, the one that peeks
    # before it moves; a bulk move reads and moves in one script, leaving no such window.
    action = actions.request_move(operator, dlq, kind=Action.REQUEUE, filter={"task": "app.tasks.work"})
    # Simulate a consumer taking a message between the runner's peek and its move.
    from messaging.actions.plan import build_plan
    from messaging.actions.runner import claim

    token = claim(action.pk)
    with open_broker("main") as broker:
        session = broker.open_move(build_plan(Action.objects.get(pk=action.pk), token, broker.capabilities))
        original_peek = broker.peek

        def peek_then_consume(queue, offset=0, limit=50):
            result = original_peek(queue, offset, limit)
            client.rpop(prefix + dlq.name)  # the oldest message is consumed by someone else
            return result

        broker.peek = peek_then_consume
        progress = session.step(100)
    assert (progress.moved, progress.missing) == (9, 1)
    moved = task_ids_in(client, prefix + source.name)
    assert len(moved) == 9 and len(set(moved)) == 9 and ids[0] not in moved


def test_requeue_by_ids_files_each_dead_letter_under_its_priority_step(dlq_setup):
    """The DLQ integration writes dead letters of every priority to the bare list; the
    per-message path (ids) puts each back where Kombu would publish it, in DLQ order."""
    client, prefix, source, dlq, operator = dlq_setup
    values = [celery_envelope(source.name, death=death_record(source.name), priority=p) for p in (9, 0, 4, 7, 3, 9)]
    push(client, prefix + dlq.name, values)
    ids = [json.loads(v)["headers"]["id"] for v in values]
    action = run_action(actions.request_move(operator, dlq, kind=Action.REQUEUE, ids=ids[:5]).pk)
    assert action.state == Action.SUCCEEDED and action.done == 5
    sep = "\x06\x16"
    assert task_ids_in(client, prefix + source.name) == [ids[1]]
    assert task_ids_in(client, prefix + source.name + sep + "3") == [ids[4], ids[2]]
    assert task_ids_in(client, prefix + source.name + sep + "6") == [ids[3]]
    assert task_ids_in(client, prefix + source.name + sep + "9") == [ids[0]]
    assert task_ids_in(client, prefix + dlq.name) == [ids[5]]

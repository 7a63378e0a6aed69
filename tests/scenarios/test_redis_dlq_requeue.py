"""Scenario: a team's Celery on Redis with a key prefix, ``sep = ":"`` and ten priority steps (as
Celery's documentation suggests), tasks sent with priorities, the opt-in DLQ integration, and
Switchyard configured from a TOML file with the same transport options. Tasks fail on their first
delivery; an operator requeues the dead letters through the REST API; a worker processes them."""

from __future__ import annotations

import json

import pytest

from tests.scenarios.redis_team import BROKER_NAME, RedisTeam
from tests.waiting import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.scenarios]

# What Celery's "Redis Message Priorities" section tells teams to set, plus their own key prefix.
TEAM_OPTIONS = {"sep": ":", "priority_steps": list(range(10)), "queue_order_strategy": "priority"}


@pytest.fixture
def team():
    world = RedisTeam(dict(TEAM_OPTIONS))
    yield world
    world.close()


def queue_row(console, token: str, name: str) -> dict | None:
    rows = console.api(f"/api/v1/queues?broker={BROKER_NAME}&name={name}", token).json()
    return next((row for row in rows if row["name"] == name), None)


def ids_in(team: RedisTeam, key: str) -> list[str]:
    return [json.loads(value)["headers"]["id"] for value in team.client.lrange(key, 0, -1)]


def finished_action(console, token: str, action_id) -> dict:
    def finished():
        action = console.api(f"/api/v1/actions/{action_id}", token).json()
        return action if action["state"] not in ("pending", "running") else None

    return wait_for(finished, timeout=30, message=f"action {action_id} to finish")


def test_requeued_dead_letters_keep_their_priority_and_a_worker_processes_them(team, live_console, tokens, tmp_path):
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    priorities = {0: 0, 1: 2, 2: 5, 3: 7, 4: 9}
    sent = {team.send(order, plan=["fail"], priority=priority).id: priority for order, priority in priorities.items()}
    # Kombu filed each message under its own priority step: the sub-lists exist, ``:``-separated.
    for task_id, priority in sent.items():
        assert ids_in(team, team.key(team.queue, team.step_of(priority))) == [task_id]

    source = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], team.queue)) and row["depth"] == 5 and row,
        timeout=30,
        message="Switchyard to discover the queue and count every priority sub-queue",
    )
    assert source["is_dlq"] is False

    worker = team.start_worker("first")
    dlq_name = team.queue + ".dlq"
    dlq = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], dlq_name)) and row["depth"] == 5 and row,
        timeout=60,
        message="every task to fail once and be dead-lettered",
    )
    assert dlq["is_dlq"] is True and dlq["dead_letter_source"] == team.queue
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the failures to be acknowledged"
    )
    assert team.memory.done() == []
    # The operator sees each dead letter with its death record and priority before requeueing.
    listed = console.api(f"/api/v1/queues/{dlq['id']}/messages", tokens["operator"]).json()
    assert listed["count"] == 5 and {m["task_id"] for m in listed["results"]} == set(sent)
    for message in listed["results"]:
        assert (message["task"], message["death"]["queue"]) == ("scenario.scripted", team.queue)
        assert message["death"]["exception_type"] == "ValueError" and message["args"] is not None
    # No worker while the requeue runs: the test can then see where each message was put.
    team.kill(worker)

    response = console.api(f"/api/v1/queues/{dlq['id']}/requeue", tokens["operator"], method="POST", json={"all": True})
    assert response.status_code == 202, response.text
    action = finished_action(console, tokens["operator"], response.json()["id"])
    assert (action["state"], action["done"], action["failed"]) == ("succeeded", 5, 0), action
    assert team.client.llen(team.key(dlq_name)) == 0

    # Back in the queue they died in, each under its own priority step, as a Celery publish (or
    # Kombu's restore) would file it: a requeue must not promote a priority-9 task to step 0.
    for task_id, priority in sent.items():
        assert task_id in ids_in(team, team.key(team.queue, team.step_of(priority))), (task_id, priority)
    # A task sent now with priority 1 must not wait behind the requeued priority 5, 7 and 9 tasks.
    fresh = team.send(5, priority=1).id
    wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], team.queue)) and row["depth"] == 6,
        timeout=30,
        message="Switchyard to count the requeued messages",
    )

    team.start_worker("second")
    done = wait_for(lambda: len(team.memory.done()) == 6 and team.memory.done(), timeout=60, message="the tasks to run")
    assert {d["id"] for d in done} == {*sent, fresh}
    assert all(d["delivery"] == 2 for d in done if d["id"] != fresh)
    # Consumed in priority order (lowest step first on Redis), the fresh task in its place.
    by_id = {**sent, fresh: 1}
    assert [by_id[d["id"]] for d in done] == [0, 1, 2, 5, 7, 9]
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the successes to be acknowledged"
    )
    assert team.client.llen(team.key(dlq_name)) == 0
    # Switchyard's task view follows the same tasks through the workers' events: failed, then
    # succeeded after the requeue.
    for task_id in sent:
        wait_for(
            lambda task_id=task_id: (
                console.api(f"/api/v1/tasks/{task_id}", tokens["viewer"]).json().get("state") == "SUCCESS"
            ),
            timeout=30,
            message=f"task {task_id} to show as succeeded",
        )

    # The priority sub-lists are parts of one queue, not queues of their own.
    rows = console.api(f"/api/v1/queues?broker={BROKER_NAME}", tokens["viewer"]).json()
    assert sorted(row["name"] for row in rows) == sorted([team.queue, dlq_name])

    from messaging.models import AuditEntry

    assert AuditEntry.objects.filter(action__startswith="requeue", queue=dlq_name).exists()


def test_a_task_that_dies_again_after_a_requeue_is_requeued_again_and_then_succeeds(
    team, live_console, tokens, tmp_path
):
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    task_id = team.send(1, plan=["fail", "fail"], priority=4).id
    team.start_worker("worker")
    dlq_name = team.queue + ".dlq"
    requeues = []
    for death in (1, 2):
        # Read from Redis, not from a sample: the row may still show the previous death.
        dead = wait_for(
            lambda death=death: (
                (value := team.client.lindex(team.key(dlq_name), 0))
                and json.loads(value)["headers"]["x-death"][0]["count"] == death
                and json.loads(value)
            ),
            timeout=60,
            message=f"death {death}",
        )
        # RabbitMQ's bookkeeping: one x-death entry for (queue, reason), its count bumped.
        assert [(d["queue"], d["count"]) for d in dead["headers"]["x-death"]] == [(team.queue, death)]
        dlq = wait_for(lambda: queue_row(console, tokens["viewer"], dlq_name), timeout=30, message="the DLQ's row")
        if death == 2:
            assert dead["headers"]["x-switchyard-action"] == requeues[0]
        response = console.api(
            f"/api/v1/queues/{dlq['id']}/requeue", tokens["operator"], method="POST", json={"all": True}
        )
        assert response.status_code == 202, response.text
        requeues.append(response.json()["id"])
        action = finished_action(console, tokens["operator"], requeues[-1])
        assert (action["state"], action["done"]) == ("succeeded", 1), action

    done = wait_for(team.memory.done, timeout=60, message="the third delivery to succeed")
    assert [(d["id"], d["delivery"]) for d in done] == [(task_id, 3)]
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the success to be acknowledged"
    )
    assert team.client.llen(team.key(dlq_name)) == 0

"""Scenario: a team's Celery on Redis with ``task_acks_late``, a short ``visibility_timeout`` (and
the restore sweep tuned to match, as Kombu's documentation says), a key prefix, ``sep = "|"`` and
priority steps ``[0, 4, 8]``. A worker is SIGKILLed mid-task; Switchyard shows the message in
flight; another worker restores it after the visibility timeout and runs it again; that delivery
fails and is dead-lettered; the operator requeues it; the worker then succeeds."""

from __future__ import annotations

import json

import pytest

from tests.scenarios.redis_team import BROKER_NAME, RedisTeam
from tests.waiting import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.scenarios]

VISIBILITY_TIMEOUT_S = 8
TEAM_OPTIONS = {
    "sep": "|",
    "priority_steps": [0, 4, 8],
    "visibility_timeout": VISIBILITY_TIMEOUT_S,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


@pytest.fixture
def team():
    world = RedisTeam(dict(TEAM_OPTIONS))
    yield world
    world.close()


def queue_row(console, token: str, name: str) -> dict | None:
    rows = console.api(f"/api/v1/queues?broker={BROKER_NAME}&name={name}", token).json()
    return next((row for row in rows if row["name"] == name), None)


def test_killed_workers_task_is_shown_in_flight_restored_dead_lettered_and_requeued(
    team, live_console, tokens, tmp_path, make_user
):
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    doomed = team.start_worker("doomed", pool="prefork")
    task_id = team.send(1, plan=["hang", "fail"], priority=6).id
    wait_for(lambda: team.memory.started() == [task_id], timeout=60, message="the first delivery to start")

    # Switchyard sees the delivery in flight, attributed to its queue.
    wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], team.queue)) and row["unacked"] == 1,
        timeout=30,
        message="the queue to show one unacked message",
    )
    held = wait_for(
        lambda: console.api(f"/api/v1/brokers/{BROKER_NAME}/in-flight?older_than_s=0.5", tokens["viewer"]).json(),
        timeout=30,
        message="the delivery to be listed as held",
    )
    assert [(h["queue"], h["task_id"], h["task"]) for h in held] == [(team.queue, task_id, "scenario.scripted")]

    team.kill(doomed)
    # Nobody acknowledged it: it is still in flight (or, on a machine slow enough for the visibility
    # timeout to pass already, restored to its priority's sub-queue by a Kombu client's sweep).
    in_flight, waiting = team.client.hlen(team.prefix + "unacked"), team.client.llen(team.key(team.queue, 4))
    assert (in_flight, waiting) in ((1, 0), (0, 1))

    # Another worker's Kombu restores it once the visibility timeout has passed, into the
    # sub-queue for its priority, and runs it: the second delivery fails and is dead-lettered.
    survivor = team.start_worker("survivor")
    dlq_name = team.queue + ".dlq"
    dlq = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], dlq_name)) and row["depth"] == 1 and row,
        timeout=60,
        message="the restored delivery to fail into the DLQ",
    )
    assert team.client.get(team.memory.deliveries_key(task_id)) == b"2"
    assert dlq["dead_letter_source"] == team.queue
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the failure to be acknowledged"
    )
    dead = json.loads(team.client.lindex(team.key(dlq_name), 0))
    assert dead["headers"]["id"] == task_id and dead["headers"]["redelivered"] is True
    assert dead["headers"]["x-death"][0]["exception-type"] == "ValueError"
    team.kill(survivor)

    # The operator requeues it through the domain function the API calls; the monitor's action
    # runner carries it out.
    from messaging.actions import request_move
    from messaging.models import Action, Queue

    operator, _ = make_user("operator")
    action = request_move(operator, Queue.objects.get(broker=BROKER_NAME, name=dlq_name), kind=Action.REQUEUE, all=True)

    def finished():
        action.refresh_from_db()
        return action.state not in (Action.PENDING, Action.RUNNING)

    wait_for(finished, timeout=30, message="the requeue to finish")
    assert (action.state, action.done, action.failed) == (Action.SUCCEEDED, 1, 0)
    assert [json.loads(v)["headers"]["id"] for v in team.client.lrange(team.key(team.queue, 4), 0, -1)] == [task_id]

    team.start_worker("after-requeue")
    done = wait_for(team.memory.done, timeout=60, message="the requeued task to run")
    assert [(d["id"], d["delivery"]) for d in done] == [(task_id, 3)]
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the success to be acknowledged"
    )
    assert team.client.llen(team.key(dlq_name)) == 0

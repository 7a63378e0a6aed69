"""Scenario: a team's Celery on Redis with a key prefix, a two-character ``sep = "::"`` and
priority steps ``[0, 2, 7]``. A worker dies holding a task; instead of waiting out the hour-long
visibility timeout the operator restores it from Switchyard's in-flight list; then the operator
moves the waiting work (some picked by id, then the rest) to a queue a healthy worker consumes,
and that worker runs everything, in priority order."""

from __future__ import annotations

import json

import pytest

from tests.conftest import unique
from tests.scenarios.redis_team import BROKER_NAME, RedisTeam
from tests.waiting import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.scenarios]

TEAM_OPTIONS = {"sep": "::", "priority_steps": [0, 2, 7], "visibility_timeout": 3600}


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


def run_action(console, token: str, path: str, body: dict) -> dict:
    response = console.api(path, token, method="POST", json=body)
    assert response.status_code == 202, response.text

    def finished():
        action = console.api(f"/api/v1/actions/{response.json()['id']}", token).json()
        return action if action["state"] not in ("pending", "running") else None

    return wait_for(finished, timeout=30, message=f"the action of {path}")


def test_operator_restores_a_dead_workers_task_then_moves_the_backlog_to_a_healthy_worker(
    team, live_console, tokens, tmp_path
):
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    doomed = team.start_worker("doomed")
    stuck_id = team.send(0, plan=["hang"], priority=3).id
    wait_for(lambda: team.memory.started() == [stuck_id], timeout=60, message="the task to start")
    team.kill(doomed)

    held = wait_for(
        lambda: console.api(f"/api/v1/brokers/{BROKER_NAME}/in-flight?older_than_s=0.5", tokens["viewer"]).json(),
        timeout=30,
        message="the dead worker's delivery to be listed",
    )
    assert [(h["queue"], h["task_id"]) for h in held] == [(team.queue, stuck_id)]
    restored = console.api(
        f"/api/v1/brokers/{BROKER_NAME}/in-flight/restore",
        tokens["operator"],
        method="POST",
        json={"tags": [held[0]["tag"]]},
    ).json()
    assert restored == {"restored": {held[0]["tag"]: team.queue}, "gone": [], "errors": {}}
    # Where Kombu's own restore would put it: the sub-queue of its priority (3 -> step 2).
    assert ids_in(team, team.key(team.queue, 2)) == [stuck_id]
    assert team.client.hlen(team.prefix + "unacked") == 0

    backlog = {team.send(order, priority=priority).id: priority for order, priority in enumerate([9, 0, 5, 1, 7], 1)}
    source = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], team.queue)) and row["depth"] == 6 and row,
        timeout=30,
        message="Switchyard to count the backlog over every sub-queue",
    )

    healthy = unique("healthy")
    picked = [stuck_id, *[task_id for task_id, priority in backlog.items() if priority in (9, 1)]]
    by_id = run_action(
        console,
        tokens["operator"],
        f"/api/v1/queues/{source['id']}/move",
        {"ids": picked, "target": healthy, "create_target": True},
    )
    assert (by_id["state"], by_id["done"]) == ("succeeded", 3), by_id
    rest = run_action(
        console, tokens["operator"], f"/api/v1/queues/{source['id']}/move", {"all": True, "target": healthy}
    )
    assert (rest["state"], rest["done"]) == ("succeeded", 3), rest
    for step in team.steps:
        assert team.client.llen(team.key(team.queue, step)) == 0
    priorities = {stuck_id: 3, **backlog}
    for task_id, priority in priorities.items():
        assert task_id in ids_in(team, team.key(healthy, team.step_of(priority))), (task_id, priority)

    team.start_worker("healthy", queues=[healthy])
    done = wait_for(lambda: len(team.memory.done()) == 6 and team.memory.done(), timeout=60, message="the work to run")
    assert {d["id"]: d["delivery"] for d in done} == {stuck_id: 2, **{task_id: 1 for task_id in backlog}}
    # Lowest step first; within a step, the order the messages had.
    assert [team.step_of(priorities[d["id"]]) for d in done] == sorted(team.step_of(p) for p in priorities.values())
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="every task to be acknowledged"
    )

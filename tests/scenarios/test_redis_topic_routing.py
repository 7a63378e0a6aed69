"""Scenario: a team routes as Celery's routing guide shows: the queue is bound to a topic exchange
with ``orders.#`` and tasks are sent with the routing key ``orders.created``, so the routing key is
not the queue's name. Key prefix, ``sep = ":"``, priority steps ``[0, 5]``, the DLQ integration.
Failed tasks must be dead-lettered beside the queue they were consumed from, Switchyard must pair
that DLQ with the queue, and a requeue through the API must bring them back where a worker runs
them."""

from __future__ import annotations

import json

import pytest

from tests.scenarios.redis_team import BROKER_NAME, RedisTeam
from tests.waiting import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.scenarios]

TEAM_OPTIONS = {"sep": ":", "priority_steps": [0, 5]}
ROUTING = {"exchange": "tasks", "type": "topic", "binding": "orders.#", "routing_key": "orders.created"}


@pytest.fixture
def team():
    world = RedisTeam(dict(TEAM_OPTIONS), routing=dict(ROUTING))
    yield world
    world.close()


def queue_row(console, token: str, name: str) -> dict | None:
    rows = console.api(f"/api/v1/queues?broker={BROKER_NAME}&name={name}", token).json()
    return next((row for row in rows if row["name"] == name), None)


def test_dead_letters_of_a_topic_routed_queue_are_requeued_to_that_queue(team, live_console, tokens, tmp_path):
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    team.declare_queues()
    sent = {team.send(order, plan=["fail"], priority=priority).id: priority for order, priority in enumerate([7, 1, 5])}
    assert team.client.llen(team.key(team.queue)) == 1 and team.client.llen(team.key(team.queue, 5)) == 2
    worker = team.start_worker("first")

    dlq_name = team.queue + ".dlq"
    dlq = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], dlq_name)) and row["depth"] == 3 and row,
        timeout=60,
        message=f"the failures to reach {dlq_name}",
    )
    assert dlq["is_dlq"] is True and dlq["dead_letter_source"] == team.queue
    dead = [json.loads(v) for v in team.client.lrange(team.key(dlq_name), 0, -1)]
    assert {d["headers"]["x-death"][0]["queue"] for d in dead} == {team.queue}
    # Nothing was written under the routing key's name.
    assert not list(team.client.scan_iter(match=f"{team.prefix}orders.created*"))
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the failures to be acknowledged"
    )
    team.kill(worker)

    response = console.api(f"/api/v1/queues/{dlq['id']}/requeue", tokens["operator"], method="POST", json={"all": True})
    assert response.status_code == 202, response.text

    def finished():
        action = console.api(f"/api/v1/actions/{response.json()['id']}", tokens["operator"]).json()
        return action if action["state"] not in ("pending", "running") else None

    action = wait_for(finished, timeout=30, message="the requeue to finish")
    assert (action["state"], action["done"], action["target"] or team.queue) == ("succeeded", 3, team.queue), action
    for task_id, priority in sent.items():
        key = team.key(team.queue, 5 if priority >= 5 else 0)
        assert task_id in [json.loads(v)["headers"]["id"] for v in team.client.lrange(key, 0, -1)]

    team.start_worker("second")
    done = wait_for(lambda: len(team.memory.done()) == 3 and team.memory.done(), timeout=60, message="the tasks to run")
    assert {d["id"]: d["delivery"] for d in done} == {task_id: 2 for task_id in sent}
    wait_for(
        lambda: team.client.hlen(team.prefix + "unacked") == 0, timeout=30, message="the successes to be acknowledged"
    )
    assert team.client.llen(team.key(dlq_name)) == 0

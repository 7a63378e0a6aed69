"""Scenario: a team on Celery's defaults for acknowledgement (early acks: the message may be gone
from Redis before the task runs), on a Redis database of its own (``/3``) with a key prefix and
Kombu's default ``sep`` spelled out in the TOML file (``"\\u0006\\u0016"``) with the default priority
steps. The DLQ integration rebuilds failed messages from the task request (or copies them from
Kombu's ``unacked`` while still there); the operator requeues them through the API and a worker
runs them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REDIS_URL
from tests.scenarios.redis_team import BROKER_NAME, RedisTeam
from tests.waiting import wait_for

pytestmark = [pytest.mark.celery, pytest.mark.scenarios]

TEAM_OPTIONS = {"sep": "\x06\x16", "priority_steps": [0, 3, 6, 9]}
OWN_DATABASE = REDIS_URL.rsplit("/", 1)[0] + "/3"


@pytest.fixture
def team():
    world = RedisTeam(dict(TEAM_OPTIONS), url=OWN_DATABASE, acks_late=False)
    yield world
    world.close()


def queue_row(console, token: str, name: str) -> dict | None:
    rows = console.api(f"/api/v1/queues?broker={BROKER_NAME}&name={name}", token).json()
    return next((row for row in rows if row["name"] == name), None)


def test_rebuilt_dead_letters_of_early_acked_tasks_are_requeued_and_run(team, live_console, tokens, tmp_path):
    assert '"\\u0006\\u0016"' in team.switchyard_toml(tmp_path).read_text()
    console = live_console(config=team.switchyard_config(tmp_path), interval=0.5)
    sent = {team.send(order, plan=["fail"], priority=priority).id: priority for order, priority in enumerate([8, 0])}
    team.start_worker("worker", pool="prefork")
    dlq_name = team.queue + ".dlq"
    dlq = wait_for(
        lambda: (row := queue_row(console, tokens["viewer"], dlq_name)) and row["depth"] == 2 and row,
        timeout=60,
        message="the failures to be dead-lettered",
    )
    assert dlq["dead_letter_source"] == team.queue
    dead = [json.loads(v) for v in team.client.lrange(team.key(dlq_name), 0, -1)]
    # Exact when Kombu still held it when the task failed, else rebuilt from the request: the
    # same task and priority either way.
    assert {d["headers"]["id"]: d["properties"]["priority"] for d in dead} == sent

    response = console.api(f"/api/v1/queues/{dlq['id']}/requeue", tokens["operator"], method="POST", json={"all": True})
    assert response.status_code == 202, response.text

    def finished():
        action = console.api(f"/api/v1/actions/{response.json()['id']}", tokens["operator"]).json()
        return action if action["state"] not in ("pending", "running") else None

    action = wait_for(finished, timeout=30, message="the requeue to finish")
    assert (action["state"], action["done"]) == ("succeeded", 2), action
    done = wait_for(lambda: len(team.memory.done()) == 2 and team.memory.done(), timeout=60, message="the reruns")
    assert {d["id"]: d["delivery"] for d in done} == {task_id: 2 for task_id in sent}
    assert team.client.llen(team.key(dlq_name)) == 0
    assert all(team.client.llen(team.key(team.queue, step)) == 0 for step in team.steps)

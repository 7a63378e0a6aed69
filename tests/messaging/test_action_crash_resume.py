"""SIGKILL the process running an action halfway, resume it: nothing lost (Redis: nothing doubled)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.action_helpers import (
    celery_envelope,
    death_record,
    push,
    redis_broker,  # noqa: F401  (fixture)
    requeue_setup_script,
    task_ids_in,
)

ROOT = Path(__file__).resolve().parents[2]
# A requeue of 50,000 dead letters, killed at 30%.
COUNT = 50_000

SETUP = requeue_setup_script(
    "default",
    'sys.argv[1] + ".dlq"',
    """
# A third argument, a task name, selects by filter (every message matches): the per-message path.
selection = {"filter": {"task": sys.argv[3]}} if len(sys.argv) > 3 else {"all": True}
action = actions.request_move(user, dlq, kind=Action.REQUEUE, rate=float(sys.argv[2]), **selection)
print(action.pk)""",
)


def manage(env, *args, **kwargs):
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)


@pytest.fixture
def subprocess_env(redis_broker, tmp_path):
    config, client, prefix = redis_broker
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'actions.sqlite3'}",
        "SWITCHYARD_BROKER_URL": config.url,
        # Only the runner under test runs the action (the setup script must not start one).
        "SWITCHYARD_ACTION_RUNNER": "false",
    }
    env.pop("SWITCHYARD_CONFIG", None)
    done = manage(env, "migrate", "--noinput", timeout=120)
    assert done.returncode == 0, done.stderr
    return env, client, prefix


@pytest.mark.parametrize("selection", [[], ["app.tasks.work"]], ids=["bulk", "per-message"])
def test_sigkill_halfway_then_resume_loses_and_doubles_nothing_on_redis(subprocess_env, selection):
    env, client, prefix = subprocess_env
    name = "orders"
    values = [celery_envelope(name, death=death_record(name)) for _ in range(COUNT)]
    ids = [json.loads(v)["headers"]["id"] for v in values]
    push(client, prefix + name + ".dlq", values)
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, name, "20000", *selection],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stderr
    action_id = int(setup.stdout.strip().splitlines()[-1])
    progress_key = f"{prefix}switchyard.action.{action_id}.progress"

    runner = subprocess.Popen([sys.executable, "manage.py", "runaction", str(action_id)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while int(client.hget(progress_key, "moved") or 0) < COUNT * 3 // 10:
            assert runner.poll() is None, "the runner ended before it could be killed"
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.02)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    moved_at_kill = int(client.hget(progress_key, "moved"))
    assert COUNT * 3 // 10 <= moved_at_kill < COUNT
    # Exactly the moved ones left the DLQ at the moment of the kill: batches are atomic.
    assert client.llen(prefix + name) + client.llen(prefix + name + ".dlq") == COUNT

    resumed = manage(env, "runaction", str(action_id), "--resume", "--stale-after", "0", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert final["state"] == "succeeded" and final["done"] == COUNT and final["failed"] == 0
    assert final["duplicated"] == 0
    moved = task_ids_in(client, prefix + name)
    assert len(moved) == COUNT and set(moved) == set(ids)
    assert client.llen(prefix + name + ".dlq") == 0

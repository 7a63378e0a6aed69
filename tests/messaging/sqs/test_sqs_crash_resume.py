"""SIGKILL the process redriving 1,000 SQS messages halfway, resume it: none lost, and no more
duplicated than the adapter's stated bound (one batch of ten), which the action counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from messaging.brokers.sqs.messages import raw_message
from tests.action_helpers import requeue_setup_script
from tests.messaging.sqs.conftest import AWS_ENV, REGION, SQS_ENDPOINT
from tests.messaging.sqs.test_sqs_actions import kombu_body
from tests.waiting import wait_for

# moto's ReceiveMessage costs time proportional to the queue's length (docs/brokers.md): minutes
# on a loaded machine, so this long fault injection is not rerun in the PostgreSQL pass.
pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[3]
COUNT = 1_000
# Short, so that the batch the killed run held comes back within seconds.
VISIBILITY_S = 3

SETUP = requeue_setup_script(
    "aws",
    "sys.argv[2]",
    "print(actions.request_move(user, dlq, kind=Action.REQUEUE, all=True, rate=float(sys.argv[3])).pk)",
)


def manage(env, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, **kwargs
    )


@pytest.fixture
def subprocess_env(sqs_space, tmp_path):
    config = tmp_path / "switchyard.toml"
    config.write_text(
        f'[brokers.aws]\nurl = "sqs://"\nregion = "{REGION}"\nendpoint_url = "{SQS_ENDPOINT}"\n'
        f'queue_name_prefix = "{sqs_space.prefix}"\n'
        f"[brokers.aws.transport_options]\nmove_visibility_timeout_s = {VISIBILITY_S}\n"
    )
    env = {
        **os.environ,
        **AWS_ENV,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'actions.sqlite3'}",
        "SWITCHYARD_CONFIG": str(config),
        "SWITCHYARD_ACTION_RUNNER": "false",
    }
    done = manage(env, "migrate", "--noinput", timeout=120)
    assert done.returncode == 0, done.stderr
    return env


class Consumer(threading.Thread):
    """Takes every message the redrive delivers to ``queue`` as it arrives, keeping their task
    ids: a queue moto holds short stays fast to receive from (its cost grows with the length)."""

    def __init__(self, space, queue: str) -> None:
        super().__init__(daemon=True)
        self.space, self.queue = space, queue
        self.ids: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            taken = self.space.drain(self.queue)
            self.ids += [raw_message(m, self.queue, 0).headers["id"] for m in taken]
            if not taken:
                self.stopping.wait(0.2)

    def finish(self) -> list[str]:
        self.stopping.set()
        self.join(60)
        self.ids += [raw_message(m, self.queue, 0).headers["id"] for m in self.space.drain(self.queue)]
        return self.ids


@pytest.mark.timeout(900)
def test_sigkill_halfway_then_resume_loses_nothing_and_doubles_at_most_one_batch(sqs_space, subprocess_env):
    source, dlq = sqs_space.name("orders"), sqs_space.name("orders-dlq")
    sqs_space.create("orders-dlq")
    sqs_space.create("orders", dlq_of=dlq, max_receive_count=5)
    ids = [f"task-{i:04d}" for i in range(COUNT)]
    sqs_space.send(dlq, [kombu_body(i, source) for i in ids])
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, source, dlq, "500"],
        cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    action_id = int(setup.stdout.strip().splitlines()[-1])

    def left_in_dlq() -> int:
        found = sqs_space.attributes(dlq)
        return int(found["ApproximateNumberOfMessages"]) + int(found["ApproximateNumberOfMessagesNotVisible"])

    consumer = Consumer(sqs_space, source)
    consumer.start()
    runner = subprocess.Popen([sys.executable, "manage.py", "runaction", str(action_id)], cwd=ROOT, env=subprocess_env)
    try:
        deadline = time.monotonic() + 400
        while left_in_dlq() > COUNT // 2:
            assert runner.poll() is None, "the runner ended before it could be killed"
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    # moto counts visible and in-flight messages in two passes: a receive the killed run sent
    # just before it died can be counted in both until it is through.
    wait_for(lambda: 0 < left_in_dlq() <= COUNT // 2, message="half of the DLQ left after the kill")

    resumed = manage(subprocess_env, "runaction", str(action_id), "--resume", "--stale-after", "0", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert final["state"] == "succeeded", final
    # Whatever the killed run still held is visible again by now.
    wait_for(lambda: left_in_dlq() == 0 or sqs_space.attributes(dlq)["ApproximateNumberOfMessagesNotVisible"] == "0")
    assert sqs_space.drain(dlq) == [], final
    moved = consumer.finish()
    assert set(moved) == set(ids)
    doubled = len(moved) - COUNT
    assert 0 <= doubled <= 10
    assert doubled <= final["duplicated"] <= 10

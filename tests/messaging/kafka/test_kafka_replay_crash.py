"""SIGKILL the process replaying 10,000 Kafka dead letters halfway, resume it: no record lost,
duplicates within the declared bound and counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from messaging.brokers.kafka import KafkaBroker
from tests.action_helpers import requeue_setup_script
from tests.messaging.kafka.replay_helpers import KAFKA, create_topics, produce, topic_name
from tests.messaging.kafka.test_kafka_replay import ids_of, read_all

ROOT = Path(__file__).resolve().parents[3]
COUNT = 10_000

SETUP = requeue_setup_script(
    "events", 'sys.argv[1] + ".DLT"', "print(actions.request_move(user, dlq, kind=Action.REQUEUE, all=True).pk)"
)

CONFIG = """
[brokers.events]
url = "kafka://{bootstrap}"

[brokers.events.transport_options.replay_producer]
"batch.num.messages" = 1
"linger.ms" = 0
"""


def end_offset(topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": "k2-ends-" + uuid.uuid4().hex})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def run(env, *args, **kwargs):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)


def test_sigkill_halfway_then_resume_loses_nothing_and_duplicates_within_the_in_doubt_bound(tmp_path):
    source = topic_name("orders")
    create_topics(source)
    create_topics(source + ".DLT", partitions=2)
    ids = [uuid.uuid4().hex for _ in range(COUNT)]
    headers = [("kafka_dlt-original-topic", source.encode())]
    produce(source + ".DLT", [{"value": json.dumps({"id": i}).encode(), "headers": headers} for i in ids])
    config = tmp_path / "switchyard.toml"
    config.write_text(CONFIG.format(bootstrap=KAFKA))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'actions.sqlite3'}",
        "SWITCHYARD_CONFIG": str(config),
        "SWITCHYARD_ACTION_RUNNER": "false",
    }
    env.pop("SWITCHYARD_BROKER_URL", None)
    migrated = run(env, "manage.py", "migrate", "--noinput", timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    setup = run(env, "-c", SETUP, source, timeout=60)
    assert setup.returncode == 0, setup.stderr
    action_id = int(setup.stdout.strip().splitlines()[-1])

    runner = subprocess.Popen([sys.executable, "manage.py", "runaction", str(action_id)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while end_offset(source) < COUNT * 3 // 10:
            assert runner.poll() is None, "the runner ended before it could be killed"
            assert time.monotonic() < deadline, "the runner made no progress"
            time.sleep(0.02)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    killed_at = end_offset(source)
    assert COUNT * 3 // 10 <= killed_at < COUNT

    resumed = run(env, "manage.py", "runaction", str(action_id), "--resume", "--stale-after", "0", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert final["state"] == "succeeded" and final["failed"] == 0, final
    # Copies replayed again after the crash are counted as moved too, and as possibly duplicated.
    assert COUNT <= final["done"] <= COUNT + final["duplicated"], final
    replayed = ids_of(read_all(source))
    assert set(replayed) == set(ids)  # none lost
    duplicates = len(replayed) - COUNT
    assert 0 <= duplicates <= KafkaBroker.capabilities.move_duplicate_bound
    print(f"killed at {killed_at}, duplicates {duplicates}, counted {final['duplicated']}")
    assert final["duplicated"] >= duplicates  # every copy that may exist twice is counted

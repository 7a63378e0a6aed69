"""The demo on RabbitMQ dead-letters as RabbitMQ teams do: its work queues name a dead-letter
exchange, a task that fails for good is rejected, and the broker itself moves the message to
``<queue>.dlq`` with its ``x-death`` record. The console then links each DLQ to its source."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import amqp
import pytest

from tests.celery_helpers import CeleryEnv
from tests.scenarios.rabbitmq_team import (  # noqa: F401  (fixtures)
    Console,
    console,
    death_records,
    ready_count,
)
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.celery


@pytest.fixture
def demo_env(rabbit_vhost):
    """The demo app's names in the test's own vhost; its workers are killed afterwards."""
    environment = CeleryEnv(url=rabbit_vhost.amqp_url, options={}, prefix=f"dl{uuid.uuid4().hex[:8]}.")
    yield environment
    environment.stop()


def test_failing_demo_tasks_are_dead_lettered_by_rabbitmq_and_linked_to_their_queue(
    rabbit_vhost, demo_env: CeleryEnv, console: Console
) -> None:
    source, dlq = demo_env.queue, f"{demo_env.queue}.dlq"
    demo_env.start_worker("dl")
    # The worker declares every DLQ, also those of queues it does not consume.
    for name in ("emails", "priority", "default"):
        declared = f"{demo_env.prefix}{name}.dlq"
        wait_for(
            lambda q=declared: ready_count(rabbit_vhost, q) is not None, timeout=30, message=f"{declared} declared"
        )

    producer = demo_env.producer_app()
    failed = [demo_env.send(producer, "demo.fail", ("the payment service said no",)) for _ in range(3)]
    succeeded = [demo_env.send(producer, "demo.add", (n, n)) for n in range(2)]
    assert len(set(failed + succeeded)) == 5

    wait_for(lambda: ready_count(rabbit_vhost, dlq) == 3, timeout=45, message=f"3 dead letters in {dlq}")
    wait_for(lambda: ready_count(rabbit_vhost, source) == 0, timeout=30, message=f"{source} drained")
    assert death_records(rabbit_vhost, dlq) == [("rejected", source)] * 3  # written by RabbitMQ
    assert ready_count(rabbit_vhost, f"{demo_env.prefix}emails.dlq") == 0

    row = console.discovered_dlq(dlq, source, depth=3)
    assert row["is_dlq"] and row["dead_letter_source"] == source
    source_row = console.queue_row(source)
    assert source_row is not None and not source_row["is_dlq"]


def test_demo_refuses_queues_an_older_demo_declared_and_names_the_way_out(rabbit_vhost, tmp_path) -> None:
    prefix = f"old{uuid.uuid4().hex[:8]}."
    connection = amqp.Connection(
        host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=rabbit_vhost.name
    )
    connection.connect()
    connection.channel().queue_declare(f"{prefix}default", durable=True, auto_delete=False)  # no dead-lettering
    connection.close()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_DEMO_")}
    environ.update(SWITCHYARD_DEMO_BROKER_URL=rabbit_vhost.amqp_url, SWITCHYARD_DEMO_PREFIX=prefix)
    command = [sys.executable, "manage.py", "demo", "--no-serve", "--log-dir", str(tmp_path / "logs")]
    demo = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)

    assert demo.returncode == 1, demo.stdout + demo.stderr
    assert "PRECONDITION_FAILED" in demo.stderr and "SWITCHYARD_DEMO_PREFIX=" in demo.stderr, demo.stderr
    assert "Traceback" not in demo.stdout + demo.stderr
    assert not (tmp_path / "logs").exists(), "the demo started its workers anyway"
    assert f'vhost "{rabbit_vhost.name}"' in demo.stdout

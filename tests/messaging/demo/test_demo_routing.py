"""The demo's tasks each reach the one queue they are routed to, on Redis and on RabbitMQ, whether
Celery publishes them by queue name (``task_routes``) or through the queue's exchange and routing
key (a retry of a message that came that way, ``apply_async(exchange=..., routing_key=...)``,
``celery call --exchange``, a producer in another language). No worker consumes, so what the broker
holds afterwards is exactly what publishing put there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Queue

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.celery

# In a process of its own, as the demo's producer: the demo app reads its broker and names from the
# environment when imported. The queues are declared first, as the demo's workers do at start.
SEND_ONE_TASK_PER_ROUTE = """
import json
import sys

from messaging.demo import app as demo

queues = demo.app.amqp.queues
with demo.app.connection_for_write() as connection:
    for queue in queues.values():
        queue.bind(connection.default_channel).declare()


def send(task, args, queue, **options):
    if sys.argv[1] == "exchange":
        options.update(exchange=queues[queue].exchange.name, routing_key=queues[queue].routing_key)
    return task.apply_async(args, **options).id


sent = {
    demo.DEFAULT_QUEUE: send(demo.add, (1, 2), demo.DEFAULT_QUEUE),
    demo.EMAIL_QUEUE: send(demo.send_email, ("ops@example.com",), demo.EMAIL_QUEUE),
    demo.PRIORITY_QUEUE: send(demo.urgent, (7,), demo.PRIORITY_QUEUE, priority=7),
}
print(json.dumps(sent))
"""


@pytest.fixture(params=["redis", "rabbitmq"])
def demo_broker_space(request) -> tuple[str, dict[str, str]]:
    """(demo prefix, environment) of a demo on the test's own Redis key prefix or RabbitMQ vhost."""
    prefix = f"route{uuid.uuid4().hex[:8]}."
    if request.param == "redis":
        space = request.getfixturevalue("redis_space")
        url, options = space.url, {"global_keyprefix": space.prefix}
    else:
        url, options = request.getfixturevalue("rabbit_vhost").amqp_url, {}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_DEMO_")}
    environ.update(
        SWITCHYARD_DEMO_BROKER_URL=url,
        SWITCHYARD_DEMO_TRANSPORT_OPTIONS=json.dumps(options),
        SWITCHYARD_DEMO_PREFIX=prefix,
    )
    return prefix, environ


def task_ids_in(environ: dict[str, str], queue: str) -> list[str]:
    """The ids of the tasks ``queue`` holds, taking every message off it."""
    options = {"queue_order_strategy": "priority", **json.loads(environ["SWITCHYARD_DEMO_TRANSPORT_OPTIONS"])}
    with Connection(environ["SWITCHYARD_DEMO_BROKER_URL"], transport_options=options) as connection:
        bound = Queue(queue, no_declare=True).bind(connection.default_channel)
        ids = []
        while (message := bound.get(no_ack=True, accept=["json"])) is not None:
            ids.append(message.headers["id"])
        return ids


@pytest.mark.parametrize("published", ["routed", "exchange"])
def test_each_demo_task_lands_in_the_one_queue_it_is_routed_to(demo_broker_space, published) -> None:
    prefix, environ = demo_broker_space
    command = [sys.executable, "-c", SEND_ONE_TASK_PER_ROUTE, published]
    sent = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    sent_to = json.loads(sent.stdout)
    assert sorted(sent_to) == [f"{prefix}default", f"{prefix}emails", f"{prefix}priority"]

    held = {queue: task_ids_in(environ, queue) for queue in sent_to}
    assert held == {queue: [task_id] for queue, task_id in sent_to.items()}

"""The demo's Celery app: a few queues (one with priorities), tasks that succeed, fail, retry, run
slowly, and fail for good (dead-lettered when the Celery DLQ integration is installed).

The broker is the one Switchyard watches (see :func:`demo_broker`), so the console shows the demo.
Tests and demos can each use their own names: ``SWITCHYARD_DEMO_BROKER_URL`` (overrides the broker),
``SWITCHYARD_DEMO_TRANSPORT_OPTIONS`` (JSON, e.g. ``{"global_keyprefix": "t1:"}``),
``SWITCHYARD_DEMO_PREFIX`` (prefix of every queue name). JSON only: nothing is pickled.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from typing import Any

from celery import Celery
from kombu import Queue

from messaging.config import ConfigError, load_config
from messaging.integrations import celery_dlq

# Kombu transports Celery can run the demo's workers on.
CELERY_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps", "pyamqp"})


def demo_broker(environ: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The demo's broker URL and Kombu transport options: ``SWITCHYARD_DEMO_BROKER_URL`` when set,
    else the first Redis or RabbitMQ broker Switchyard watches (``SWITCHYARD_CONFIG``, then
    ``SWITCHYARD_BROKER_URL`` / ``CELERY_BROKER_URL``, then local Redis) with its
    ``transport_options``. ``SWITCHYARD_DEMO_TRANSPORT_OPTIONS`` adds to those. Raises
    :class:`ConfigError` when the configuration is malformed or names no broker Celery can use."""
    environ = os.environ if environ is None else environ
    url = environ.get("SWITCHYARD_DEMO_BROKER_URL")
    options: dict[str, Any] = {}
    if not url:
        config = load_config(dict(environ))
        usable = [broker for broker in config.brokers if broker.scheme in CELERY_SCHEMES]
        if not usable:
            names = ", ".join(broker.name for broker in config.brokers)
            raise ConfigError(f"{config.source}: no Redis or RabbitMQ broker for the demo's workers among: {names}")
        url, options = usable[0].url, dict(usable[0].options)
    extra = json.loads(environ.get("SWITCHYARD_DEMO_TRANSPORT_OPTIONS") or "{}")
    return url, {**options, **extra}


BROKER_URL, BROKER_OPTIONS = demo_broker()
PREFIX = os.environ.get("SWITCHYARD_DEMO_PREFIX", "demo.")
DEFAULT_QUEUE = f"{PREFIX}default"
EMAIL_QUEUE = f"{PREFIX}emails"
PRIORITY_QUEUE = f"{PREFIX}priority"
QUEUES = (DEFAULT_QUEUE, EMAIL_QUEUE, PRIORITY_QUEUE)

app = Celery("switchyard_demo", set_as_current=False)
app.conf.update(
    broker_url=BROKER_URL,
    broker_transport_options={
        # Redis: priorities 0-9 land in four sub-queues (Kombu's default steps 0, 3, 6, 9);
        # RabbitMQ uses the queue's x-max-priority instead.
        "queue_order_strategy": "priority",
        **BROKER_OPTIONS,
    },
    accept_content=["json"],
    task_serializer="json",
    result_serializer="json",
    task_ignore_result=True,
    task_send_sent_event=True,
    worker_send_task_events=os.environ.get("SWITCHYARD_DEMO_TASK_EVENTS", "1") == "1",
    task_default_queue=DEFAULT_QUEUE,
    task_queues=[
        Queue(DEFAULT_QUEUE),
        Queue(EMAIL_QUEUE),
        Queue(PRIORITY_QUEUE, queue_arguments={"x-max-priority": 10}),
    ],
    task_routes={
        "demo.send_email": {"queue": EMAIL_QUEUE},
        "demo.urgent": {"queue": PRIORITY_QUEUE},
    },
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

# The opt-in dead-letter integration, as a user's app adds it: tasks that fail for good go to
# <queue>.dlq with a death record, and every publish is stamped so head-of-line age is exact.
celery_dlq.install(app)


@app.task(name="demo.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="demo.slow")
def slow(seconds: float = 3.0) -> str:
    time.sleep(seconds)
    return f"slept {seconds}s"


@app.task(name="demo.send_email")
def send_email(to: str, subject: str = "Hello") -> dict:
    time.sleep(random.uniform(0.05, 0.3))
    return {"to": to, "subject": subject, "sent": True}


@app.task(name="demo.urgent")
def urgent(level: int) -> int:
    return level


@app.task(name="demo.flaky", bind=True, max_retries=3)
def flaky(self, chance: float = 0.5) -> str:
    if random.random() < chance:
        raise self.retry(exc=RuntimeError("the flaky service said no"), countdown=1)
    return "made it"


@app.task(name="demo.fail")
def fail(reason: str = "this task always fails") -> None:
    raise ValueError(reason)

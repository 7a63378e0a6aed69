"""The demo's Celery app: a few queues (one with priorities), tasks that succeed, fail, retry, run
slowly, and fail for good (dead-lettered: by RabbitMQ itself, or on Redis by the Celery DLQ
integration).

The broker is the one Switchyard watches (see :func:`demo_broker`), so the console shows the demo.
Tests and demos can each use their own names: ``SWITCHYARD_DEMO_BROKER_URL`` (overrides the broker),
``SWITCHYARD_DEMO_TRANSPORT_OPTIONS`` (JSON, e.g. ``{"global_keyprefix": "t1:"}``),
``SWITCHYARD_DEMO_PREFIX`` (prefix of every queue and exchange name). JSON only: nothing is pickled.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, bootsteps
from kombu import Connection, Exchange, Queue

from messaging.brokers.urls import redact_url
from messaging.config import ConfigError, load_config
from messaging.integrations import celery_dlq

# Kombu transports Celery can run the demo's workers on.
CELERY_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps", "pyamqp"})


@dataclass(frozen=True)
class DemoBroker:
    """The broker the demo runs on: ``url`` and Kombu ``transport_options``, the configured
    broker's ``name`` (None when ``SWITCHYARD_DEMO_BROKER_URL`` chose it) and ``source``, the
    setting or file that chose it."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    source: str = "SWITCHYARD_DEMO_BROKER_URL"

    def describe(self) -> str:
        """Which broker, for the terminal: its name, redacted URL and the demo's space on it
        (RabbitMQ vhost or Redis key prefix), e.g. ``broker "shop" of /etc/switchyard.toml
        (amqp://app:****@mq:5672/shop, vhost "shop")``."""
        if dead_letters_natively(self.url):
            space = f'vhost "{Connection(self.url).virtual_host}"'
        else:
            prefix = self.options.get("global_keyprefix")
            space = f'key prefix "{prefix}"' if prefix else "no key prefix"
        chosen_by = f'broker "{self.name}" of {self.source}' if self.name else self.source
        return f"{chosen_by} ({redact_url(self.url)}, {space})"


def demo_broker(environ: Mapping[str, str] | None = None) -> DemoBroker:
    """The demo's broker: ``SWITCHYARD_DEMO_BROKER_URL`` when set, else the first Redis or RabbitMQ
    broker Switchyard watches (``SWITCHYARD_CONFIG``, then ``SWITCHYARD_BROKER_URL`` /
    ``CELERY_BROKER_URL``, then local Redis) with its ``transport_options``.
    ``SWITCHYARD_DEMO_TRANSPORT_OPTIONS`` adds to those. Raises :class:`ConfigError` when the
    configuration is malformed or names no broker Celery can use."""
    environ = os.environ if environ is None else environ
    url = environ.get("SWITCHYARD_DEMO_BROKER_URL")
    extra = json.loads(environ.get("SWITCHYARD_DEMO_TRANSPORT_OPTIONS") or "{}")
    if url:
        return DemoBroker(url=url, options=extra)
    config = load_config(dict(environ))
    usable = [broker for broker in config.brokers if broker.scheme in CELERY_SCHEMES]
    if not usable:
        names = ", ".join(broker.name for broker in config.brokers)
        raise ConfigError(f"{config.source}: no Redis or RabbitMQ broker for the demo's workers among: {names}")
    chosen = usable[0]
    from_file = config.source not in ("default", "SWITCHYARD_BROKER_URL", "CELERY_BROKER_URL")
    source = config.source if config.source != "default" else "the default broker URL"
    return DemoBroker(
        url=chosen.url, options={**chosen.options, **extra}, name=chosen.name if from_file else None, source=source
    )


def dead_letters_natively(url: str) -> bool:
    """Whether the broker at ``url`` dead-letters rejected messages itself, through a queue's
    ``x-dead-letter-exchange`` (RabbitMQ: Kombu's AMQP transports). Redis does not: there the
    Celery DLQ integration writes the dead letters. Asks Kombu, connects to nothing."""
    return Connection(url).transport.driver_type == "amqp"


def demo_queues(prefix: str, url: str) -> tuple[list[Queue], list[Queue]]:
    """The demo's work queues, and their dead-letter queues when the broker at ``url`` dead-letters
    itself (else none). As Celery's routing guide has it, each work queue is bound to the direct
    exchange ``<prefix>tasks`` by its own name, so a message sent through that exchange reaches
    that queue alone. On RabbitMQ each work queue dead-letters through the direct exchange
    ``<prefix>dlx`` with routing key ``<queue>.dlq``, the key that binds ``<queue>.dlq`` there.
    On Redis ``<queue>.dlq`` is the list the Celery DLQ integration writes to."""
    tasks = Exchange(f"{prefix}tasks", type="direct")
    dead_letter_exchange = Exchange(f"{prefix}dlx", type="direct")
    native = dead_letters_natively(url)
    work, dead_letter = [], []
    for name, arguments in (
        (f"{prefix}default", {}),
        (f"{prefix}emails", {}),
        # Redis: priorities 0-9 land in four sub-queues (queue_order_strategy below); RabbitMQ
        # uses the queue's x-max-priority instead.
        (f"{prefix}priority", {"x-max-priority": 10}),
    ):
        if native:
            dlq = name + celery_dlq.DEFAULT_SUFFIX
            arguments = {**arguments, "x-dead-letter-exchange": dead_letter_exchange.name}
            arguments["x-dead-letter-routing-key"] = dlq
            dead_letter.append(Queue(dlq, dead_letter_exchange, routing_key=dlq))
        work.append(Queue(name, tasks, routing_key=name, queue_arguments=arguments or None))
    return work, dead_letter


BROKER = demo_broker()
BROKER_URL, BROKER_OPTIONS = BROKER.url, BROKER.options
PREFIX = os.environ.get("SWITCHYARD_DEMO_PREFIX", "demo.")
DEFAULT_QUEUE = f"{PREFIX}default"
EMAIL_QUEUE = f"{PREFIX}emails"
PRIORITY_QUEUE = f"{PREFIX}priority"
QUEUES = (DEFAULT_QUEUE, EMAIL_QUEUE, PRIORITY_QUEUE)
WORK_QUEUES, DEAD_LETTER_QUEUES = demo_queues(PREFIX, BROKER_URL)

app = Celery("switchyard_demo", set_as_current=False)
app.conf.update(
    broker_url=BROKER_URL,
    broker_transport_options={
        # Redis: priorities 0-9 land in four sub-queues (Kombu's default steps 0, 3, 6, 9).
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
    task_default_exchange=f"{PREFIX}tasks",
    task_default_exchange_type="direct",
    task_default_routing_key=DEFAULT_QUEUE,
    task_queues=WORK_QUEUES,
    task_routes={
        "demo.send_email": {"queue": EMAIL_QUEUE},
        "demo.urgent": {"queue": PRIORITY_QUEUE},
    },
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


class DeclareDeadLetterQueues(bootsteps.StartStopStep):
    """Declares the dead-letter exchange and queues each time a worker's consumer connects: a
    worker declares only the queues it consumes (``-Q``), and RabbitMQ drops what it dead-letters
    through an exchange no queue is bound to."""

    requires = {"celery.worker.consumer.connection:Connection"}

    def start(self, consumer: Any) -> None:
        channel = consumer.connection.channel()
        try:
            for queue in DEAD_LETTER_QUEUES:
                queue.bind(channel).declare()
        finally:
            channel.close()


if DEAD_LETTER_QUEUES:
    # RabbitMQ dead-letters by itself what a worker rejects without requeueing: a task that fails
    # for good is rejected instead of acknowledged, and the broker adds the x-death record. A pool
    # process that dies (OOM kill) has its message requeued rather than lost.
    app.conf.update(task_acks_on_failure=False, task_reject_on_worker_lost=True)
    app.steps["consumer"].add(DeclareDeadLetterQueues)

# The opt-in dead-letter integration, as a user's app adds it: on Redis, tasks that fail for good go
# to <queue>.dlq with a death record (on RabbitMQ it leaves that to the broker); on both, every
# publish is stamped so head-of-line age is exact.
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

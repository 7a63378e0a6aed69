"""A Celery app configured the way teams configure Celery on Redis, for the Redis scenario tests.

Workers import it (``celery -A tests.scenarios.redis_team_app worker``); tests build the same app
with :func:`make_app` to publish. The workers' app comes from the environment, so each test has its
own world:
``SCENARIO_BROKER_URL``, ``SCENARIO_TRANSPORT_OPTIONS`` (JSON: the team's
``broker_transport_options``, e.g. ``global_keyprefix``, ``sep``, ``priority_steps``,
``visibility_timeout``), ``SCENARIO_QUEUE`` (the default queue), ``SCENARIO_ROUTING`` (JSON, see
:func:`make_app`) and ``SCENARIO_MEMORY`` (a key prefix, outside the Kombu prefix, where tasks
remember their deliveries and outcomes).

The one task, ``scenario.scripted``, does on its n-th delivery what ``plan[n-1]`` says (``ok`` once
the plan runs out): ``ok`` records the order as done, ``fail`` raises (no retries: the failure is
final, and the opt-in DLQ integration dead-letters the message), ``hang`` records that it started
and sleeps far longer than any test (a worker to SIGKILL mid-task). Deliveries are counted in
Redis per task id, so a redelivered, restored or requeued message continues the plan.
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import Celery
from kombu import Exchange, Queue

from messaging.integrations import celery_dlq


def make_app(
    broker_url: str,
    transport_options: dict,
    queue: str,
    memory_prefix: str,
    routing: dict | None = None,
    acks_late: bool = True,
) -> Celery:
    """The team's app: ``task_acks_late`` (Celery's default, early acks, with ``acks_late=False``),
    prefetch 1, JSON only, events on, the DLQ integration.
    With ``routing`` (``exchange``, ``type``, ``binding``, ``routing_key``) the queue is bound to
    that exchange with that binding key and the task is sent with that routing key, as in Celery's
    routing guide; otherwise Celery's defaults (the queue's name is the routing key)."""
    app = Celery("redis_team_app", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options,
        accept_content=["json"],
        task_serializer="json",
        task_ignore_result=True,
        task_default_queue=queue,
        task_acks_late=acks_late,
        worker_prefetch_multiplier=1,
        task_send_sent_event=True,
        worker_send_task_events=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if routing:
        exchange = Exchange(routing["exchange"], type=routing["type"])
        app.conf.task_queues = [Queue(queue, exchange, routing_key=routing["binding"])]
        app.conf.task_routes = {"scenario.scripted": {"queue": queue, "routing_key": routing["routing_key"]}}
    celery_dlq.install(app)
    memory = Memory(broker_url, memory_prefix)

    @app.task(name="scenario.scripted", bind=True, max_retries=0, shared=False)
    def scripted(self, order: int, plan: list[str] | None = None) -> int:
        delivery = memory.client.incr(memory.deliveries_key(self.request.id))
        step = plan[delivery - 1] if plan and delivery <= len(plan) else "ok"
        if step == "hang":
            memory.client.rpush(memory.started_key, self.request.id)
            time.sleep(3600)
        if step == "fail":
            raise ValueError(f"order {order}: delivery {delivery} fails by plan")
        memory.client.rpush(memory.done_key, json.dumps({"id": self.request.id, "order": order, "delivery": delivery}))
        return order

    return app


class Memory:
    """What the tasks remember, in plain Redis keys under ``prefix`` (not Kombu's)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self._client: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.url)
        return self._client

    def deliveries_key(self, task_id: str) -> str:
        return f"{self.prefix}deliveries:{task_id}"

    @property
    def done_key(self) -> str:
        return f"{self.prefix}done"

    @property
    def started_key(self) -> str:
        return f"{self.prefix}started"

    def done(self) -> list[dict]:
        return [json.loads(v) for v in self.client.lrange(self.done_key, 0, -1)]

    def started(self) -> list[str]:
        return [v.decode() for v in self.client.lrange(self.started_key, 0, -1)]


app = make_app(
    os.environ.get("SCENARIO_BROKER_URL", "redis://127.0.0.1:6379/0"),
    json.loads(os.environ.get("SCENARIO_TRANSPORT_OPTIONS") or "{}"),
    os.environ.get("SCENARIO_QUEUE", "scenario"),
    os.environ.get("SCENARIO_MEMORY", "scenario-memory:"),
    json.loads(os.environ.get("SCENARIO_ROUTING") or "null"),
    os.environ.get("SCENARIO_ACKS_LATE", "1") == "1",
)

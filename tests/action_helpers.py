"""Messages exactly as Kombu/Celery store them on Redis, for tests that need thousands fast."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_queue(broker: str, name: str, depth: int | None = 0, dlq_of=None, vhost: str = ""):
    """A Queue row as the monitor would have stored it; ``dlq_of`` links it as that queue's DLQ."""
    from messaging.models import Queue

    queue = Queue.objects.create(broker=broker, name=name, vhost=vhost, depth=depth, is_dlq=dlq_of is not None)
    if dlq_of is not None:
        dlq_of.dlq = queue
        dlq_of.save(update_fields=["dlq"])
    return queue


def push(client, key: str, values: list[bytes]) -> None:
    """LPUSH as Kombu publishers do (oldest ends up at the right), in chunks."""
    for i in range(0, len(values), 2000):
        client.lpush(key, *values[i : i + 2000])


def celery_envelope(
    queue: str,
    task: str = "app.tasks.work",
    task_id: str | None = None,
    args: list | None = None,
    kwargs: dict | None = None,
    death: dict[str, Any] | None = None,
    priority: int = 0,
) -> bytes:
    """A Celery protocol 2 message as Kombu's Redis transport LPUSHes it."""
    task_id = task_id or str(uuid.uuid4())
    args = [1, 2] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    body = json.dumps([args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(tuple(args)),
        "kwargsrepr": repr(kwargs),
        "origin": "gen1@test",
        "ignore_result": False,
        "x-switchyard-published-at": time.time(),
    }
    if death:
        headers["x-death"] = [death]
        headers["x-first-death-queue"] = death.get("queue")
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id,
            "reply_to": str(uuid.uuid4()),
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


def requeue_setup_script(broker: str, dlq_name: str, request: str) -> str:
    """Python run in a fresh process (``python -c``) before a crash test: an operator ``user``, the
    queue ``sys.argv[1]`` of ``broker`` and its dead-letter queue ``dlq`` (``dlq_name``, an
    expression), then ``request``: statements that request the action and print its id."""
    return f"""
import django, sys
django.setup()
from django.contrib.auth import get_user_model
from console.roles import set_role
from messaging import actions
from messaging.models import Action, Queue
user = get_user_model().objects.create_user(username="op")
set_role(user, "operator")
source = Queue.objects.create(broker={broker!r}, name=sys.argv[1], depth=0)
dlq = Queue.objects.create(broker={broker!r}, name={dlq_name}, depth=0, is_dlq=True)
source.dlq = dlq
source.save()
{request}
"""


def death_record(queue: str, exception: str = "ValueError", message: str = "boom") -> dict[str, Any]:
    return {
        "queue": queue,
        "reason": "rejected",
        "count": 1,
        "time": time.time(),
        "exchange": "",
        "routing-keys": [queue],
        "exception-type": exception,
        "exception-message": message,
        "traceback": "Traceback (most recent call last): ...",
    }


def task_ids_in(client, key: str) -> list[str]:
    return [json.loads(v)["headers"]["id"] for v in client.lrange(key, 0, -1)]


@pytest.fixture
def redis_broker(settings):
    """(config, client, prefix): a broker named ``main`` whose keys all start with a fresh prefix.
    Every key under the prefix is deleted afterwards (never FLUSHDB: the server is shared)."""
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    settings.SWITCHYARD_ACTION_RUNNER = False
    prefix = unique_name("sy") + ":"
    config = BrokerConfig(name="main", url=f"{REDIS_URL}?global_keyprefix={prefix}")
    set_config(SwitchyardConfig(brokers=(config,)))
    client = redis.Redis.from_url(REDIS_URL)
    yield config, client, prefix
    set_config(None)
    keys = list(client.scan_iter(match=prefix + "*", count=10_000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()


@pytest.fixture
def dlq_setup(redis_broker, make_user):
    """(client, prefix, source, dlq, operator): a Redis queue and its DLQ (``<name>.dlq``) as the
    monitor stored them, and an operator to act on them."""
    config, client, prefix = redis_broker
    name = unique_name("orders")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    operator, _ = make_user("operator")
    return client, prefix, source, dlq, operator


def rabbit_adapter_path() -> str:
    """The adapter class actions use for amqp:// URLs (the registry's, named for tests that set
    ``registry.ADAPTERS`` explicitly)."""
    return "messaging.brokers.rabbitmq.RabbitMQBroker"


@pytest.fixture
def rabbit_vhost(settings, monkeypatch):
    """(config, vhost): a fresh vhost (deleted afterwards) configured as broker ``rabbit``."""
    import requests

    from messaging.brokers import registry
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    settings.SWITCHYARD_ACTION_RUNNER = False
    monkeypatch.setitem(registry.ADAPTERS, "amqp", rabbit_adapter_path())
    vhost = unique_name("sy-actions")
    api = MANAGEMENT_URL.replace("guest:guest@", "")
    auth = ("guest", "guest")
    requests.put(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=10).raise_for_status()
    requests.put(
        f"{api}/api/permissions/{vhost}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=10,
    ).raise_for_status()
    config = BrokerConfig(name="rabbit", url=f"{AMQP_URL.rstrip('/')}/{vhost}", management_url=MANAGEMENT_URL)
    set_config(SwitchyardConfig(brokers=(config,)))
    yield config, vhost
    set_config(None)
    requests.delete(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=30)

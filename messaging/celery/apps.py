"""One client-side Celery app per configured broker, and which broker configuration is in force.

The apps never run tasks: they capture events, broadcast control commands and read replies. They
accept JSON only, so nothing a worker or a stranger publishes is ever unpickled.
"""

from __future__ import annotations

import json
import threading

from celery import Celery

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.process_config import current_config
from messaging.queue_names import OWN_EVENT_QUEUE_PREFIX

# RabbitMQ drops events our queue holds longer than this; Celery's default is 5 s.
EVENT_QUEUE_TTL_S = 10.0
EVENT_QUEUE_EXPIRES_S = 60.0
CONNECT_TIMEOUT_S = 4.0

_lock = threading.Lock()
_apps: dict[tuple[str, str, str], Celery] = {}


def celery_brokers(config: SwitchyardConfig | None = None) -> list[BrokerConfig]:
    """Brokers that carry Celery (all of them unless ``celery_events = false``)."""
    config = config or current_config()
    return [b for b in config.brokers if b.celery_events]


def broker_config(name: str) -> BrokerConfig | None:
    return next((b for b in celery_brokers() if b.name == name), None)


def app_for(config: BrokerConfig) -> Celery:
    """The client app for one broker (cached; thread-safe)."""
    key = (config.name, config.url, json.dumps(config.options, sort_keys=True, default=str))
    with _lock:
        app = _apps.get(key)
        if app is None:
            app = Celery(f"switchyard-{config.name}", set_as_current=False)
            app.conf.update(
                broker_url=config.url,
                # Bounded reconnects: kombu's publish retries (control broadcasts) are otherwise
                # endless, and a thread stuck in them keeps the process from exiting.
                broker_transport_options={"max_retries": 2, **dict(config.options)},
                accept_content=["json"],
                result_accept_content=["json"],
                event_serializer="json",
                task_serializer="json",
                result_serializer="json",
                # Our own event queues are named so the queue list can leave them out.
                event_queue_prefix=OWN_EVENT_QUEUE_PREFIX,
                event_queue_ttl=EVENT_QUEUE_TTL_S,
                event_queue_expires=EVENT_QUEUE_EXPIRES_S,
                broker_connection_timeout=CONNECT_TIMEOUT_S,
                broker_connection_retry=False,
                broker_connection_max_retries=1,
                broker_heartbeat=0,
                enable_utc=True,
            )
            _apps[key] = app
        return app

"""One client-side Celery app per configured broker, and which broker configuration is in force.

The apps never run tasks: they capture events, broadcast control commands and read replies. They
accept JSON only, so nothing a worker or a stranger publishes is ever unpickled.

Every broker call they make ends within a bound, whatever the broker does (refuses, accepts TCP
and never answers, goes away mid-call): connections are :class:`BoundedConnection` (Kombu's
retry loops, endless by default for publishes and broadcasts, give up after ``MAX_RETRIES``
reconnects and ``CONNECT_BUDGET_S`` seconds of connecting), Redis sockets time out
(``REDIS_SOCKET_TIMEOUT_S``), and replies are collected with a timeout (``control``). A thread
stuck in a broker call would keep the process from exiting.
"""

from __future__ import annotations

import json

from celery import Celery
from celery.app.amqp import AMQP
from kombu import Connection

from messaging import runtime
from messaging.brokers.base import BrokerConfig
from messaging.brokers.registry import adapter_class, capabilities_for
from messaging.config import SwitchyardConfig
from messaging.queue_names import OWN_EVENT_QUEUE_PREFIX

# RabbitMQ drops events our queue holds longer than this; Celery's default is 5 s.
EVENT_QUEUE_TTL_S = 10.0
EVENT_QUEUE_EXPIRES_S = 60.0
CONNECT_TIMEOUT_S = 4.0
#: Reconnects any one broker call may make, and the seconds it may spend connecting in all.
MAX_RETRIES = 2
CONNECT_BUDGET_S = 6.0
RETRY_INTERVAL_MAX_S = 1.0
#: A Redis read or write that takes longer fails (the client waits forever by default).
REDIS_SOCKET_TIMEOUT_S = 3.0
REDIS_SCHEMES = ("redis", "rediss", "sentinel")


class BoundedConnection(Connection):
    """A Kombu connection whose retry loops end. Kombu retries a publish (``retry=True``, as its
    pidbox does for every broadcast) with no limit, reconnecting forever to a broker that is gone;
    here a caller's limit is kept if lower, and ``None`` (forever) becomes ``MAX_RETRIES``."""

    def ensure(self, obj, fun, errback=None, max_retries=None, interval_start=1, interval_step=1, interval_max=1,
               on_revive=None, retry_errors=None):  # fmt: skip
        return super().ensure(
            obj, fun, errback, _bounded(max_retries), interval_start, interval_step,
            min(interval_max, RETRY_INTERVAL_MAX_S), on_revive, retry_errors,
        )  # fmt: skip

    def _ensure_connection(self, errback=None, max_retries=None, interval_start=2, interval_step=2, interval_max=30,
                           callback=None, reraise_as_library_errors=True, timeout=None):  # fmt: skip
        return super()._ensure_connection(
            errback, _bounded(max_retries), min(interval_start, RETRY_INTERVAL_MAX_S),
            min(interval_step, RETRY_INTERVAL_MAX_S), min(interval_max, RETRY_INTERVAL_MAX_S), callback,
            reraise_as_library_errors, min(timeout or CONNECT_BUDGET_S, CONNECT_BUDGET_S),
        )  # fmt: skip


def _bounded(max_retries: int | None) -> int:
    return MAX_RETRIES if max_retries is None else min(max_retries, MAX_RETRIES)


class BoundedAMQP(AMQP):
    Connection = BoundedConnection


def connection_args(config: BrokerConfig) -> tuple[str, dict]:
    """The broker URL and Kombu transport options of the monitor's connections: the broker's
    own (as its adapter reads them, URL query options included), over bounded defaults
    (reconnects; socket timeouts on Redis, whose client otherwise waits forever)."""
    url, own = adapter_class(config.scheme).kombu_connection_args(config)
    options: dict = {"max_retries": MAX_RETRIES}
    if config.scheme.split("+", 1)[0] in REDIS_SCHEMES:
        options.update(socket_timeout=REDIS_SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
    return url, {**options, **own}


def celery_brokers(config: SwitchyardConfig | None = None) -> list[BrokerConfig]:
    """Brokers whose Celery events are captured: all of them unless ``celery_events = false``
    or their transport has no worker events (:func:`without_worker_events`)."""
    config = config or runtime.current().config
    return [b for b in config.brokers if b.celery_events and capabilities_for(b.scheme).worker_events]


def without_worker_events(config: SwitchyardConfig | None = None) -> list[BrokerConfig]:
    """Configured brokers whose transport declares no worker events or remote control (Kombu's
    SQS transport has no broadcast): the Workers and Tasks pages say so for them."""
    config = config or runtime.current().config
    return [b for b in config.brokers if not capabilities_for(b.scheme).worker_events]


def broker_config(name: str) -> BrokerConfig | None:
    return next((b for b in celery_brokers() if b.name == name), None)


def app_for(config: BrokerConfig) -> Celery:
    """The client app for one broker (cached on the process's runtime; thread-safe)."""
    key = (config.name, config.url, json.dumps(config.options, sort_keys=True, default=str))
    state = runtime.current()
    with state.lock:
        app = state.celery_apps.get(key)
        if app is None:
            app = Celery(f"switchyard-{config.name}", set_as_current=False, amqp=BoundedAMQP)
            url, options = connection_args(config)
            app.conf.update(
                broker_url=url,
                broker_transport_options=options,
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
            state.celery_apps[key] = app
        return app

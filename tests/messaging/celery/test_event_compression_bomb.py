"""A compressed Celery event is refused unopened: a few hundred bytes of bzip2 on the real event
exchange once inflated to 400 MiB inside Kombu, before Switchyard's handler saw it."""

from __future__ import annotations

import bz2
import json
import time
import tracemalloc

import pytest
from celery.events.event import get_exchange
from kombu import Connection

from messaging.celery.service import CeleryWatch
from messaging.models import EventStream, Worker
from tests.celery_helpers import drop_rabbit_env, rabbit_env, redis_env
from tests.waiting import wait_for

pytestmark = pytest.mark.celery

MIB = 1 << 20
INFLATED_MIB = 400
MEMORY_BOUND = 50 * MIB


def bzip2_bomb(inflated_mib: int = INFLATED_MIB) -> bytes:
    """A JSON event padded with ``inflated_mib`` MiB of spaces, as concatenated bzip2 streams
    (bzip2 and Python's ``bz2.decompress`` take several): ~40 bytes per MiB, built in milliseconds."""
    padding = bz2.compress(b" " * MIB)
    head = bz2.compress(b'{"type": "worker-heartbeat", "hostname": "bomb@x"')
    return head + padding * inflated_mib + bz2.compress(b"}")


@pytest.fixture(params=["redis", "rabbitmq"])
def env(request):
    environment = redis_env() if request.param == "redis" else rabbit_env()
    yield environment
    if request.param == "rabbitmq":
        drop_rabbit_env(environment)


def test_a_compressed_event_is_refused_uninflated_counted_malformed_and_later_events_still_count(
    env, transactional_db, settings
):
    bomb = bzip2_bomb()
    assert len(bomb) < 20_000  # and real bzip2:
    assert bz2.BZ2Decompressor().decompress(bomb, max_length=16) == b'{"type": "worker'
    settings.SWITCHYARD_INSPECT_INTERVAL = 60.0
    watch = CeleryWatch(env.broker_config("bomb"))
    counters = watch.counters
    watch.start()
    try:
        with Connection(env.url, transport_options=env.options) as connection:
            producer = connection.Producer()
            exchange = get_exchange(connection)

            def send(body: bytes, headers: dict | None = None) -> None:
                producer.publish(
                    body,
                    exchange=exchange,
                    declare=[exchange],
                    routing_key="worker.heartbeat",
                    content_type="application/json",
                    content_encoding="utf-8",
                    headers=headers or {},
                )

            def subscribed():  # Redis subscribes on the receiver's first poll: probe until through
                send(json.dumps({"type": "probe-event"}).encode())
                return counters.unknown > 0

            wait_for(subscribed, timeout=20, message="the event subscription")
            malformed_before = counters.malformed_decode
            hostname = f"after-bomb@{env.prefix}"
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                send(bomb, headers={"compression": "application/x-bz2"})
                # Events are taken in order: once the next one is stored, the bomb was handled.
                send(json.dumps({"type": "worker-online", "hostname": hostname, "timestamp": time.time()}).encode())
                wait_for(
                    lambda: Worker.objects.filter(broker="bomb", hostname=hostname).exists(),
                    timeout=60,
                    message="the event after the bomb",
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        print(f"{env.url.split(':')[0]}: traced peak {peak / MIB:.1f} MiB while receiving the bomb")
        assert peak < MEMORY_BOUND, f"peak {peak / MIB:.0f} MiB while receiving the bomb"
        assert counters.malformed_decode == malformed_before + 1
        # What the API (``/api/v1/events``) and the Workers page show.
        wait_for(
            lambda: EventStream.objects.filter(broker="bomb", malformed__gte=1).exists(),
            timeout=20,
            message="the saved count",
        )
    finally:
        assert watch.stop()

"""A sampling round that fails inside Switchyard (not a broker outage) is never reported healthy:
the broker reads down with the reason, its figures unknown, and ``/api/v1/health`` answers 503
until a round succeeds again (issue 19 item 4). Real Redis; the failure is a store that raises."""

from __future__ import annotations

import asyncio

import pytest

from messaging import monitor as monitor_module
from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import BrokerState, Queue
from messaging.monitor import Monitor
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import REDIS_URL, unique


@pytest.fixture
def prefix():
    value = unique("sy") + ":"
    yield value
    delete_prefixed_keys(value)


@pytest.mark.django_db(transaction=True)
def test_failing_round_marks_the_broker_down_and_health_unhealthy_until_it_recovers(
    prefix, monkeypatch, client, tokens
):
    with redis_connection(prefix) as connection:
        publish(connection, "jobs", [{"n": i} for i in range(4)])
    config = BrokerConfig(
        name=unique("b"), url=f"{REDIS_URL}?global_keyprefix={prefix}", celery_events=False, queues=("jobs",)
    )
    monitor = Monitor(SwitchyardConfig(brokers=(config,)), interval=1.0)
    broker = monitor.brokers[0]
    health = {"HTTP_AUTHORIZATION": f"Token {tokens['viewer']}"}
    try:
        asyncio.run(monitor.sample_once(broker))
        assert Queue.objects.get(broker=config.name, name="jobs").depth == 4
        assert client.get("/api/v1/health", **health).status_code == 200

        real = monitor_module.record_sample

        def broken(*args, **kwargs):
            raise UnicodeEncodeError("utf-8", "bad\udcff", 3, 4, "surrogates not allowed")

        monkeypatch.setattr(monitor_module, "record_sample", broken)
        with pytest.raises(UnicodeEncodeError):
            asyncio.run(monitor.sample_once(broker))
        state = BrokerState.objects.get(name=config.name)
        assert state.status == "down"
        assert "sampling round failed" in state.error and "UnicodeEncodeError" in state.error
        assert Queue.objects.get(broker=config.name, name="jobs").depth is None  # could not look
        answer = client.get("/api/v1/health", **health)
        assert answer.status_code == 503
        assert answer.json()["brokers"] == {config.name: "down"}
        assert "sampling round failed" in answer.json()["failing"][config.name]

        monkeypatch.setattr(monitor_module, "record_sample", real)
        asyncio.run(monitor.sample_once(broker))
        assert BrokerState.objects.get(name=config.name).status == "up"
        assert Queue.objects.get(broker=config.name, name="jobs").depth == 4
        assert client.get("/api/v1/health", **health).status_code == 200
    finally:
        for b in monitor.brokers:
            b.close()

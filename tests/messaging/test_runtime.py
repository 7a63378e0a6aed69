"""A process's state lives on one Runtime: installing another gives a clean process (config,
leader state, Celery apps, action runner, stream subscribers), and the accessors read it."""

from __future__ import annotations

import pytest

from messaging import leader, process_config, runtime, stream
from messaging.brokers.base import BrokerConfig
from messaging.celery.apps import app_for
from messaging.config import SwitchyardConfig
from messaging.runtime import Runtime

CONFIG = SwitchyardConfig(brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/15"),))


@pytest.fixture
def fresh_runtime():
    before = runtime.current()
    state = runtime.install(Runtime(CONFIG))
    yield state
    runtime.install(before)


def test_the_installed_runtime_is_what_process_code_reads(fresh_runtime):
    assert runtime.current() is fresh_runtime
    assert process_config.current_config() is CONFIG
    assert process_config.broker_config("main").url == "redis://127.0.0.1:6379/15"
    app = app_for(CONFIG.brokers[0])
    assert fresh_runtime.celery_apps and app is app_for(CONFIG.brokers[0])


def test_set_config_sets_the_runtimes_configuration_and_none_reloads_the_environments(fresh_runtime, monkeypatch):
    other = SwitchyardConfig(brokers=(BrokerConfig(name="other", url="redis://127.0.0.1:6379/14"),))
    process_config.set_config(other)
    assert fresh_runtime.config is other
    monkeypatch.setenv("SWITCHYARD_BROKER_URL", "redis://127.0.0.1:6379/13")
    monkeypatch.delenv("SWITCHYARD_CONFIG", raising=False)
    process_config.set_config(None)
    assert [b.url for b in process_config.current_config().brokers] == ["redis://127.0.0.1:6379/13"]


@pytest.mark.django_db
def test_health_reports_the_installed_runtimes_leader_state(fresh_runtime, settings):
    settings.SWITCHYARD_LEADER_REDIS_URL = ""
    settings.REDIS_URL = ""
    fresh_runtime.leader.mode, fresh_runtime.leader.identity = "in-process", "host:1:abc"
    fresh_runtime.leader.role = "active"
    described = leader.describe()
    assert described["this_process"]["identity"] == "host:1:abc"
    assert described["active"] == "host:1:abc"
    runtime.install(Runtime(CONFIG))
    assert leader.describe()["this_process"]["mode"] == "none"


def test_a_new_runtime_has_no_stream_subscribers_of_the_old_one(fresh_runtime):
    class Subscriber:
        def take_events(self, events):
            pass

    subscriber = Subscriber()
    stream.local_subscribers("queues")[subscriber] = None
    assert len(stream.local_subscribers("queues")) == 1
    runtime.install(Runtime(CONFIG))
    assert len(stream.local_subscribers("queues")) == 0

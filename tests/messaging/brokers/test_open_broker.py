"""``with open_broker(name) as broker:`` hands out the configured adapter and closes it."""

from __future__ import annotations

import pytest

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.config import SwitchyardConfig
from messaging.process_config import current_config, open_broker, set_config


@pytest.fixture
def configured_redis():
    before = current_config()
    set_config(SwitchyardConfig(brokers=(BrokerConfig(name="main", url="redis://localhost:6379/15"),)))
    yield
    set_config(before)


def test_open_broker_closes_the_adapter_on_exit(configured_redis, monkeypatch):
    closed = []
    with open_broker("main") as broker:
        monkeypatch.setattr(broker, "close", lambda: closed.append(broker.name))
        broker.ping()
    assert closed == ["main"]


def test_open_broker_closes_the_adapter_when_the_block_raises(configured_redis, monkeypatch):
    closed = []
    with pytest.raises(RuntimeError), open_broker("main") as broker:
        monkeypatch.setattr(broker, "close", lambda: closed.append(broker.name))
        raise RuntimeError("operator action failed")
    assert closed == ["main"]


def test_open_broker_refuses_an_unconfigured_name(configured_redis):
    with pytest.raises(BrokerError) as refused:
        open_broker("nowhere")
    assert refused.value.permanent

"""Which broker ``make demo`` runs its workers on: the one the console watches."""

from __future__ import annotations

import pytest

from messaging.config import ConfigError
from messaging.demo.app import demo_broker


def test_demo_uses_first_configured_broker_with_its_transport_options(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text(
        '[brokers.rabbit]\nurl = "amqp://guest:guest@rabbit.example:5672/shop"\n'
        '[brokers.cache]\nurl = "redis://cache.example:6379/3"\ntransport_options = { global_keyprefix = "shop:" }\n'
    )
    assert demo_broker({"SWITCHYARD_CONFIG": str(config)}) == ("amqp://guest:guest@rabbit.example:5672/shop", {})

    config.write_text(
        '[brokers.cache]\nurl = "redis://cache.example:6379/3"\ntransport_options = { global_keyprefix = "shop:" }\n'
        '[brokers.rabbit]\nurl = "amqp://guest:guest@rabbit.example:5672/shop"\n'
    )
    environ = {"SWITCHYARD_CONFIG": str(config), "SWITCHYARD_BROKER_URL": "redis://elsewhere:6379/0"}
    assert demo_broker(environ) == ("redis://cache.example:6379/3", {"global_keyprefix": "shop:"})


def test_demo_falls_back_to_the_broker_url_settings() -> None:
    assert demo_broker({"CELERY_BROKER_URL": "redis://celery.example:6379/1"})[0] == "redis://celery.example:6379/1"
    assert demo_broker({})[0] == "redis://127.0.0.1:6379/0"


def test_demo_broker_variable_and_options_override_the_configuration(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text('[brokers.main]\nurl = "redis://cache.example:6379/3"\n')
    environ = {
        "SWITCHYARD_CONFIG": str(config),
        "SWITCHYARD_DEMO_BROKER_URL": "redis://test.example:6379/9",
        "SWITCHYARD_DEMO_TRANSPORT_OPTIONS": '{"global_keyprefix": "t1:"}',
    }
    assert demo_broker(environ) == ("redis://test.example:6379/9", {"global_keyprefix": "t1:"})


def test_demo_refuses_a_malformed_configuration(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text("[brokers.main\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        demo_broker({"SWITCHYARD_CONFIG": str(config)})

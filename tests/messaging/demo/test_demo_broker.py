"""Which broker ``make demo`` runs its workers on: the one the console watches."""

from __future__ import annotations

import pytest

from messaging.config import ConfigError
from messaging.demo.app import DemoBroker, demo_broker


def test_demo_uses_first_configured_broker_with_its_transport_options(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text(
        '[brokers.rabbit]\nurl = "amqp://guest:guest@rabbit.example:5672/shop"\n'
        '[brokers.cache]\nurl = "redis://cache.example:6379/3"\ntransport_options = { global_keyprefix = "shop:" }\n'
    )
    assert demo_broker({"SWITCHYARD_CONFIG": str(config)}) == DemoBroker(
        url="amqp://guest:guest@rabbit.example:5672/shop", options={}, name="rabbit", source=str(config)
    )

    config.write_text(
        '[brokers.cache]\nurl = "redis://cache.example:6379/3"\ntransport_options = { global_keyprefix = "shop:" }\n'
        '[brokers.rabbit]\nurl = "amqp://guest:guest@rabbit.example:5672/shop"\n'
    )
    environ = {"SWITCHYARD_CONFIG": str(config), "SWITCHYARD_BROKER_URL": "redis://elsewhere:6379/0"}
    assert demo_broker(environ) == DemoBroker(
        url="redis://cache.example:6379/3", options={"global_keyprefix": "shop:"}, name="cache", source=str(config)
    )


def test_demo_falls_back_to_the_broker_url_settings() -> None:
    assert demo_broker({"CELERY_BROKER_URL": "redis://celery.example:6379/1"}) == DemoBroker(
        url="redis://celery.example:6379/1", source="CELERY_BROKER_URL"
    )
    assert demo_broker({}) == DemoBroker(url="redis://127.0.0.1:6379/0", source="the default broker URL")


def test_demo_broker_variable_and_options_override_the_configuration(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text('[brokers.main]\nurl = "redis://cache.example:6379/3"\n')
    environ = {
        "SWITCHYARD_CONFIG": str(config),
        "SWITCHYARD_DEMO_BROKER_URL": "redis://test.example:6379/9",
        "SWITCHYARD_DEMO_TRANSPORT_OPTIONS": '{"global_keyprefix": "t1:"}',
    }
    assert demo_broker(environ) == DemoBroker(url="redis://test.example:6379/9", options={"global_keyprefix": "t1:"})


def test_demo_refuses_a_malformed_configuration(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text("[brokers.main\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        demo_broker({"SWITCHYARD_CONFIG": str(config)})


def test_demo_says_which_broker_and_which_vhost_or_key_prefix_it_chose(tmp_path) -> None:
    config = tmp_path / "switchyard.toml"
    config.write_text('[brokers.shop]\nurl = "amqp://app:s3cret@mq.example:5672/shop"\n')
    said = demo_broker({"SWITCHYARD_CONFIG": str(config)}).describe()
    assert said == f'broker "shop" of {config} (amqp://app:****@mq.example:5672/shop, vhost "shop")'
    assert "s3cret" not in said

    on_default_vhost = demo_broker({"SWITCHYARD_DEMO_BROKER_URL": "amqp://guest:guest@mq.example:5672//"})
    assert on_default_vhost.describe().endswith('vhost "/")')
    prefixed = demo_broker(
        {
            "SWITCHYARD_BROKER_URL": "redis://:pw@cache.example:6379/2",
            "SWITCHYARD_DEMO_TRANSPORT_OPTIONS": '{"global_keyprefix": "t1:"}',
        }
    )
    assert prefixed.describe() == 'SWITCHYARD_BROKER_URL (redis://:****@cache.example:6379/2, key prefix "t1:")'
    assert demo_broker({}).describe() == "the default broker URL (redis://127.0.0.1:6379/0, no key prefix)"

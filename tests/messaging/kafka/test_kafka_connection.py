"""Kafka client settings from the configuration, and errors that never carry a secret (pure)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.brokers.kafka.connection import bootstrap_servers, broker_error, client_settings, consumer_settings


def test_bootstrap_servers_from_the_url():
    assert bootstrap_servers("kafka://k1:9093,k2") == "k1:9093,k2:9092"
    assert bootstrap_servers("kafka://user:pw@k1:9092/") == "k1:9092"
    assert bootstrap_servers("kafka://[::1]:9092") == "[::1]:9092"
    with pytest.raises(BrokerError):
        bootstrap_servers("kafka://")


def test_client_table_is_passed_on_and_consumers_never_commit():
    config = BrokerConfig(name="e", url="kafka://k:9092", client={"sasl.password": "pw-x", "enable.auto.commit": True})
    assert client_settings(config)["sasl.password"] == "pw-x"
    settings = consumer_settings(config, "switchyard.lag.1")
    assert settings["enable.auto.commit"] is False and settings["group.id"] == "switchyard.lag.1"


def test_errors_hide_the_client_secrets():
    config = BrokerConfig(
        name="e", url="kafka://k:9092", client={"sasl.password": "pw-secret-9", "ssl.key.password": "kp-7"}
    )
    failure = KafkaException(KafkaError(KafkaError._AUTHENTICATION, "SASL auth failed for pw-secret-9 and kp-7"))
    error = broker_error(failure, config, "kafka sample failed")
    assert "pw-secret-9" not in str(error) and "kp-7" not in str(error) and "****" in str(error)
    assert error.permanent is True

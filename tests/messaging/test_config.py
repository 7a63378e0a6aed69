"""Configuration: TOML file, environment fallbacks, and clear errors naming the culprit."""

import pytest

from messaging.config import DEFAULT_BROKER_URL, ConfigError, load_config


def test_default_broker_when_nothing_is_configured():
    config = load_config({})
    assert [(b.name, b.url) for b in config.brokers] == [("default", DEFAULT_BROKER_URL)]


def test_switchyard_broker_url_wins_over_celery_broker_url():
    config = load_config({"SWITCHYARD_BROKER_URL": "amqp://u:p@h:5672/v", "CELERY_BROKER_URL": "redis://x/1"})
    assert config.brokers[0].url == "amqp://u:p@h:5672/v"
    assert load_config({"CELERY_BROKER_URL": "redis://x/1"}).brokers[0].url == "redis://x/1"


def test_toml_file_names_brokers(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'sample_interval = 3\n[brokers.main]\nurl = "redis://127.0.0.1:6379/5"\nqueues = ["emails", "emails.dlq"]\n'
        '[brokers.rabbit]\nurl = "amqp://guest:guest@127.0.0.1:5672/v"\nmanagement_url = "http://guest:guest@127.0.0.1:15672"\n'
    )
    config = load_config({"SWITCHYARD_CONFIG": str(path)})
    assert config.sample_interval == 3
    assert [b.name for b in config.brokers] == ["main", "rabbit"]
    assert config.brokers[0].queues == ("emails", "emails.dlq")
    assert config.brokers[1].management_url == "http://guest:guest@127.0.0.1:15672"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[brokers.main\nurl=1", "malformed TOML"),
        ('[brokers.main]\nurl = "kafka://h:9092"', "unknown broker URL scheme 'kafka'"),
        ("[brokers.main]\nqueues = []", "'url' must be a broker URL"),
        ('[brokers.main]\nurl = "redis://h"\nqueues = "emails"', "'queues' must be a list"),
        ('sample_interval = -1\n[brokers.main]\nurl = "redis://h"', "sample_interval must be a positive number"),
        ('[brokers."bad name"]\nurl = "redis://h"', "broker names use letters"),
    ],
)
def test_bad_config_file_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config({"SWITCHYARD_CONFIG": str(path)})
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_missing_config_file_and_bad_env_url_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config({"SWITCHYARD_CONFIG": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match="SWITCHYARD_BROKER_URL.*unknown broker URL scheme"):
        load_config({"SWITCHYARD_BROKER_URL": "nats://127.0.0.1:4222"})

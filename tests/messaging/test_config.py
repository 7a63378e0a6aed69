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
        ('[brokers.main]\nurl = "nats://h:4222"', "unknown broker URL scheme 'nats'"),
        ("[brokers.main]\nqueues = []", "'url' must be a broker URL"),
        ('[brokers.main]\nurl = "redis://h"\nqueues = "emails"', "'queues' must be a list"),
        ('sample_interval = -1\n[brokers.main]\nurl = "redis://h"', "sample_interval must be a positive number"),
        ('[brokers."bad name"]\nurl = "redis://h"', "broker names use letters"),
        (
            '[brokers.r]\nurl = "amqp://h"\nmanagment_url = "http://h:15672"',
            "unknown key 'managment_url' (did you mean 'management_url'?)",
        ),
        ('sample_intervall = 3\n[brokers.main]\nurl = "redis://h"', "unknown key 'sample_intervall'"),
        ('[brokers.main]\nurl = "redis://h"\nqueue = ["a"]', "did you mean 'queues'?"),
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


def test_redis_key_layout_options_pass_through_to_the_adapter(tmp_path):
    from messaging.brokers.redis.broker import RedisBroker

    path = tmp_path / "s.toml"
    path.write_text(
        '[brokers.main]\nurl = "redis://127.0.0.1:6379/5"\n'
        'transport_options = { global_keyprefix = "app1:", sep = ":", priority_steps = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],'
        " visibility_timeout = 3600 }\n"
    )
    broker = RedisBroker(load_config({"SWITCHYARD_CONFIG": str(path)}).brokers[0])
    try:
        assert (broker.prefix, broker.sep, broker.steps) == ("app1:", ":", list(range(10)))
        assert broker._sub_queues("emails")[:3] == ["emails", "emails:1", "emails:2"]
    finally:
        broker.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{ sep = "" }', "sep must be a non-empty string"),
        ("{ sep = 1 }", "sep must be a non-empty string"),
        ('{ priority_steps = "0,3,6,9" }', "priority_steps must be a list of integers"),
        ("{ priority_steps = [0, 300] }", "priority_steps must be a list of integers"),
        ("{ priority_steps = [] }", "priority_steps must be a list of integers"),
        ("{ global_keyprefix = 1 }", "global_keyprefix must be a string"),
    ],
)
def test_malformed_redis_key_layout_options_are_refused_naming_the_file(tmp_path, options, message):
    path = tmp_path / "s.toml"
    path.write_text(f'[brokers.main]\nurl = "redis://h"\ntransport_options = {options}\n')
    with pytest.raises(ConfigError, match=message) as raised:
        load_config({"SWITCHYARD_CONFIG": str(path)})
    assert str(path) in str(raised.value) and "[brokers.main]" in str(raised.value)


def test_kafka_url_from_the_environment_and_client_settings_from_the_file(tmp_path):
    config = load_config({"SWITCHYARD_BROKER_URL": "kafka://k1:9092,k2:9093"})
    assert config.brokers[0].scheme == "kafka" and config.brokers[0].client == {}
    path = tmp_path / "kafka.toml"
    path.write_text(
        '[brokers.events]\nurl = "kafka://127.0.0.1:9092"\n'
        '[brokers.events.client]\n"security.protocol" = "SASL_PLAINTEXT"\n"sasl.password" = "pw-never-shown"\n'
    )
    broker = load_config({"SWITCHYARD_CONFIG": str(path)}).brokers[0]
    assert broker.client == {"security.protocol": "SASL_PLAINTEXT", "sasl.password": "pw-never-shown"}
    assert "pw-never-shown" not in repr(broker)
    path.write_text('[brokers.events]\nurl = "kafka://h"\nclient = { "sasl.password" = ["pw-never-shown"] }\n')
    with pytest.raises(ConfigError) as error:
        load_config({"SWITCHYARD_CONFIG": str(path)})
    assert "client.sasl.password" in str(error.value) and "pw-never-shown" not in str(error.value)


@pytest.mark.parametrize(("scheme", "extra"), [("kafka", "kafka"), ("sqs", "sqs")])
def test_a_transport_whose_library_is_missing_names_the_extra_to_install(monkeypatch, scheme, extra):
    from messaging.brokers import registry

    monkeypatch.setitem(registry.OPTIONAL_LIBRARIES, scheme, ("switchyard_no_such_library", extra))
    with pytest.raises(ConfigError) as refused:
        load_config({"SWITCHYARD_BROKER_URL": f"{scheme}://127.0.0.1:1"})
    assert f"switchyard-console[{extra}]" in str(refused.value)
    assert "switchyard-no-such-library" in str(refused.value)


def test_installed_optional_libraries_pass_the_check():
    from messaging.brokers.registry import check_scheme

    check_scheme("kafka")
    check_scheme("sqs")

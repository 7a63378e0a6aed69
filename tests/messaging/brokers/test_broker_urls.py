"""URL handling: passwords never shown, vhosts and Redis options read as documented."""

from __future__ import annotations

from messaging.brokers.rabbitmq.connection import parse_amqp_url
from messaging.brokers.redis.layout import split_url_options
from messaging.brokers.urls import redact_url, redact_urls_in, scrub_secret


def test_redact_url_hides_passwords():
    assert redact_url("amqp://guest:s3cret@host:5672/vh") == "amqp://guest:****@host:5672/vh"
    assert redact_url("redis://:s3cret@host:6379/0") == "redis://:****@host:6379/0"
    assert "p%40ss" not in redact_url("amqp://u:p%40ss@h/")
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


def test_scrub_secret_hides_the_password_in_any_quoting():
    url = "amqp://u:p%40ss@h/"
    text = f"failed to reach {url} with p@ss and p%40ss"
    scrubbed = scrub_secret(text, url)
    assert "p@ss" not in scrubbed and "p%40ss" not in scrubbed
    assert "amqp://u:****@h/" in scrubbed


def test_passwords_in_free_text_are_hidden_whatever_the_scheme():
    text = "Error: cannot reach amqp://guest:s3cret@h:5672// nor redis://:p/ss@r:6379/0 (see http://docs/x)"
    redacted = redact_urls_in(text)
    assert "s3cret" not in redacted and "p/ss" not in redacted
    assert "amqp://guest:****@h:5672//" in redacted and "redis://:****@r:6379/0" in redacted
    assert redacted.endswith("(see http://docs/x)")


def test_amqp_vhost_forms():
    assert parse_amqp_url("amqp://h:5672").vhost is None
    assert parse_amqp_url("amqp://h:5672/").vhost is None
    assert parse_amqp_url("amqp://h:5672//").vhost == "/"
    assert parse_amqp_url("amqp://h:5672/%2F").vhost == "/"
    assert parse_amqp_url("amqp://h/my%20vhost").vhost == "my vhost"
    assert parse_amqp_url("amqp://h").connect_vhost == "/"


def test_amqp_defaults_and_credentials():
    plain = parse_amqp_url("amqp://h")
    assert (plain.user, plain.password, plain.port, plain.ssl) == ("guest", "guest", 5672, False)
    secure = parse_amqp_url("amqps://bob:p%40ss@h/v")
    assert (secure.user, secure.password, secure.port, secure.ssl) == ("bob", "p@ss", 5671, True)


def test_redis_url_keeps_redis_options_and_takes_ours():
    url, options = split_url_options("redis://h:6379/2?global_keyprefix=app:&health_check_interval=5")
    assert url == "redis://h:6379/2?health_check_interval=5"
    assert options == {"global_keyprefix": "app:"}

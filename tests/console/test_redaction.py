"""Secrets never leave: URLs are redacted and log records scrubbed."""

import logging

from console.logging import RedactSecretsFilter, redact
from messaging.brokers.urls import redact_url


def test_redact_url_hides_password_keeps_the_rest():
    assert redact_url("amqp://guest:s3cret@rabbit:5672/vh") == "amqp://guest:****@rabbit:5672/vh"
    assert redact_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:****@127.0.0.1:6379/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_log_filter_scrubs_urls_and_tokens():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "cannot reach %s with %s", ("amqp://u:hunter2@h/", "swy_abcdefghijkl"), None
    )
    RedactSecretsFilter().filter(record)
    message = record.getMessage()
    assert "hunter2" not in message and "abcdefghijkl" not in message
    assert redact("redis://:pw@h:1/0") == "redis://:****@h:1/0"

"""How the adapter talks to a Kafka cluster: librdkafka settings from the broker's configuration,
time limits on every call, and librdkafka's errors as :class:`BrokerError` with secrets hidden.

``kafka://host:port[,host:port]`` gives the bootstrap servers; the broker's TOML ``client`` table
(SASL, SSL: ``security.protocol``, ``sasl.mechanism``, ``sasl.username``, ``sasl.password``,
``ssl.ca.location`` ...) is passed to librdkafka as it is. Those values may be secrets: they are
never shown (:func:`scrub_client_secrets`)."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from messaging.brokers.base import BrokerConfig, BrokerError
from messaging.brokers.urls import MASK, scrub_secret

#: Seconds any one admin or consumer call may take before the round reports the broker down.
CALL_TIMEOUT_S = 5.0
#: Settings the adapter owns: a client table cannot turn them on (a monitor must never commit).
_FORCED = {"enable.auto.commit": False, "enable.auto.offset.store": False}
_CLIENT_LOG = logging.getLogger("messaging.brokers.kafka.client")
_SECRET_SETTING = re.compile(r"(?i).*(password|secret|token|key|jaas)")


def bootstrap_servers(url: str) -> str:
    """``host:port[,host:port]`` of a ``kafka://`` URL (default port 9092)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in rest:  # credentials belong in the client table; never sent as a host
        rest = rest.rsplit("@", 1)[1]
    servers = []
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        parsed = urlsplit(f"//{part}")
        host = parsed.hostname or ""
        if not host:
            raise BrokerError(f"kafka URL has an empty host in {part!r}", permanent=True)
        host = f"[{host}]" if ":" in host else host
        servers.append(f"{host}:{parsed.port or 9092}")
    if not servers:
        raise BrokerError("kafka URL names no host: use kafka://host:port[,host:port]", permanent=True)
    return ",".join(servers)


def client_settings(config: BrokerConfig, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for one client of this broker: bootstrap servers, the configured
    ``client`` table, short timeouts, then ``extra`` (e.g. ``group.id``)."""
    settings: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers(config.url),
        "socket.timeout.ms": int(CALL_TIMEOUT_S * 1000),
        "socket.connection.setup.timeout.ms": int(CALL_TIMEOUT_S * 1000),
        "client.id": f"switchyard-{config.name}",
        # librdkafka's own log lines go through Python logging (whose handlers redact URLs),
        # not to stderr.
        "logger": _CLIENT_LOG,
    }
    settings.update(config.client)
    settings.update(extra)
    return settings


def consumer_settings(config: BrokerConfig, group_id: str, **extra: Any) -> dict[str, Any]:
    """A consumer that never commits (it only reads with ``assign``)."""
    return {**client_settings(config, **extra), "group.id": group_id, **_FORCED}


def secret_values(config: BrokerConfig) -> list[str]:
    return [str(v) for k, v in config.client.items() if _SECRET_SETTING.fullmatch(k) and v not in ("", None)]


def scrub_client_secrets(text: str, config: BrokerConfig) -> str:
    """``text`` with the URL's password and every secret of the client table hidden."""
    text = scrub_secret(text, config.url)
    for secret in secret_values(config):
        text = text.replace(secret, MASK)
    return text


def broker_error(exc: BaseException, config: BrokerConfig, doing: str) -> BrokerError:
    """A librdkafka failure while ``doing`` something, as a :class:`BrokerError` whose text holds
    no secret. Authentication and authorisation failures are permanent."""
    text = str(exc) or type(exc).__name__
    kafka_error = exc.args[0] if exc.args and hasattr(exc.args[0], "code") else None
    permanent = False
    if kafka_error is not None:
        text = kafka_error.str() if hasattr(kafka_error, "str") else text
        name = getattr(kafka_error, "name", lambda: "")() or ""
        permanent = "AUTH" in name or "UNKNOWN_TOPIC" in name
    return BrokerError(scrub_client_secrets(f"{doing}: {text}", config), permanent=permanent)

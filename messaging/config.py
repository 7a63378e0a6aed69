"""Which brokers to watch: the TOML file named by ``SWITCHYARD_CONFIG``, else one broker from
``SWITCHYARD_BROKER_URL`` / ``CELERY_BROKER_URL``. Errors name the file or variable at fault."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from messaging.brokers.base import BrokerConfig
from messaging.brokers.registry import UnknownTransport, check_scheme

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
_BROKER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class SwitchyardConfig:
    brokers: tuple[BrokerConfig, ...]
    sample_interval: float | None = None
    source: str = ""


def load_config(environ: dict[str, str] | None = None) -> SwitchyardConfig:
    environ = dict(os.environ if environ is None else environ)
    path = environ.get("SWITCHYARD_CONFIG")
    if path:
        return _load_file(path)
    for variable in ("SWITCHYARD_BROKER_URL", "CELERY_BROKER_URL"):
        url = environ.get(variable)
        if url:
            return SwitchyardConfig(brokers=(_broker("default", {"url": url}, variable),), source=variable)
    default = _broker("default", {"url": DEFAULT_BROKER_URL}, "the default broker URL")
    return SwitchyardConfig(brokers=(default,), source="default")


def _load_file(path: str) -> SwitchyardConfig:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"SWITCHYARD_CONFIG={path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"SWITCHYARD_CONFIG={path}: cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SWITCHYARD_CONFIG={path}: malformed TOML: {exc}") from None

    _refuse_unknown_keys(data, _FILE_KEYS, path)
    interval = data.get("sample_interval")
    if interval is not None and (not isinstance(interval, (int, float)) or interval <= 0):
        raise ConfigError(f"{path}: sample_interval must be a positive number, got {interval!r}")
    tables = data.get("brokers", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [brokers] must be a table of named brokers")
    brokers = tuple(_broker(name, table, f"{path} [brokers.{name}]") for name, table in tables.items())
    if not brokers:
        fallback = load_config({k: v for k, v in os.environ.items() if k != "SWITCHYARD_CONFIG"})
        brokers = fallback.brokers
    return SwitchyardConfig(brokers=brokers, sample_interval=interval, source=path)


_FILE_KEYS = ("sample_interval", "brokers")
_BROKER_KEYS = (
    "url",
    "queues",
    "management_url",
    "dead_letter_queues",
    "transport_options",
    "celery_events",
    # Kafka: librdkafka settings (SASL/SSL) passed to the client as they are.
    "client",
    # SQS.
    "region",
    "endpoint_url",
    "queue_name_prefix",
)


def _refuse_unknown_keys(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    """A misspelt key (``managment_url``) would otherwise be ignored without a word, and the
    console would run with a setting the operator believes is in force."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def _broker(name: str, table: Any, where: str) -> BrokerConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    if not _BROKER_NAME.match(name):
        raise ConfigError(f"{where}: broker names use letters, digits, '.', '_' and '-' only")
    _refuse_unknown_keys(table, _BROKER_KEYS, where)
    url = table.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{where}: 'url' must be a broker URL such as redis://host:6379/0")
    scheme = url.split("://", 1)[0].lower()
    try:
        check_scheme(scheme)
    except UnknownTransport as exc:
        raise ConfigError(f"{where}: {exc}") from None
    queues = table.get("queues", [])
    if not isinstance(queues, list) or not all(isinstance(q, str) and q for q in queues):
        raise ConfigError(f"{where}: 'queues' must be a list of queue names")
    management_url = table.get("management_url")
    if management_url is not None and not isinstance(management_url, str):
        raise ConfigError(f"{where}: 'management_url' must be a string")
    dead_letter = table.get("dead_letter_queues", {})
    if not isinstance(dead_letter, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in dead_letter.items()
    ):
        raise ConfigError(f"{where}: 'dead_letter_queues' must map queue names to DLQ names")
    options = table.get("transport_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}: 'transport_options' must be a table")
    _check_key_layout(options, where)
    options = {**options, **_sqs_settings(table, where)}
    celery_events = table.get("celery_events", True)
    if not isinstance(celery_events, bool):
        raise ConfigError(f"{where}: 'celery_events' must be true or false")
    return BrokerConfig(
        name=name,
        url=url,
        queues=tuple(queues),
        management_url=management_url,
        dead_letter_queues=dict(dead_letter),
        options=dict(options),
        celery_events=celery_events,
        client=_client_settings(table.get("client", {}), where),
    )


def _client_settings(client: Any, where: str) -> dict[str, Any]:
    """The ``client`` table (librdkafka settings): string, number or boolean values only. Its
    values may be secrets: errors name the key, never the value."""
    if not isinstance(client, dict):
        raise ConfigError(f"{where}: 'client' must be a table of client settings")
    for key, value in client.items():
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"{where}: client.{key} must be a string, number or boolean")
    return dict(client)


def _sqs_settings(table: dict[str, Any], where: str) -> dict[str, str]:
    """SQS's ``region``, ``endpoint_url`` and ``queue_name_prefix``, kept with the transport
    options as Kombu's SQS transport has them."""
    found = {key: table[key] for key in ("region", "endpoint_url", "queue_name_prefix") if key in table}
    for key, value in found.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string")
    return found


def _check_key_layout(options: dict[str, Any], where: str) -> None:
    """Kombu's Redis key layout options, as the Celery app's ``broker_transport_options`` has them:
    a wrong one would make every figure and every move miss the queues' real keys."""
    prefix = options.get("global_keyprefix", "")
    if not isinstance(prefix, str):
        raise ConfigError(f"{where}: transport_options.global_keyprefix must be a string")
    sep = options.get("sep", "\x06\x16")
    if not isinstance(sep, str) or not sep:
        raise ConfigError(f"{where}: transport_options.sep must be a non-empty string, as in Kombu")
    steps = options.get("priority_steps", [0, 3, 6, 9])
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 255 for s in steps)
    ):
        raise ConfigError(
            f"{where}: transport_options.priority_steps must be a list of integers 0-255, e.g. [0, 3, 6, 9]"
        )

"""Which configuration this process runs with, and its brokers by name: the configuration on the
process's :class:`~messaging.runtime.Runtime` (the monitor's when it runs here, else the
environment's). Actions, browsing and Celery control resolve brokers through it."""

from __future__ import annotations

from messaging import runtime
from messaging.brokers.base import Broker, BrokerConfig, BrokerError
from messaging.brokers.registry import broker_for
from messaging.config import SwitchyardConfig


def set_config(config: SwitchyardConfig | None) -> None:
    """Set the runtime's configuration; None has the next read load the environment's again."""
    runtime.current().config = config


def current_config() -> SwitchyardConfig:
    """The runtime's configuration (the environment's, loaded on first use, unless one was set)."""
    return runtime.current().config


def broker_config(name: str) -> BrokerConfig:
    """The configured broker ``name``; :class:`BrokerError` (permanent) when there is none."""
    for config in current_config().brokers:
        if config.name == name:
            return config
    raise BrokerError(f"broker {name!r} is not configured in this process", permanent=True)


def broker_named(name: str) -> Broker:
    """A fresh adapter for the configured broker ``name``; the caller closes it (prefer
    :func:`open_broker`, which does)."""
    return broker_for(broker_config(name))


def open_broker(name: str) -> Broker:
    """The configured broker ``name`` as a context manager that closes it on exit:
    ``with open_broker(name) as broker: ...``. Raises :class:`BrokerError` (permanent) when no
    broker of that name is configured."""
    return broker_named(name)

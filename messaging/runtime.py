"""This process's runtime state, in one object the process's command builds.

A Switchyard process (``manage.py serve``, ``monitor``, ``worker``, ``demo``) holds a little state
of its own beside the database: the configuration it runs with, its part in the leader election,
the WebSocket consumers subscribed to it directly, the event loop that owns its channel layer,
its Celery client apps, its action runner and the monitor it runs. All of it lives in one
:class:`Runtime`, which the command builds and installs (:func:`install`) when the process
starts; code running inside the process reads it through :func:`current`.

A process that no command started (a test run, ``celery -A messaging.actions.worker_app``, a
shell) gets a default runtime on first use: the environment's configuration, loaded when first
asked for. Tests install their own (:func:`install`) or set just the configuration
(``messaging.process_config.set_config``).

This module is the bottom layer of the process: it imports nothing of Switchyard's but the
configuration, so every other module may import it without a cycle.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from messaging.config import SwitchyardConfig, load_config

if TYPE_CHECKING:
    from messaging.monitor import Monitor


@dataclass
class LeaderState:
    """What this process knows about its own part in the leader election, for /api/v1/health."""

    mode: str = "none"  # none (no monitor here), in-process (no election), elected
    identity: str = ""
    role: str = "none"  # none, standby, active
    since: datetime | None = None
    token: int | None = None


class Runtime:
    """One process's state. Attributes:

    - ``config``: the :class:`~messaging.config.SwitchyardConfig` actions, browsing and Celery
      control resolve brokers through (the monitor's when it runs here); the environment's,
      loaded on first read, until one is set;
    - ``leader``: :class:`LeaderState`, kept by ``messaging.leader`` and the monitor process;
    - ``subscribers``: topic -> WebSocket consumers reached directly by ``messaging.stream`` when
      the channel layer is in memory (weak keys: a vanished consumer is not kept alive);
    - ``home_loop``: the event loop that owns the channel layer (``messaging.stream.publish``
      hands worker threads' publishes to it), None outside a server;
    - ``celery_apps``: the client Celery app per broker (``messaging.celery.apps``);
    - ``action_runner``: the thread that runs operator actions in this process, built on first
      use by ``messaging.actions.dispatch``;
    - ``lock``: guards lazily built members (config, apps, runner).
    """

    def __init__(
        self,
        config: SwitchyardConfig | None = None,
        home_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._config = config
        self.leader = LeaderState()
        self.subscribers: dict[str, weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop]] = {}
        self.home_loop = home_loop
        self.celery_apps: dict[tuple[str, str, str], Any] = {}
        self.action_runner: Any = None
        self._monitor: weakref.ReferenceType[Monitor] | None = None

    @property
    def config(self) -> SwitchyardConfig:
        with self.lock:
            if self._config is None:
                self._config = load_config()
            return self._config

    @config.setter
    def config(self, config: SwitchyardConfig | None) -> None:
        """Set the configuration; None has the next read load the environment's again."""
        with self.lock:
            self._config = config

    @property
    def monitor(self) -> Monitor | None:
        """The monitor built in this process, if any and still alive (for /metrics' round counter)."""
        return self._monitor() if self._monitor is not None else None

    @monitor.setter
    def monitor(self, monitor: Monitor | None) -> None:
        self._monitor = weakref.ref(monitor) if monitor is not None else None


# The one module-level reference to process state: the runtime install() put in place.
_installed: Runtime | None = None
_install_lock = threading.Lock()


def install(runtime: Runtime) -> Runtime:
    """Make ``runtime`` this process's (a command at start-up, a test); returns it."""
    global _installed
    with _install_lock:
        _installed = runtime
    return runtime


def current() -> Runtime:
    """This process's runtime: the installed one, else a default built now (the environment's
    configuration, nothing running)."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = Runtime()
        return _installed


def running_monitor() -> Monitor | None:
    """The monitor built in this process, if any (for /metrics' round counter)."""
    return current().monitor


def sample_interval(config: SwitchyardConfig) -> float:
    """Seconds between a broker's samples: the TOML file's ``sample_interval``, else
    ``SWITCHYARD_SAMPLE_INTERVAL``."""
    return float(config.sample_interval or settings.SWITCHYARD_SAMPLE_INTERVAL)

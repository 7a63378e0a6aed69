"""Fixtures for broker adapter tests against the real local Redis and RabbitMQ.

Other engineers use the same servers at the same time: every name a test makes carries a fresh
token, teardown deletes exactly the keys holding that token (or the test's own vhost), and nothing
here flushes, restarts or reconfigures a server. No Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from messaging.brokers.http import HttpClient, path_segment  # noqa: F401

# redis_space and rabbit_vhost live in tests/conftest.py, shared with the console tests.


def _wait_for(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """Poll ``check`` until it returns something truthy, at most ``timeout`` s; return the last
    result (management API figures lag the broker by up to its 5 s stats interval)."""
    return _wait_for

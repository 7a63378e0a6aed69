"""Fixtures for broker adapter tests against the real local Redis and RabbitMQ.

Other engineers use the same servers at the same time: every name a test makes carries a fresh
token, teardown deletes exactly the keys holding that token (or the test's own vhost), and nothing
here flushes, restarts or reconfigures a server. No Django.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from messaging.brokers.http import HttpClient, path_segment  # noqa: F401
from tests import waiting

# redis_space and rabbit_vhost live in tests/conftest.py, shared with the console tests.


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """:func:`tests.waiting.wait_for` polling every 0.5 s for up to 20 s: management API figures
    lag the broker by up to its 5 s stats interval."""
    return functools.partial(waiting.wait_for, timeout=20.0, interval=0.5)

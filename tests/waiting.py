"""The one way tests wait for something that happens in another process, thread or server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 15.0,
    interval: float = 0.1,
    message: str = "the condition",
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy and return
    that value. It is called at least once, and once more at the deadline.

    Raises AssertionError after ``timeout`` seconds, naming ``message`` (what was awaited), the
    condition's last value and, when given, what ``diagnose()`` returns (logs, broker state).
    """
    deadline = time.monotonic() + timeout
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    extra = f"\n{diagnose()}" if diagnose is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}{extra}")

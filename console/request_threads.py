"""Django's ASGI handler with each request's synchronous code on a thread kept from a pool.

Django runs every request inside ``ThreadSensitiveContext()``, and asgiref gives each such context
a new one-thread executor: a new OS thread per request, started from the event loop (which waits
until the thread runs) and joined through yet another new thread afterwards. At 50 requests/s
with 200 WebSocket clients that was half of the event loop's time, every client waiting behind
it. Here each request borrows a one-thread executor from a pool instead (asgiref's
``ThreadSensitiveContext(executor=...)``) and returns it when done.

The guarantees are Django's: the request's sync middleware and view run on one thread, one call
at a time, no two requests share a thread at the same time. An executor is reused only once all
its work has finished (a request cancelled by a client disconnect may leave its view running:
that executor is retired, its thread ends with the view).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class RequestExecutor(ThreadPoolExecutor):
    """One thread; knows whether any of its work is still queued or running."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._unfinished = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            self._unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self._unfinished -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._unfinished == 0


class ExecutorPool:
    """Idle request executors, at most ``keep`` of them (more are created under a burst and
    retired afterwards)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._idle: list[RequestExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> RequestExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return RequestExecutor()

    def give_back(self, executor: RequestExecutor) -> None:
        if executor.idle:
            with self._lock:
                if len(self._idle) < self.keep:
                    self._idle.append(executor)
                    return
        executor.shutdown(wait=False)

    def __len__(self) -> int:
        return len(self._idle)


class PooledThreadsASGIHandler(ASGIHandler):
    def __init__(self, keep_threads: int = 16) -> None:
        super().__init__()
        self.executors = ExecutorPool(keep_threads)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.executors.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.executors.give_back(executor)

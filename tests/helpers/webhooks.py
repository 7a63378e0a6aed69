"""A real HTTP server on localhost that records webhook POSTs, for alert tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import waiting


class WebhookReceiver:
    """Answers POSTs with ``statuses`` in turn (then 200); ``hang`` makes it wait before
    answering until :meth:`release` (or ``hang_s``); ``reply`` is the body of every answer.
    ``received`` holds the parsed bodies."""

    def __init__(self, statuses: list[int] | None = None, hang_s: float = 0.0, reply: bytes = b"ok") -> None:
        self.statuses = list(statuses or [])
        self.hang_s = hang_s
        self.released = threading.Event()
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.hang_s:
                    receiver.released.wait(receiver.hang_s)
                if status == 200:
                    with receiver.lock:
                        receiver.received.append(json.loads(body))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout: float = 15.0) -> dict[str, Any]:
        """The first payload received that ``predicate`` accepts, waiting up to ``timeout`` s."""

        def first_match() -> dict[str, Any] | None:
            with self.lock:
                return next((payload for payload in self.received if predicate(payload)), None)

        return waiting.wait_for(
            first_match,
            timeout=timeout,
            interval=0.05,
            message="a matching webhook",
            diagnose=lambda: f"received: {self.received!r}",
        )

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

"""The one door for outbound HTTP from ``messaging/brokers/`` (RabbitMQ's management API).

Guarantees: every request has a 3 s connect and 10 s read timeout; credentials travel only in the
Authorization header, never in a URL or an error; every failure becomes :class:`HttpError` whose
message names the redacted URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from messaging.brokers.base import BrokerError
from messaging.brokers.urls import redact_url, scrub_secret

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


class HttpError(BrokerError):
    """An HTTP call failed. ``status`` is None when no answer came (refused, timeout, reset)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        # 4xx are answers about the request: retrying the same request cannot help.
        super().__init__(message, permanent=status is not None and 400 <= status < 500)
        self.status = status

    @property
    def unreachable(self) -> bool:
        """No usable answer: nothing came back, or the server failed (5xx)."""
        return self.status is None or self.status >= 500


class HttpClient:
    """A requests Session bound to one base URL and its credentials.

    ``base_url`` may carry ``user:password@``; they are moved to HTTP basic auth. ``auth`` is used
    when the URL carries none.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
    ) -> None:
        parts = urlsplit(base_url)
        if parts.username is not None:
            auth = (unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout = timeout
        self._secret_url = base_url
        self._password = auth[1] if auth else ""
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers["Accept"] = "application/json"

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post_json(self, path: str, body: Any) -> Any:
        return self.request("POST", path, json=body)

    def put_json(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.base + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise HttpError(self._say(method, url, _short(exc))) from None
        if response.status_code >= 400:
            detail = response.text[:200].strip()
            raise HttpError(
                self._say(method, url, f"HTTP {response.status_code} {detail}"),
                status=response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise HttpError(self._say(method, url, "answer is not JSON"), status=500) from None

    def _say(self, method: str, url: str, reason: str) -> str:
        text = scrub_secret(f"{method} {redact_url(url)}: {reason}", self._secret_url)
        if self._password:
            text = text.replace(self._password, "****")
        return text


def path_segment(value: str) -> str:
    """One URL path segment, every reserved character quoted (``/`` becomes ``%2F``)."""
    return quote(value, safe="")


def _short(exc: requests.RequestException) -> str:
    """A readable reason without urllib3's nested reprs."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        for marker in ("Connection refused", "Name or service not known", "No route to host"):
            if marker in text:
                return marker.lower()
        return "connection failed"
    return type(exc).__name__

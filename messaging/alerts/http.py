"""The one place alerts send outbound HTTP. Tests aim it at real local HTTP servers.

:func:`post_json` never raises for network faults: it returns what happened, and whether trying
again may help (5xx, 429, timeouts, connection errors) or not (other 4xx, a malformed URL).
Redirects are not followed (a webhook that redirects is misconfigured, and following would let a
receiver steer the console at another host). Every connection is checked once connected: one that
reached the console itself (messaging/alerts/targets.py) is closed before a byte is sent, and the
delivery fails for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from messaging.alerts.targets import peer_refusal
from messaging.brokers.urls import scrub_secret

USER_AGENT = "Switchyard-Alerts/1"
MAX_RESPONSE_EXCERPT = 200


@dataclass(frozen=True)
class HttpResult:
    ok: bool
    status: int | None
    error: str
    retryable: bool


class TargetRefused(Exception):
    """The connection reached an address webhooks may not use."""


def _checked(sock: Any) -> Any:
    problem = peer_refusal(sock.getpeername())
    if problem:
        sock.close()
        raise TargetRefused(problem)
    return sock


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> Any:
        return _checked(super()._new_conn())


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> Any:
        return _checked(super()._new_conn())


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    """requests' adapter whose connections are checked against the console's own addresses
    after connecting: whatever DNS said earlier, the socket's peer is what counts."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def post_json(url: str, payload: dict[str, Any], timeout_s: float) -> HttpResult:
    """POST ``payload`` as JSON to ``url`` within ``timeout_s`` (connect and each read)."""
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would hide the peer the check needs
        session.mount("http://", _CheckedAdapter())
        session.mount("https://", _CheckedAdapter())
        return _post(session, url, json.dumps(payload, separators=(",", ":")).encode(), timeout_s)


def _post(session: requests.Session, url: str, body: bytes, timeout_s: float) -> HttpResult:
    try:
        response = session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            timeout=(timeout_s, timeout_s),
            allow_redirects=False,
            stream=True,
        )
    except TargetRefused as exc:
        return HttpResult(False, None, f"refused: {exc}", False)
    except requests.Timeout:
        return HttpResult(False, None, f"no answer within {timeout_s:g}s", True)
    except requests.ConnectionError as exc:
        return HttpResult(False, None, scrub_secret(f"connection failed: {_reason(exc)}", url), True)
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError) as exc:
        return HttpResult(False, None, scrub_secret(f"invalid URL: {exc}", url), False)
    except requests.RequestException as exc:
        return HttpResult(False, None, scrub_secret(f"request failed: {type(exc).__name__}", url), True)
    try:
        excerpt = response.raw.read(MAX_RESPONSE_EXCERPT, decode_content=True) or b""
    except Exception:
        excerpt = b""
    finally:
        response.close()
    status = response.status_code
    if 200 <= status < 300:
        return HttpResult(True, status, "", False)
    text = excerpt.decode("utf-8", "replace").strip().replace("\n", " ")
    error = scrub_secret(f"HTTP {status}" + (f": {text}" if text else ""), url)
    return HttpResult(False, status, error, status >= 500 or status == 429)


def url_origin(url: str) -> str:
    """``scheme://host[:port]/…``: a webhook URL as shown to those who may not see it whole.
    Webhook secrets live in the path (Slack's ``/services/T…/B…/<secret>``) and the query
    (``?code=``) as often as in the password, so everything after the host is left out."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"


def error_kind(error: str) -> str:
    """A delivery's ``last_error`` without the detail after the first colon: "HTTP 500" rather
    than "HTTP 500: <the first bytes of the receiver's reply>". The reply (and a connection
    error's reason) may describe the receiver's internals, so only admins see them."""
    return error.split(": ", 1)[0]


def _reason(exc: Exception) -> str:
    text = str(exc)
    # requests nests urllib3's messages; the last clause is the one an operator can act on.
    for marker in ("Failed to establish a new connection: ", "Connection refused", "Name or service not known"):
        if marker in text:
            tail = text.split(marker, 1)[1] if marker.endswith(": ") else marker
            return tail.rstrip("'\")")[:200] or marker
    return text[:200]

"""WebSocket authentication: the session cookie (browsers, same origin only) or ``?token=``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from console.models import ApiToken


@database_sync_to_async
def _user_for_token(token: str):
    return ApiToken.user_for(token)


class TokenOrSessionMiddleware:
    """Sets ``scope["user"]`` from ``?token=`` when given; otherwise the session decides. A browser
    connection (it carries an Origin) must come from an allowed host: that stops another site from
    riding the operator's session cookie (cross-site WebSocket hijacking)."""

    def __init__(self, app) -> None:
        self.inner = app
        self.app = AuthMiddlewareStack(app)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        origin = dict(scope.get("headers", [])).get(b"origin")
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if origin is not None and not _origin_allowed(origin.decode("latin-1")):
            return await _deny(receive, send)
        if token:
            user = await _user_for_token(token)
            scope = dict(scope, user=user or AnonymousUser(), auth_method="token")
            return await self.inner(scope, receive, send)
        if origin is None:
            # No Origin and no token: not a browser, and it has no credentials of its own.
            scope = dict(scope, user=AnonymousUser())
            return await self.inner(scope, receive, send)
        return await self.app(scope, receive, send)


def _origin_allowed(origin: str) -> bool:
    host = urlsplit(origin).hostname
    if not host:
        return False
    return validate_host(host, settings.ALLOWED_HOSTS) or validate_host(f"[{host}]", settings.ALLOWED_HOSTS)


async def _deny(receive, send) -> None:
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 4403})

"""API credentials: ``Authorization: Token <t>`` or ``Bearer <t>``, or the browser session with CSRF."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from console.models import ApiToken


def token_from_header(header: str) -> str | None:
    parts = header.split()
    if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
        return parts[1]
    return None


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        token = token_from_header(header)
        if token is None:
            raise exceptions.AuthenticationFailed("Authorization must be 'Token <token>' or 'Bearer <token>'")
        user = ApiToken.user_for(token)
        if user is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        return user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="switchyard"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """Session auth that always enforces CSRF on unsafe methods (DRF's default does too; this class
    exists so that the rule is visible and cannot be switched off by a view)."""

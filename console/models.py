"""API tokens: stored as SHA-256 digests, shown once, revocable."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "swy_"  # noqa: S105  (a visible prefix, not a secret)


def digest_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=16, help_text="the first characters, to tell tokens apart")
    label = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    @classmethod
    def issue(cls, user, label: str = "") -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the row and the token text (never stored)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, digest=digest_token(token), hint=token[:10], label=label)
        return row, token

    @classmethod
    def user_for(cls, token: str):
        """The active user the token belongs to, or None."""
        if not token or len(token) > 200:
            return None
        row = cls.objects.select_related("user").filter(digest=digest_token(token), revoked_at__isnull=True).first()
        if row is None or not row.user.is_active:
            return None
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=row.pk).update(last_used_at=now)
        return row.user

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

"""The audit trail: one row per operator action or remote-control command. Rows are append-only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditEntryImmutable(Exception):
    pass


class AuditEntry(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    broker = models.CharField(max_length=64, blank=True, default="")
    queue = models.CharField(max_length=1024, blank=True, default="")
    params = models.JSONField(default=dict)
    outcome = models.CharField(max_length=2000, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AuditEntryImmutable("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditEntryImmutable("audit entries cannot be deleted")

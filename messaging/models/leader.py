"""Which monitor process is active: the database side of leader election (see messaging/leader.py)."""

from __future__ import annotations

from django.db import models


class MonitorLease(models.Model):
    """One row per election (named by its Redis lock key).

    ``token`` is the fencing token: it grows by one each time a monitor takes over, and every write
    round of the active monitor checks, inside its own transaction, that the row still carries its
    token. A monitor that lost the Redis lock while paused therefore cannot write once a successor
    has claimed the lease, even if it has not noticed yet.
    """

    name = models.CharField(max_length=255, unique=True)
    token = models.BigIntegerField(default=0)
    holder = models.CharField(max_length=255, blank=True, default="")
    since = models.DateTimeField(null=True)
    renewed_at = models.DateTimeField(null=True)
    rounds = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.holder or 'nobody'} (token {self.token})"

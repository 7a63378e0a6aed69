"""How long alert history is kept: resolved alerts (and their deliveries) are pruned by age and
by count, from the monitor's alert timers."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messaging.models import Alert


def prune_history(now: datetime | None = None) -> dict[str, int]:
    """Remove resolved alerts (and their deliveries) past ``SWITCHYARD_ALERT_RETENTION_DAYS`` and
    beyond ``SWITCHYARD_ALERT_HISTORY_MAX`` rows, and resolved episodes that never fired (recorded
    before those were discarded on resolution). Returns how many went for each reason."""
    now = now or timezone.now()
    never_fired, _ = Alert.objects.filter(resolved_at__isnull=False, fired_at__isnull=True).delete()
    cutoff = now - timedelta(days=settings.SWITCHYARD_ALERT_RETENTION_DAYS)
    expired, _ = Alert.objects.filter(resolved_at__lt=cutoff).delete()
    excess = 0
    keep = settings.SWITCHYARD_ALERT_HISTORY_MAX
    boundary = (
        Alert.objects.filter(resolved_at__isnull=False).order_by("-resolved_at").values_list("resolved_at", flat=True)
    )[keep : keep + 1]
    if boundary:
        excess, _ = Alert.objects.filter(resolved_at__lte=boundary[0]).delete()
    return {"expired": expired, "excess": excess, "never_fired": never_fired}

"""Reading alerts and rules for the API and the pages."""

from __future__ import annotations

from messaging.models import Alert


def firing_count() -> int:
    """How many alerts fire now (the navigation badge)."""
    return Alert.objects.filter(state=Alert.FIRING).count()

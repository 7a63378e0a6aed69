"""Template helpers for task and worker pages."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

from messaging import task_queries

register = template.Library()


@register.filter
def fromepoch(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register.filter
def seconds(value) -> str:
    """A short duration: 0.004 -> "4 ms", 2.5 -> "2.50 s"."""
    if value is None:
        return "—"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


@register.inclusion_tag("pages/_queue_wait.html")
def queue_wait_section(queue):
    """Queue page section: how long this queue's Celery tasks waited before a worker started them."""
    return {"queue": queue, "wait": task_queries.queue_wait(queue)}

"""Showing figures the way an operator reads them; unknown is a dash, never a zero."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def figure(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}"


@register.filter
def rate(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}/s" if value < 100 else f"{value:,.0f}/s"


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 1:
        return "<1s" if seconds > 0 else "0s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@register.filter
def epoch_time(seconds) -> str:
    """Epoch seconds as a UTC time (pages turn ``<time data-epoch>`` into the reader's zone)."""
    if seconds is None:
        return "—"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(seconds), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

"""Alert figures in templates, through the one formatting of :mod:`messaging.alerts.rules`."""

from __future__ import annotations

from django import template

from messaging.alerts.rules import alert_figure

register = template.Library()


@register.filter
def alert_value(alert) -> str:
    """``10.7 % > 10 %``: the alert's figure against its rule's threshold, with units."""
    op = alert.rule.op if alert.rule_id is not None and alert.rule is not None else None
    return alert_figure(alert.metric, alert.value, op, alert.threshold)

"""Alert pages: alerts (everyone reads, operators acknowledge) and rules (admins edit).

Forms go through the API's serializer, so a page and the API refuse the same rules with the same
field errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from console.api.alerts import (
    AlertRuleSerializer,
    acknowledge_alert,
    alerts_query,
    delete_rule,
    save_rule,
    shown_delivery_error,
    shown_webhook_url,
)
from console.roles import ADMIN, OPERATOR, has_role
from messaging.alerts import rules as R
from messaging.brokers.urls import redact_url
from messaging.models import Alert, AlertRule

MAX_ROWS = 500
STATE_TABS = [("open", "Open"), ("firing", "Firing"), ("pending", "Pending"), ("resolved", "Resolved"), ("", "All")]


@vary_on_headers("HX-Request")
def alerts_page(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "open")
    if state not in {key for key, _ in STATE_TABS}:
        state = "open"
    rule = request.GET.get("rule", "")
    rule = rule if rule.isdigit() and len(rule) < 19 else ""
    rows = alerts_query(state or None, rule or None)
    context = {
        "nav": "alerts",
        "state": state,
        "rule": rule,
        "page_url": f"{reverse('alerts')}?{urlencode({'state': state, **({'rule': rule} if rule else {})})}",
        "tabs": STATE_TABS,
        "alerts": list(rows[:MAX_ROWS]),
        "total": rows.count(),
        "can_acknowledge": has_role(request.user, OPERATOR),
    }
    if request.GET.get("fragment") == "table":
        return render(request, "pages/alerts.html#alert-table", context)
    return render(request, "pages/alerts.html", context)


def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = Alert.objects.filter(pk=alert_id).select_related("rule").first()
    if alert is None:
        raise Http404("no such alert")
    admin = has_role(request.user, ADMIN)
    deliveries = [
        {"delivery": d, "url": shown_webhook_url(d.url, admin), "error": shown_delivery_error(d.last_error, admin)}
        for d in alert.deliveries.order_by("-created_at", "-id")[:100]
    ]
    return render(
        request,
        "pages/alert.html",
        {
            "nav": "alerts",
            "alert": alert,
            "deliveries": deliveries,
            "can_acknowledge": has_role(request.user, OPERATOR) and alert.state != Alert.RESOLVED,
        },
    )


@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise Http404("no such alert")
    if alert.state == Alert.RESOLVED:
        messages.info(request, "That alert is resolved already.")
    else:
        acknowledge_alert(alert, request.user)
        messages.success(request, f"Acknowledged: {alert.rule_name}.")
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/alerts/") and "//" not in target else "alerts")


def _rule_rows(admin: bool) -> list[dict[str, Any]]:
    return [
        {
            "rule": rule,
            "condition": R.condition_text(rule),
            "webhook": shown_webhook_url(rule.webhook_url, admin) or "",
            "open": rule.open_count,
        }
        for rule in AlertRule.objects.annotate(
            open_count=Count("alerts", filter=Q(alerts__resolved_at__isnull=True))
        ).order_by("id")
    ]


def _form_data(post: Any) -> dict[str, Any]:
    """A rule from an HTML form: unchecked boxes are False, blank optional numbers are null."""
    data: dict[str, Any] = {
        key: post.get(key, "").strip()
        for key in (
            "name",
            "description",
            "metric",
            "op",
            "threshold",
            "trend",
            "queue_kind",
            "for_s",
            "severity",
            "broker",
            "queue",
            "webhook_url",
        )
    }
    data["keep_firing_for_s"] = post.get("keep_firing_for_s", "").strip() or None
    data["only_if_backlog"] = post.get("only_if_backlog") == "on"
    data["enabled"] = post.get("enabled") == "on"
    if data["threshold"] == "":
        data["threshold"] = 0
    return data


def _form_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "alerts",
        "metrics": R.METRICS,
        "operators": list(R.OPERATORS),
        "trends": R.TRENDS,
        "severities": R.SEVERITIES,
        "queue_kinds": R.QUEUE_KINDS,
        "can_edit": has_role(request.user, ADMIN),
        **extra,
    }


def rules_page(request: HttpRequest) -> HttpResponse:
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {
        "broker": "*",
        "queue": "*",
        "enabled": True,
        "severity": "warning",
        "op": ">",
        "for_s": 0,
        "queue_kind": "any",
    }
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            raise PermissionDenied
        values = _form_data(request.POST)
        serializer = AlertRuleSerializer(data=values, context={"request": request})
        if serializer.is_valid():
            rule = save_rule(serializer, request.user)
            messages.success(request, f"Rule “{rule.name}” created.")
            return redirect("alert-rules")
        errors = serializer.errors
    status = 400 if errors else 200
    context = _form_context(request, rules=_rule_rows(has_role(request.user, ADMIN)), errors=errors, values=values)
    return render(request, "pages/alert_rules.html", context, status=status)


def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = AlertRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("no such rule")
    errors: dict[str, Any] = {}
    values = AlertRuleSerializer(rule, context={"request": request}).data
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            raise PermissionDenied
        if request.POST.get("delete") == "yes":
            delete_rule(rule, request.user)
            messages.success(request, f"Rule “{rule.name}” deleted; its alerts stay in the history.")
            return redirect("alert-rules")
        values = _form_data(request.POST)
        serializer = AlertRuleSerializer(rule, data=values, partial=True, context={"request": request})
        if serializer.is_valid():
            save_rule(serializer, request.user)
            messages.success(request, f"Rule “{rule.name}” saved.")
            return redirect("alert-rules")
        errors = serializer.errors
        values["webhook_url"] = redact_url(values.get("webhook_url") or "")
    context = _form_context(request, rule=rule, errors=errors, values=values)
    return render(request, "pages/alert_rule.html", context, status=400 if errors else 200)

"""Alert pages: alerts (everyone reads, operators acknowledge) and rules (admins edit).

Thin: check access, parse the POST through :class:`AlertRuleForm`, call the domain
(``messaging/alerts/actions.py``, ``queries.py``), render. The form produces the same arguments as
the API's serializer and the domain checks both alike, so a page and the API refuse the same rules
with the same field errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms.models import fields_for_model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.pages.fragments import render_page, vary_on_fragment
from console.request_address import console_address
from console.roles import ADMIN, OPERATOR, has_role
from messaging.alerts import actions, queries, rules
from messaging.alerts.webhook_visibility import shown_delivery_error, shown_webhook_url
from messaging.brokers.urls import redact_url
from messaging.models import Alert, AlertRule, Queue

MAX_ROWS = 500
STATE_TABS = [("open", "Open"), ("firing", "Firing"), ("pending", "Pending"), ("resolved", "Resolved"), ("", "All")]
NEW_RULE_VALUES = {
    "broker": "*",
    "queue": "*",
    "enabled": True,
    "severity": "warning",
    "op": ">",
    "for_s": 0,
    "queue_kind": "any",
}


class AlertRuleForm(forms.Form):
    """A rule from the HTML form: the model's fields for :data:`~messaging.alerts.rules.RULE_FIELDS`
    (unchecked boxes are False, a blank keep-firing is null, a blank threshold is 0)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(AlertRule, fields=rules.RULE_FIELDS))
        self.fields["threshold"].required = False

    def clean_threshold(self) -> float:
        threshold = self.cleaned_data.get("threshold")
        return 0 if threshold is None else threshold


#: Labels whose value names a queue of the alert's broker (and vhost): linked to its page.
QUEUE_LABELS = ("queue", "source")


def label_links(alerts: list[Alert]) -> None:
    """Set ``alert.label_links`` on each alert: its labels as ``(key, value, url)``, with ``url``
    the queue's page for a queue label naming a queue the console knows, else None."""
    wanted = {
        (a.labels.get("broker", ""), a.labels.get("vhost", ""), a.labels[key])
        for a in alerts
        for key in QUEUE_LABELS
        if isinstance(a.labels.get(key), str) and a.labels.get("broker")
    }
    queue_ids: dict[tuple[str, str, str], int] = {}
    if wanted:
        known = Queue.objects.filter(
            broker__in={b for b, _, _ in wanted}, name__in={n for _, _, n in wanted}
        ).values_list("broker", "vhost", "name", "id")
        queue_ids = {(b, v, n): pk for b, v, n, pk in known}
    for alert in alerts:
        broker, vhost = alert.labels.get("broker", ""), alert.labels.get("vhost", "")
        links = []
        for key, value in alert.labels.items():
            queue_id = queue_ids.get((broker, vhost, value)) if key in QUEUE_LABELS else None
            links.append((key, value, reverse("queue", args=[queue_id]) if queue_id else None))
        alert.label_links = links


@vary_on_fragment
def alerts_page(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "open")
    if state not in {key for key, _ in STATE_TABS}:
        state = "open"
    rule = request.GET.get("rule", "")
    rule = rule if rule.isdigit() and len(rule) < 19 else ""
    rows = queries.alerts_in(state or None, int(rule) if rule else None)
    shown = list(rows.select_related("rule")[:MAX_ROWS])
    label_links(shown)
    context = {
        "nav": "alerts",
        "state": state,
        "rule": rule,
        "page_url": f"{reverse('alerts')}?{urlencode({'state': state, **({'rule': rule} if rule else {})})}",
        "tabs": STATE_TABS,
        "alerts": shown,
        "total": rows.count(),
        "can_acknowledge": has_role(request.user, OPERATOR),
    }
    return render_page(request, "pages/alerts.html", context, partials=("alert-table",))


def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = queries.alert_by_id(alert_id)
    if alert is None:
        raise Http404("no such alert")
    label_links([alert])
    admin = has_role(request.user, ADMIN)
    deliveries = [
        {"delivery": d, "url": shown_webhook_url(d.url, admin), "error": shown_delivery_error(d.last_error, admin)}
        for d in queries.recent_deliveries(alert)
    ]
    context = {
        "nav": "alerts",
        "alert": alert,
        "deliveries": deliveries,
        "can_acknowledge": has_role(request.user, OPERATOR) and alert.state != Alert.RESOLVED,
    }
    return render(request, "pages/alert.html", context)


@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    if not has_role(request.user, OPERATOR):
        raise PermissionDenied
    alert = queries.alert_by_id(alert_id)
    if alert is None:
        raise Http404("no such alert")
    try:
        actions.acknowledge(request.user, alert)
        messages.success(request, f"Acknowledged: {alert.rule_name}.")
    except actions.AlertResolved:
        messages.info(request, "That alert is resolved already.")
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/alerts/") and "//" not in target else "alerts")


def _rule_rows(admin: bool) -> list[dict[str, Any]]:
    return [
        {
            "rule": rule,
            "condition": rules.condition_text(rule),
            "webhook": shown_webhook_url(rule.webhook_url, admin) or "",
            "open": rule.open_count,
        }
        for rule in queries.rules_with_open_counts()
    ]


def _form_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "alerts",
        "metrics": rules.METRICS,
        "operators": list(rules.OPERATORS),
        "trends": rules.TRENDS,
        "severities": rules.SEVERITIES,
        "queue_kinds": rules.QUEUE_KINDS,
        "can_edit": has_role(request.user, ADMIN),
        **extra,
    }


def _save_from_form(request: HttpRequest, rule: AlertRule | None) -> tuple[AlertRule | None, AlertRuleForm]:
    """The posted rule saved through the domain, or None with the form's field errors."""
    form = AlertRuleForm(request.POST)
    if form.is_valid():
        try:
            return actions.save_rule(request.user, form.cleaned_data, rule=rule, console=console_address(request)), form
        except actions.InvalidRule as refused:
            for field, problems in refused.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
    return None, form


def rules_page(request: HttpRequest) -> HttpResponse:
    errors: dict[str, Any] = {}
    values: dict[str, Any] = dict(NEW_RULE_VALUES)
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            raise PermissionDenied
        rule, form = _save_from_form(request, None)
        if rule is not None:
            messages.success(request, f"Rule “{rule.name}” created.")
            return redirect("alert-rules")
        errors, values = form.errors, request.POST.dict()
    context = _form_context(request, rules=_rule_rows(has_role(request.user, ADMIN)), errors=errors, values=values)
    return render(request, "pages/alert_rules.html", context, status=400 if errors else 200)


def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = queries.rule_by_id(rule_id)
    if rule is None:
        raise Http404("no such rule")
    errors: dict[str, Any] = {}
    values = queries.rule_as_shown(rule, has_role(request.user, ADMIN))
    if request.method == "POST":
        if not has_role(request.user, ADMIN):
            raise PermissionDenied
        if request.POST.get("delete") == "yes":
            actions.delete_rule(request.user, rule)
            messages.success(request, f"Rule “{rule.name}” deleted; its alerts stay in the history.")
            return redirect("alert-rules")
        saved, form = _save_from_form(request, rule)
        if saved is not None:
            messages.success(request, f"Rule “{saved.name}” saved.")
            return redirect("alert-rules")
        errors, values = form.errors, request.POST.dict()
        values["webhook_url"] = redact_url(values.get("webhook_url") or "")
    context = _form_context(request, rule=rule, errors=errors, values=values)
    return render(request, "pages/alert_rule.html", context, status=400 if errors else 200)

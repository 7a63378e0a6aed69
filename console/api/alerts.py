"""Alert rules (admins write, viewers read) and alerts (operators acknowledge)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http.request import split_domain_port
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.errors import error_response
from console.api.permissions import IsOperator, ReadViewerWriteAdmin
from console.roles import ADMIN, has_role
from messaging import audit
from messaging.alerts import rules as R
from messaging.alerts.events import alert_data
from messaging.alerts.housekeeping import acknowledge
from messaging.alerts.http import error_kind, url_origin
from messaging.alerts.persistence import retire_rule_alerts
from messaging.alerts.targets import webhook_target_error
from messaging.brokers.base import redact_url
from messaging.models import Alert, AlertRule, WebhookDelivery
from messaging.stream import make_event, publish

MAX_ALERTS = 5000
RULE_FIELDS = [
    "id",
    "name",
    "description",
    "metric",
    "op",
    "threshold",
    "trend",
    "only_if_backlog",
    "queue_kind",
    "for_s",
    "keep_firing_for_s",
    "severity",
    "broker",
    "queue",
    "enabled",
    "webhook_url",
    "default_key",
    "created_at",
    "updated_at",
]


def shown_webhook_url(url: str, admin: bool) -> str | None:
    """A webhook URL as ``admin`` may see it: admins whole (password replaced), everyone else
    scheme and host only (the path and query often hold the secret)."""
    if not url:
        return None
    return redact_url(url) if admin else url_origin(url)


def shown_delivery_error(error: str, admin: bool) -> str:
    """A delivery's last error as ``admin`` may see it: the receiver's reply is for admins only."""
    return error if admin else error_kind(error)


def sees_webhooks(context: dict[str, Any]) -> bool:
    """Whether the serializer context's user is an admin (worked out once per context)."""
    if "sees_webhooks" not in context:
        user = getattr(context.get("request"), "user", None)
        context["sees_webhooks"] = user is not None and has_role(user, ADMIN)
    return context["sees_webhooks"]


def console_address(request: Any) -> tuple[str, int]:
    """The host and port this request reached the console on."""
    domain, port = split_domain_port(request.get_host())
    try:
        number = int(port) if port else int(request.get_port())
    except ValueError:
        number = 443 if request.is_secure() else 80
    return domain.strip("[]"), number


def bound_port(request: Any) -> int | None:
    """The port the console's server is bound to (behind a proxy, not the one in Host)."""
    port = str(request.META.get("SERVER_PORT") or "")
    return int(port) if port.isdigit() else None


def validate_rule_data(data: dict[str, Any], request: Any | None) -> dict[str, list[str]]:
    """Every field error of a complete rule, including webhook URLs aimed at this console, by
    name (``R.webhook_url_error``) or by resolved address (``webhook_target_error``)."""
    errors = R.validate_rule(data)
    url = data.get("webhook_url") or ""
    if url:
        host, port = console_address(request) if request is not None else ("", -1)
        allowed = list(settings.ALLOWED_HOSTS)
        problem = R.webhook_url_error(url, host, port, allowed)
        if problem is None:
            ports = {p for p in (port, bound_port(request) if request is not None else None) if p and p > 0}
            problem = webhook_target_error(url, host, ports, allowed)
        if problem:
            errors.setdefault("webhook_url", []).append(problem)
    return errors


class AlertRuleSerializer(serializers.ModelSerializer):
    """A rule. ``webhook_url`` is shown to admins with its password replaced (sending that
    redacted form back keeps the stored URL), to everyone else as scheme and host only. Without
    a request in the context nobody is taken for an admin."""

    webhook_url = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
    threshold = serializers.FloatField(required=False)
    trend = serializers.CharField(required=False, allow_blank=True, max_length=16)

    class Meta:
        model = AlertRule
        fields = RULE_FIELDS
        read_only_fields = ["id", "default_key", "created_at", "updated_at"]

    def to_representation(self, instance: AlertRule) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["webhook_url"] = shown_webhook_url(instance.webhook_url, sees_webhooks(self.context))
        data["condition"] = R.condition_text(instance)
        return data

    def validate_webhook_url(self, value: str | None) -> str:
        value = (value or "").strip()
        if self.instance is not None and self.instance.webhook_url and value == redact_url(self.instance.webhook_url):
            return self.instance.webhook_url
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        merged = {}
        for field in AlertRule._meta.get_fields():
            if hasattr(field, "attname") and field.name in RULE_FIELDS:
                if self.instance is not None:
                    merged[field.name] = getattr(self.instance, field.name)
                elif field.has_default():
                    merged[field.name] = field.get_default()
        merged.update(attrs)
        errors = validate_rule_data(merged, self.context.get("request"))
        if errors:
            raise ValidationError(errors)
        return attrs


def _rule_params(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "condition": R.condition_text(rule),
        "for_s": rule.for_s,
        "severity": rule.severity,
        "broker": rule.broker,
        "queue": rule.queue,
        "enabled": rule.enabled,
        # Every viewer reads the audit log: scheme and host only.
        "webhook_url": url_origin(rule.webhook_url) if rule.webhook_url else None,
    }


def save_rule(serializer: AlertRuleSerializer, user: Any) -> AlertRule:
    """Create or change a rule, audit it, and resolve its open alerts when it was disabled or
    now watches another metric. Shared by the API and the rules page."""
    before = serializer.instance
    old_metric = before.metric if before is not None else None
    with transaction.atomic():
        rule = serializer.save()
        audit.record(user, "alert_rule.update" if before else "alert_rule.create", params=_rule_params(rule))
    if before is not None and (not rule.enabled or rule.metric != old_metric):
        reason = "rule disabled" if not rule.enabled else "rule changed"
        events = retire_rule_alerts(rule, reason)
        if events:
            publish("alerts", events)
    return rule


def delete_rule(rule: AlertRule, user: Any) -> None:
    events = retire_rule_alerts(rule, "rule deleted")
    with transaction.atomic():
        audit.record(user, "alert_rule.delete", params=_rule_params(rule))
        rule.delete()
    if events:
        publish("alerts", events)


class AlertRuleList(generics.ListCreateAPIView):
    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    permission_classes = [ReadViewerWriteAdmin]
    pagination_class = None

    def perform_create(self, serializer: AlertRuleSerializer) -> None:
        save_rule(serializer, self.request.user)


class AlertRuleDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    permission_classes = [ReadViewerWriteAdmin]
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_url_kwarg = "rule_id"

    def perform_update(self, serializer: AlertRuleSerializer) -> None:
        save_rule(serializer, self.request.user)

    def perform_destroy(self, instance: AlertRule) -> None:
        delete_rule(instance, self.request.user)


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.IntegerField(source="rule_id", allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "metric",
            "severity",
            "state",
            "labels",
            "value",
            "threshold",
            "held",
            "fingerprint",
            "started_at",
            "fired_at",
            "resolved_at",
            "acknowledged_by",
            "acknowledged_at",
            "summary",
        ]

    def get_acknowledged_by(self, alert: Alert) -> str | None:
        return alert.acknowledged_by or None


class DeliverySerializer(serializers.ModelSerializer):
    """One webhook delivery; its URL and the receiver's reply in ``last_error`` are shown whole
    to admins only (see :func:`shown_webhook_url`, :func:`shown_delivery_error`)."""

    url = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "url",
            "status",
            "attempts",
            "response_status",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
        ]

    def get_url(self, delivery: WebhookDelivery) -> str:
        return shown_webhook_url(delivery.url, sees_webhooks(self.context)) or ""

    def get_last_error(self, delivery: WebhookDelivery) -> str:
        return shown_delivery_error(delivery.last_error, sees_webhooks(self.context))


class AlertDetailSerializer(AlertSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = AlertSerializer.Meta.fields + ["deliveries"]


STATE_FILTERS = {"pending": [Alert.PENDING], "firing": [Alert.FIRING], "resolved": [Alert.RESOLVED]}
STATE_FILTERS["open"] = STATE_FILTERS["pending"] + STATE_FILTERS["firing"]


def alerts_query(state: str | None = None, rule: str | None = None):
    rows = Alert.objects.all()
    if state:
        if state not in STATE_FILTERS:
            raise ValidationError({"state": [f"one of {', '.join(STATE_FILTERS)}"]})
        rows = rows.filter(state__in=STATE_FILTERS[state])
    if rule:
        if not rule.isdigit():
            raise ValidationError({"rule": ["a rule id"]})
        rows = rows.filter(rule_id=int(rule))
    return rows.order_by("-started_at", "-id")


class AlertList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=list(STATE_FILTERS), description="open = pending or firing"),
            OpenApiParameter("rule", int),
            OpenApiParameter("limit", int, description=f"newest first; default 500, at most {MAX_ALERTS}"),
        ],
        responses=AlertSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        rows = alerts_query(request.query_params.get("state") or None, request.query_params.get("rule") or None)
        raw_limit = request.query_params.get("limit") or "500"
        if not raw_limit.isdigit() or not 0 < int(raw_limit) <= MAX_ALERTS:
            raise ValidationError({"limit": [f"a whole number from 1 to {MAX_ALERTS}"]})
        return Response(AlertSerializer(rows[: int(raw_limit)], many=True).data)


def get_alert_or_404(alert_id: int) -> Alert:
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return alert


class AlertDetail(APIView):
    @extend_schema(responses=AlertDetailSerializer)
    def get(self, request: Request, alert_id: int) -> Response:
        alert = get_alert_or_404(alert_id)
        return Response(AlertDetailSerializer(alert, context={"request": request}).data)


def acknowledge_alert(alert: Alert, user: Any) -> Alert:
    """Shared by the API and the alerts page: record who saw it, audit, stream."""
    with transaction.atomic():
        acknowledge(alert, user.username)
        audit.record(
            user,
            "alert.acknowledge",
            broker=alert.labels.get("broker", ""),
            queue=alert.labels.get("queue", ""),
            params={"alert": alert.pk, "rule": alert.rule_name, "fingerprint": alert.fingerprint},
        )
    data = alert_data(alert)
    transaction.on_commit(
        lambda: publish("alerts", [make_event("alerts", "alert.acknowledged", data, key=f"ack:{alert.pk}")])
    )
    return alert


class AlertAcknowledge(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses=AlertSerializer)
    def post(self, request: Request, alert_id: int) -> Response:
        alert = get_alert_or_404(alert_id)
        if alert.state == Alert.RESOLVED:
            return error_response(409, "conflict", "the alert is resolved; there is nothing to acknowledge")
        acknowledge_alert(alert, request.user)
        return Response(AlertSerializer(alert).data)

"""Alert rules (admins write, viewers read) and alerts (operators acknowledge). Thin: check
access, parse through a serializer, call the domain (``messaging/alerts/actions.py`` for changes,
``queries.py`` for reads), render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.api.permissions import IsOperator, ReadViewerWriteAdmin
from console.request_address import console_address
from console.roles import ADMIN, has_role
from messaging.alerts import actions, queries
from messaging.alerts.events import ALERT_FIELDS
from messaging.alerts.rules import RULE_FIELDS, condition_text
from messaging.alerts.webhook_visibility import shown_delivery_error, shown_webhook_url
from messaging.models import Alert, AlertRule, WebhookDelivery

MAX_ALERTS = 5000


def sees_webhooks(context: dict[str, Any]) -> bool:
    """Whether the serializer context's user is an admin (worked out once per context). Without
    a request in the context nobody is taken for an admin."""
    if "sees_webhooks" not in context:
        user = getattr(context.get("request"), "user", None)
        context["sees_webhooks"] = user is not None and has_role(user, ADMIN)
    return context["sees_webhooks"]


class AlertRuleSerializer(serializers.ModelSerializer):
    """A rule. Parses bodies into the domain's arguments (types and lengths); what a rule may say
    is checked by the domain, whose refusals come back as the same field errors. ``webhook_url``
    is shown per ``messaging/alerts/webhook_visibility.py``; sending the redacted form an admin
    sees back keeps the stored URL."""

    webhook_url = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
    threshold = serializers.FloatField(required=False)
    trend = serializers.CharField(required=False, allow_blank=True, max_length=16)

    class Meta:
        model = AlertRule
        fields = ["id", *RULE_FIELDS, "default_key", "created_at", "updated_at"]
        read_only_fields = ["id", "default_key", "created_at", "updated_at"]

    def to_representation(self, instance: AlertRule) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["webhook_url"] = shown_webhook_url(instance.webhook_url, sees_webhooks(self.context))
        data["condition"] = condition_text(instance)
        return data


def save_rule(serializer: AlertRuleSerializer, request: Request) -> None:
    """Create or change the serializer's rule through the domain with the parsed body. The
    domain's :class:`~messaging.alerts.actions.InvalidRule` answers as field errors do (400,
    ``{"error": "bad_request", "detail": {field: [...]}}``, console/api/errors.py)."""
    serializer.instance = actions.save_rule(
        request.user, serializer.validated_data, rule=serializer.instance, console=console_address(request)
    )


class AlertRuleList(generics.ListCreateAPIView):
    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    permission_classes = [ReadViewerWriteAdmin]
    pagination_class = None

    def perform_create(self, serializer: AlertRuleSerializer) -> None:
        save_rule(serializer, self.request)


class AlertRuleDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    permission_classes = [ReadViewerWriteAdmin]
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_url_kwarg = "rule_id"

    def perform_update(self, serializer: AlertRuleSerializer) -> None:
        save_rule(serializer, self.request)

    def perform_destroy(self, instance: AlertRule) -> None:
        actions.delete_rule(self.request.user, instance)


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.IntegerField(source="rule_id", allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = list(ALERT_FIELDS)

    def get_acknowledged_by(self, alert: Alert) -> str | None:
        return alert.acknowledged_by or None


class DeliverySerializer(serializers.ModelSerializer):
    """One webhook delivery; its URL and the receiver's reply in ``last_error`` as
    ``messaging/alerts/webhook_visibility.py`` lets the reader see them."""

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
        fields = [*ALERT_FIELDS, "deliveries"]


class AlertFilterSerializer(serializers.Serializer):
    """The alert list's query parameters."""

    state = serializers.ChoiceField(
        choices=list(queries.STATE_FILTERS),
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": f"one of {', '.join(queries.STATE_FILTERS)}"},
    )
    rule = serializers.RegexField(r"^\d+$", required=False, allow_blank=True, error_messages={"invalid": "a rule id"})
    limit = serializers.RegexField(
        r"^\d+$", required=False, allow_blank=True, error_messages={"invalid": f"a whole number from 1 to {MAX_ALERTS}"}
    )

    def validate_limit(self, value: str) -> int:
        limit = int(value or "500")
        if not 0 < limit <= MAX_ALERTS:
            raise ValidationError(f"a whole number from 1 to {MAX_ALERTS}")
        return limit


class AlertList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=list(queries.STATE_FILTERS), description="open = pending or firing"),
            OpenApiParameter("rule", int),
            OpenApiParameter("limit", int, description=f"newest first; default 500, at most {MAX_ALERTS}"),
        ],
        responses=AlertSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = AlertFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data
        rule = wanted.get("rule")
        rows = queries.alerts_in(wanted.get("state") or None, int(rule) if rule else None)
        return Response(AlertSerializer(rows[: wanted.get("limit") or 500], many=True).data)


def alert_or_404(alert_id: int) -> Alert:
    alert = queries.alert_by_id(alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return alert


class AlertDetail(APIView):
    @extend_schema(responses=AlertDetailSerializer)
    def get(self, request: Request, alert_id: int) -> Response:
        alert = alert_or_404(alert_id)
        return Response(AlertDetailSerializer(alert, context={"request": request}).data)


class AlertAcknowledge(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses=AlertSerializer)
    def post(self, request: Request, alert_id: int) -> Response:
        alert = alert_or_404(alert_id)
        actions.acknowledge(request.user, alert)  # a resolved alert: 409 (AlertResolved)
        return Response(AlertSerializer(alert).data)

"""``GET /metrics``: Prometheus text exposition, built from the database at scrape time.

A custom collector reads the latest figures per scrape, so a queue that disappears disappears
from the exposition too (no process-global gauges keeping stale series). Unknown figures (null)
are left out, never exported as 0. No message content appears in any metric.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from messaging.alerts.rules import SEVERITIES
from messaging.models import Alert, BrokerState, Queue, WebhookDelivery, Worker

QUEUE_FAMILIES = [
    ("depth", "switchyard_queue_depth", "Messages ready in the queue"),
    ("unacked", "switchyard_queue_unacked", "Messages delivered and not yet acknowledged"),
    ("consumers", "switchyard_queue_consumers", "Consumers of the queue"),
    ("oldest_age_s", "switchyard_queue_oldest_message_age_seconds", "Age of the message at the head"),
    ("time_to_drain_s", "switchyard_queue_time_to_drain_seconds", "Backlog / consume rate"),
    ("publish_rate", "switchyard_queue_publish_rate", "Messages published per second"),
    ("consume_rate", "switchyard_queue_consume_rate", "Messages consumed per second"),
]
QUEUE_LABELS = ["broker", "queue", "vhost"]


class SwitchyardCollector:
    """Collects one scrape's families from the database."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._brokers()
        yield self._workers()
        yield from self._alerts()

    def _queues(self) -> Iterator[Metric]:
        families = {field: GaugeMetricFamily(name, doc, labels=QUEUE_LABELS) for field, name, doc in QUEUE_FAMILIES}
        dlq = GaugeMetricFamily(
            "switchyard_queue_is_dlq", "1 when the queue is a dead-letter queue", labels=QUEUE_LABELS
        )
        fields = [field for field, _name, _doc in QUEUE_FAMILIES]
        for row in Queue.objects.filter(present=True).values_list("broker", "name", "vhost", "is_dlq", *fields):
            labels = [row[0], row[1], row[2]]
            dlq.add_metric(labels, 1.0 if row[3] else 0.0)
            for field, value in zip(fields, row[4:]):
                if value is not None:
                    families[field].add_metric(labels, float(value))
        yield from families.values()
        yield dlq

    def _brokers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "switchyard_broker_up", "1 when the last sample succeeded", labels=["broker", "transport"]
        )
        duration = GaugeMetricFamily(
            "switchyard_broker_sample_duration_seconds", "Duration of the last successful sample", labels=["broker"]
        )
        checked = GaugeMetricFamily(
            "switchyard_broker_last_check_timestamp_seconds",
            "When the monitor last checked the broker",
            labels=["broker"],
        )
        for state in BrokerState.objects.all():
            if state.status != BrokerState.UNKNOWN:
                up.add_metric([state.name, state.transport], 1.0 if state.status == BrokerState.UP else 0.0)
            if state.sample_duration_s is not None and state.status == BrokerState.UP:
                duration.add_metric([state.name], state.sample_duration_s)
            if state.checked_at is not None:
                checked.add_metric([state.name], state.checked_at.timestamp())
        yield up
        yield duration
        yield checked
        from messaging.runtime import running_monitor

        monitor = running_monitor()
        if monitor is not None:
            rounds = CounterMetricFamily("switchyard_monitor_rounds", "Sampling rounds since the monitor started")
            rounds.add_metric([], float(monitor.rounds))
            yield rounds

    def _workers(self) -> Metric:
        """1 per Celery worker seen online, 0 offline (from the event side's worker table). The
        ``broker`` label keeps two workers of the same hostname on different brokers apart."""
        family = GaugeMetricFamily(
            "switchyard_worker_up", "1 when the Celery worker is online", labels=["hostname", "broker"]
        )
        for hostname, broker, status in Worker.objects.values_list("hostname", "broker", "status"):
            family.add_metric([hostname, broker], 1.0 if status == Worker.ONLINE else 0.0)
        return family

    def _alerts(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily("switchyard_alerts_firing", "Alerts firing", labels=["severity"])
        pending = GaugeMetricFamily("switchyard_alerts_pending", "Alerts pending", labels=["severity"])
        counts = {(s, state): 0 for s in SEVERITIES for state in (Alert.FIRING, Alert.PENDING)}
        for severity, state in Alert.objects.filter(state__in=[Alert.FIRING, Alert.PENDING]).values_list(
            "severity", "state"
        ):
            counts[(severity, state)] = counts.get((severity, state), 0) + 1
        for (severity, state), count in sorted(counts.items()):
            (firing if state == Alert.FIRING else pending).add_metric([severity], float(count))
        yield firing
        yield pending
        deliveries = GaugeMetricFamily(
            "switchyard_webhook_deliveries", "Alert webhook deliveries by status", labels=["status"]
        )
        known = dict.fromkeys(WebhookDelivery.STATUSES, 0)
        for row in WebhookDelivery.objects.values("status").annotate(n=Count("id")):
            known[row["status"]] = row["n"]
        for status, count in known.items():
            deliveries.add_metric([status], float(count))
        yield deliveries


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SwitchyardCollector())
    return generate_latest(registry)


class FirstRenderer(BaseContentNegotiation):
    """Scrapers send Accept headers DRF's JSON renderer cannot satisfy; errors still answer JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class Metrics(APIView):
    content_negotiation_class = FirstRenderer

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)

"""Webhook notifications in Alertmanager's webhook shape (version 4), and the worker that
delivers them.

Each firing and each resolving of an alert whose rule has a ``webhook_url`` becomes a
:class:`~messaging.models.WebhookDelivery` row (written in the same transaction as the
transition). The :class:`DeliveryWorker` sends due rows from its own threads, never from the
monitor's: a hanging receiver costs one delivery thread for at most ``SWITCHYARD_WEBHOOK_TIMEOUT_S``
and never delays evaluation. Failures that may pass (5xx, 429, timeouts, refused connections) are
retried with exponential backoff up to ``SWITCHYARD_WEBHOOK_MAX_ATTEMPTS``; other 4xx fail at once.
Rows are the queue, so a restarted console resumes what was pending (a row caught mid-send by a
crash is sent again: at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from messaging.alerts.http import post_json
from messaging.brokers.urls import redact_url, scrub_secret
from messaging.db import call_in_thread, close_thread_connections, shut_down_database_thread
from messaging.models import Alert, AlertRule, WebhookDelivery

log = logging.getLogger(__name__)

ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_BACKOFF_S = 600.0


def rfc3339(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _label_matchers(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def external_url() -> str:
    return settings.SWITCHYARD_EXTERNAL_URL.rstrip("/")


def alert_labels(alert: Alert) -> dict[str, str]:
    labels = {"alertname": alert.rule_name, "severity": alert.severity, "metric": alert.metric}
    labels.update({k: str(v) for k, v in alert.labels.items()})
    return labels


def build_payload(alert: Alert, rule: AlertRule, status: str) -> dict[str, Any]:
    """An Alertmanager v4 webhook body for one alert. ``status`` is "firing" or "resolved"."""
    labels = alert_labels(alert)
    annotations = {"summary": alert.summary, "description": alert.description or alert.summary}
    if alert.value is not None:
        annotations["value"] = repr(alert.value)
    if alert.threshold is not None:
        annotations["threshold"] = repr(alert.threshold)
    base = external_url()
    group_labels = {"alertname": alert.rule_name}
    return {
        "version": "4",
        "groupKey": f"{{}}:{{{_label_matchers(group_labels)}}}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": f"switchyard-rule-{rule.pk}",
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": base,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(alert.fired_at or alert.started_at),
                "endsAt": rfc3339(alert.resolved_at) if status == "resolved" else ZERO_TIME,
                "generatorURL": f"{base}/alerts/{alert.pk}/",
                "fingerprint": alert.fingerprint,
            }
        ],
    }


def delivery_for(alert: Alert, rule: AlertRule, transition: str) -> WebhookDelivery:
    status = "firing" if transition == "firing" else "resolved"
    return WebhookDelivery(
        alert=alert,
        event=status,
        url=rule.webhook_url,
        payload=build_payload(alert, rule, status),
        status=WebhookDelivery.PENDING,
        next_attempt_at=timezone.now(),
    )


def backoff_s(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: base x 2^(attempts-1), capped."""
    base = float(settings.SWITCHYARD_WEBHOOK_BACKOFF_S)
    return min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF_S)


def deliver(delivery_id: int) -> str:
    """Send one delivery once and record the outcome. Returns the new status."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (WebhookDelivery.DELIVERED, WebhookDelivery.FAILED):
        return delivery.status if delivery else "gone"
    result = post_json(delivery.url, delivery.payload, float(settings.SWITCHYARD_WEBHOOK_TIMEOUT_S))
    now = timezone.now()
    delivery.attempts += 1
    delivery.response_status = result.status
    if result.ok:
        delivery.status = WebhookDelivery.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        delivery.next_attempt_at = None
    elif result.retryable and delivery.attempts < settings.SWITCHYARD_WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.PENDING
        delivery.last_error = result.error[:1000]
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
    else:
        delivery.status = WebhookDelivery.FAILED
        delivery.last_error = result.error[:1000]
        delivery.next_attempt_at = None
    delivery.save(
        update_fields=["attempts", "response_status", "status", "delivered_at", "last_error", "next_attempt_at"]
    )
    if not result.ok:
        log.warning(
            "alert webhook %s to %s: %s (attempt %d, %s)",
            delivery.event,
            redact_url(delivery.url),
            scrub_secret(result.error, delivery.url),
            delivery.attempts,
            delivery.status,
        )
    return delivery.status


def _deliver_in_thread(delivery_id: int) -> str:
    close_old_connections()
    try:
        return deliver(delivery_id)
    except Exception:
        log.exception("alert webhook delivery %s failed unexpectedly", delivery_id)
        return "error"
    finally:
        # Deliveries are rare and the pool's threads end with the term: no connection is kept.
        close_thread_connections()


def due_deliveries(exclude: set[int], limit: int) -> list[int]:
    """Ids of pending deliveries whose time has come, oldest first, not counting ``exclude``."""
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.PENDING, next_attempt_at__lte=timezone.now())
        .exclude(pk__in=exclude)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


class DeliveryWorker:
    """Sends due webhook deliveries from a small thread pool, for the monitor's lifetime."""

    def __init__(self, threads: int = 4, poll_s: float = 0.5) -> None:
        self.threads = threads
        self.poll_s = poll_s
        self.in_flight: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="webhook")
        query = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-db")
        try:
            while not stop.is_set():
                free = self.threads * 4 - len(self.in_flight)
                try:
                    due = []
                    if free:
                        exclude = set(self.in_flight)
                        due = await loop.run_in_executor(query, call_in_thread, due_deliveries, exclude, free)
                except Exception:
                    log.exception("alert webhooks: cannot read due deliveries; retrying")
                    due = []
                for delivery_id in due:
                    self.in_flight.add(delivery_id)
                    future = loop.run_in_executor(pool, _deliver_in_thread, delivery_id)
                    future.add_done_callback(lambda _f, d=delivery_id: self.in_flight.discard(d))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
                except TimeoutError:
                    pass
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            shut_down_database_thread(query, wait=False)

"""Switchyard's records, one module per concern."""

from messaging.models.actions import Action, MovedMessage
from messaging.models.alerts import Alert, AlertRule, WebhookDelivery
from messaging.models.audit import AuditEntry
from messaging.models.journeys import JourneyMark
from messaging.models.leader import MonitorLease
from messaging.models.queues import BrokerState, Queue, QueueSample
from messaging.models.tasks import EventStream, TaskRecord, Worker

__all__ = [
    "Action",
    "Alert",
    "AlertRule",
    "AuditEntry",
    "BrokerState",
    "EventStream",
    "JourneyMark",
    "MonitorLease",
    "MovedMessage",
    "Queue",
    "QueueSample",
    "TaskRecord",
    "WebhookDelivery",
    "Worker",
]

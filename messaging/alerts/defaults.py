"""The rules a new installation starts with. Installed once by a data migration; admins change
or delete them like any other rule (a deleted default is not brought back)."""

from __future__ import annotations

from typing import Any

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "default_key": "backlog-high",
        "name": "Backlog high",
        "metric": "depth",
        "op": ">",
        "threshold": 1000,
        "for_s": 120,
        "severity": "warning",
        "queue_kind": "work",
        "description": "More than 1,000 messages wait in a work queue for two minutes.",
    },
    {
        "default_key": "oldest-too-old",
        "name": "Oldest message too old",
        "metric": "oldest_age_s",
        "op": ">",
        "threshold": 600,
        "for_s": 60,
        "severity": "warning",
        "queue_kind": "work",
        "description": "The message at the head of the queue has waited more than 10 minutes.",
    },
    {
        "default_key": "no-consumers",
        "name": "No consumers while messages wait",
        "metric": "consumers",
        "op": "==",
        "threshold": 0,
        "only_if_backlog": True,
        "for_s": 60,
        "severity": "critical",
        "queue_kind": "work",
        "description": "Messages wait and nothing consumes the queue.",
    },
    {
        "default_key": "backlog-growing",
        "name": "Backlog growing",
        "metric": "trend",
        "op": "==",
        "trend": "growing",
        "for_s": 300,
        "severity": "warning",
        "queue_kind": "work",
        "description": "The backlog has grown for five minutes: consumers do not keep up.",
    },
    {
        "default_key": "queue-stalled",
        "name": "Queue stalled",
        "metric": "trend",
        "op": "==",
        "trend": "stalled",
        "for_s": 120,
        "severity": "critical",
        "queue_kind": "work",
        "description": "Messages wait and none has been consumed for two minutes.",
    },
    {
        "default_key": "dlq-not-empty",
        "name": "Dead letters waiting",
        "metric": "dlq_depth",
        "op": ">",
        "threshold": 0,
        "for_s": 0,
        "severity": "warning",
        "description": "A dead-letter queue holds messages: look at them, then requeue or delete.",
    },
    {
        "default_key": "dlq-growing",
        "name": "Dead letters growing",
        "metric": "trend",
        "op": "==",
        "trend": "growing",
        "for_s": 60,
        "severity": "warning",
        "queue_kind": "dlq",
        "description": "Messages keep failing into a dead-letter queue.",
    },
    {
        "default_key": "drain-too-long",
        "name": "Time to drain too long",
        "metric": "time_to_drain_s",
        "op": ">",
        "threshold": 1800,
        "for_s": 300,
        "severity": "warning",
        "queue_kind": "work",
        "description": "At the current consume rate the backlog needs more than 30 minutes.",
    },
    {
        "default_key": "no-workers",
        "name": "No workers online",
        "metric": "workers_online",
        "op": "<",
        "threshold": 1,
        "for_s": 60,
        "severity": "critical",
        "description": "No Celery worker has sent a heartbeat for a minute.",
    },
    {
        "default_key": "task-failures",
        "name": "Task failure rate high",
        "metric": "task_failure_rate",
        "op": ">",
        "threshold": 0.1,
        "for_s": 300,
        "severity": "warning",
        "description": "More than 10% of finished tasks failed over five minutes.",
    },
    {
        "default_key": "monitor-stale",
        "name": "Monitor stale",
        "metric": "monitor_stale",
        "op": ">",
        "threshold": 10,
        "for_s": 0,
        "severity": "critical",
        "description": "The monitor has not checked the broker for 10 sample intervals: figures are stale.",
    },
    {
        "default_key": "broker-down",
        "name": "Broker down",
        "metric": "broker_down",
        "op": ">=",
        "threshold": 1,
        "for_s": 10,
        "severity": "critical",
        "description": "The monitor cannot sample the broker; its queues' alerts are held, not resolved.",
    },
]


def install_default_rules(rule_model: Any = None) -> int:
    """Create the default rules not installed before (by ``default_key``). Returns how many.

    ``rule_model`` is the historical model when called from a migration."""
    if rule_model is None:
        from messaging.models import AlertRule as rule_model
    fields = {f.name for f in rule_model._meta.get_fields()}
    existing = set(rule_model.objects.filter(default_key__isnull=False).values_list("default_key", flat=True))
    created = 0
    for spec in DEFAULT_RULES:
        if spec["default_key"] in existing:
            continue
        rule_model.objects.create(**{k: v for k, v in spec.items() if k in fields})
        created += 1
    return created

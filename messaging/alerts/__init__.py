"""Alerts: rules over the monitor's figures, a pending/firing/resolved state machine per series,
webhooks in Alertmanager's shape, and the figures the task side feeds in.

- ``rules``: what a rule may say (validation) and which series it covers (matching);
- ``evaluate``: the pure state machine, (previous state, condition, now) -> next state;
- ``store``: evaluation against the database, transitions, events;
- ``notify``: webhook payloads and the delivery worker;
- ``http``: the one place that sends outbound HTTP for alerts;
- ``defaults``: the rules a new installation starts with.

Task-side figures (``workers_online``, ``task_failure_rate``) come from the Celery event side
through :func:`evaluate_tasks` (push) or a provider registered with :func:`set_task_figures_provider`.
"""

from messaging.alerts.store import evaluate_tasks
from messaging.alerts.task_figures import TaskFigures, set_task_figures_provider

__all__ = ["TaskFigures", "evaluate_tasks", "set_task_figures_provider"]

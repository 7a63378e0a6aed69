"""Alerts: rules over the monitor's figures, a pending/firing/resolved state machine per series,
webhooks in Alertmanager's shape, and the figures the task side feeds in.

- ``rules``: what a rule may say (validation) and which series it covers (matching); pure;
- ``series``: the series each rule watches, built from figures already read; pure;
- ``state_machine``: one series, one observation -> its next state; pure;
- ``transitions``: one evaluation's changes to alerts (open, update, resolve); pure;
- ``persistence``: writing those changes, their webhook deliveries and events, in one transaction;
- ``evaluation``: the entry points that read figures and run the above (monitor and Celery side);
- ``engine``: evaluation, timers and the webhook worker inside the monitor;
- ``actions``: the changes people make (rules, acknowledgement): row, audit, events on commit;
- ``queries``: reads for the API and pages;
- ``webhook_visibility``: who sees what of a webhook URL and a receiver's reply;
- ``events``: the ``alerts`` topic's event shapes;
- ``notify``: webhook payloads and the delivery worker; ``http``: the one place that sends them;
- ``targets``: whether a webhook would reach the console itself;
- ``retention``: how long alert history is kept;
- ``defaults``: the rules a new installation starts with.

Task-side figures (``workers_online``, ``task_failure_rate``) come from the Celery event side
through :func:`evaluate_tasks` (push) or the provider the monitor passes to the alert engine.
"""

from messaging.alerts.evaluation import evaluate_tasks
from messaging.alerts.task_figures import TaskFigures

__all__ = ["TaskFigures", "evaluate_tasks"]

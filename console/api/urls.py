from django.urls import path

from console import converters  # noqa: F401 (registers <text:>)
from console.api import (
    actions,
    alerts,
    audit,
    edit,
    in_flight,
    journeys,
    messages,
    queues,
    routing,
    search,
    tasks,
    workers,
)

urlpatterns = [
    path("brokers", queues.BrokerList.as_view(), name="api-brokers"),
    path("brokers/<str:broker>/in-flight", in_flight.StuckInFlight.as_view(), name="api-in-flight"),
    path("brokers/<str:broker>/topology", routing.BrokerTopology.as_view(), name="api-broker-topology"),
    path("brokers/<str:broker>/in-flight/restore", in_flight.RestoreInFlight.as_view(), name="api-in-flight-restore"),
    path("brokers/<str:broker>/connections/close", in_flight.CloseConnection.as_view(), name="api-close-connection"),
    path("queues", queues.QueueList.as_view(), name="api-queues"),
    path("queues/<str:queue_id>", queues.QueueDetail.as_view(), name="api-queue"),
    path("alert-rules", alerts.AlertRuleList.as_view(), name="api-alert-rules"),
    path("alert-rules/<int:rule_id>", alerts.AlertRuleDetail.as_view(), name="api-alert-rule"),
    path("alerts", alerts.AlertList.as_view(), name="api-alerts"),
    path("alerts/<int:alert_id>", alerts.AlertDetail.as_view(), name="api-alert"),
    path("alerts/<int:alert_id>/acknowledge", alerts.AlertAcknowledge.as_view(), name="api-alert-acknowledge"),
    path("queues/<str:queue_id>/messages", messages.QueueMessages.as_view(), name="api-queue-messages"),
    path(
        # <path:>: a message id is the publisher's task id, "/" included.
        "queues/<str:queue_id>/messages/<path:message_id>/raw",
        messages.QueueMessageRaw.as_view(),
        name="api-queue-message-raw",
    ),
    path(
        "queues/<str:queue_id>/messages/<path:message_id>/edit",
        edit.QueueMessageEdit.as_view(),
        name="api-queue-message-edit",
    ),
    path("queues/<str:queue_id>/search", search.QueueSearch.as_view(), name="api-queue-search"),
    path("queues/<str:queue_id>/export", search.QueueExport.as_view(), name="api-queue-export"),
    path("queues/<str:queue_id>/requeue", messages.QueueRequeue.as_view(), name="api-queue-requeue"),
    path("queues/<str:queue_id>/move", messages.QueueMove.as_view(), name="api-queue-move"),
    path("queues/<str:queue_id>/delete", messages.QueueDelete.as_view(), name="api-queue-delete"),
    path("queues/<str:queue_id>/purge", messages.QueuePurge.as_view(), name="api-queue-purge"),
    path("actions", actions.ActionList.as_view(), name="api-actions"),
    path("actions/<str:action_id>", actions.ActionDetail.as_view(), name="api-action"),
    path("actions/<str:action_id>/cancel", actions.ActionCancel.as_view(), name="api-action-cancel"),
    path("actions/<str:action_id>/resume", actions.ActionResume.as_view(), name="api-action-resume"),
    path("audit", audit.AuditList.as_view(), name="api-audit"),
    path("health", queues.Health.as_view(), name="api-health"),
    # Hostnames and task ids are anyone's text ("/" and newlines included): console.converters.
    # Each action route comes first; a GET of it is the detail of a worker or task so named.
    path("workers", workers.WorkerList.as_view(), name="api-workers"),
    path("workers/<text:hostname>/control", workers.WorkerControl.as_view(), name="api-worker-control"),
    path("workers/<text:hostname>", workers.WorkerDetail.as_view(), name="api-worker"),
    path("events", workers.EventStreamList.as_view(), name="api-events"),
    path("tasks", tasks.TaskList.as_view(), name="api-tasks"),
    path("tasks/duplicates", tasks.TaskDuplicates.as_view(), name="api-task-duplicates"),
    path("tasks/<text:task_id>/revoke", tasks.TaskRevoke.as_view(), name="api-task-revoke"),
    path("tasks/<text:task_id>", tasks.TaskDetail.as_view(), name="api-task"),
    path("journeys/<text:task_id>", journeys.JourneyDetail.as_view(), name="api-journey"),
]

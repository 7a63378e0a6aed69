from django.contrib.auth import views as auth_views
from django.urls import path

from console import converters  # noqa: F401 (registers <text:>)
from console.pages import (
    account,
    actions,
    alerts,
    audit,
    in_flight,
    journeys,
    message_edit,
    message_search,
    routing_map,
    tasks,
    users,
    views,
    workers,
)

urlpatterns = [
    path("", views.overview, name="overview"),
    path("queues/<int:queue_id>/", views.queue_detail, name="queue"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/rules/", alerts.rules_page, name="alert-rules"),
    path("alerts/rules/<int:rule_id>/", alerts.rule_edit, name="alert-rule"),
    path("alerts/<int:alert_id>/", alerts.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/acknowledge", alerts.acknowledge, name="alert-acknowledge"),
    path("queues/<int:queue_id>/messages/", actions.queue_messages, name="queue-messages"),
    path("queues/<int:queue_id>/actions/", actions.queue_action_list, name="queue-actions"),
    path("queues/<int:queue_id>/act/", actions.queue_action, name="queue-act"),
    path("queues/<int:queue_id>/messages/edit/", message_edit.message_edit, name="queue-message-edit"),
    path("queues/<int:queue_id>/messages/search/", message_search.message_search, name="queue-message-search"),
    path(
        "queues/<int:queue_id>/actions/<int:action_id>/cancel/", actions.queue_action_cancel, name="queue-action-cancel"
    ),
    path("audit/", audit.audit_page, name="audit"),
    path("brokers/<str:broker>/in-flight/", in_flight.in_flight_page, name="in-flight"),
    path("brokers/<str:broker>/map", routing_map.routing_map_page, name="routing-map"),
    path("brokers/<str:broker>/in-flight/restore/", in_flight.restore, name="in-flight-restore"),
    path("brokers/<str:broker>/in-flight/close/", in_flight.close_connection, name="in-flight-close"),
    path("tasks/", tasks.tasks_list, name="tasks"),
    # Hostnames and task ids are anyone's text ("/" and newlines included): console.converters.
    # Each action route comes first; a GET of it is the page of a worker or task so named.
    path("tasks/<text:task_id>/revoke/", tasks.task_revoke, name="task-revoke"),
    path("tasks/<text:task_id>/", tasks.task_detail, name="task"),
    path("journeys/<text:task_id>/", journeys.journey_page, name="journey"),
    path("workers/", workers.workers_list, name="workers"),
    path("workers/<str:broker>/<text:hostname>/control/", workers.worker_control, name="worker-control"),
    path("workers/<str:broker>/<text:hostname>/", workers.worker_detail, name="worker"),
    path("account/tokens/", account.tokens_page, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", account.revoke_token, name="account-token-revoke"),
    path("account/password/", account.change_password, name="account-password"),
    path("users/", users.users_list, name="users"),
    path("users/<int:user_id>/", users.user_detail, name="user"),
    path("users/<int:user_id>/role/", users.user_role, name="user-role"),
    path("users/<int:user_id>/password/", users.user_password, name="user-password"),
    path("users/<int:user_id>/active/", users.user_active, name="user-active"),
    path("users/<int:user_id>/tokens/", users.user_token_issue, name="user-token-issue"),
    path("users/<int:user_id>/tokens/<int:token_id>/revoke/", users.user_token_revoke, name="user-token-revoke"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

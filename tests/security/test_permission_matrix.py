"""Every page, API endpoint and method against every role, from an explicit table that must name
every route the URL conf and the OpenAPI schema know (a new endpoint cannot slip through).

Expectations per docs/api.md "Roles" and "Errors": anonymous -> 401 (API) / redirect to login (pages); a user
without a role -> 403; a role below the route's minimum -> 403; a role at or above it -> neither
401/403 nor 5xx (2xx, or a 4xx about the input: 400/404/409). Session-authenticated unsafe calls
without the CSRF token are refused with 403.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tests.action_helpers import celery_envelope, make_queue, push, redis_broker  # noqa: F401  (fixture)

ROLES = ("anonymous", "norole", "viewer", "operator", "admin")
RANK = {"viewer": 1, "operator": 2, "admin": 3}
PUBLIC = "public"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # as the URL conf spells it, without the leading slash
    minimum: str  # viewer / operator / admin / public
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    variant: str = ""

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith(("api/", "metrics"))

    def __str__(self) -> str:
        return f"{self.method} /{self.pattern}{' ' + self.variant if self.variant else ''}"


V, O, A = "viewer", "operator", "admin"  # noqa: E741  (short names keep the table readable)
TABLE: list[Route] = [
    # --- API ---------------------------------------------------------------------------------------
    Route("GET", "api/v1/brokers", V),
    Route("GET", "api/v1/brokers/<str:broker>/in-flight", V),
    Route("GET", "api/v1/brokers/<str:broker>/topology", V),  # Redis: 409, no routing topology
    Route("POST", "api/v1/brokers/<str:broker>/in-flight/restore", O, {}),
    Route("POST", "api/v1/brokers/<str:broker>/connections/close", A, {}),
    Route("GET", "api/v1/queues", V),
    Route("GET", "api/v1/queues/<str:queue_id>", V),
    Route("GET", "api/v1/alert-rules", V),
    Route("POST", "api/v1/alert-rules", A, {"name": ""}),
    Route("GET", "api/v1/alert-rules/<int:rule_id>", V),
    Route("PATCH", "api/v1/alert-rules/<int:rule_id>", A, {"threshold": 7}),
    Route("DELETE", "api/v1/alert-rules/<int:rule_id>", A),
    Route("GET", "api/v1/alerts", V),
    Route("GET", "api/v1/alerts/<int:alert_id>", V),
    Route("POST", "api/v1/alerts/<int:alert_id>/acknowledge", O, {}),
    Route("GET", "api/v1/queues/<str:queue_id>/messages", V),
    Route("POST", "api/v1/queues/<str:queue_id>/messages", V, {"limit": 1}),  # Redis: reading is free
    Route("GET", "api/v1/queues/<str:queue_id>/messages/<path:message_id>/raw", O),
    Route("POST", "api/v1/queues/<str:queue_id>/messages/<path:message_id>/raw", O, {}),
    Route("POST", "api/v1/queues/<str:queue_id>/messages/<path:message_id>/edit", O, {"args": [], "kwargs": {}}),
    Route("GET", "api/v1/queues/<str:queue_id>/search", V),
    Route("POST", "api/v1/queues/<str:queue_id>/search", V, {"task": "x"}),  # Redis: reading is free
    Route("GET", "api/v1/queues/<str:queue_id>/export", O),
    Route("POST", "api/v1/queues/<str:queue_id>/export", O, {"task": "x"}),
    Route("POST", "api/v1/queues/<str:queue_id>/requeue", O, {"ids": ["no-such-message"], "target": "x"}),
    Route("POST", "api/v1/queues/<str:queue_id>/move", O, {"ids": ["no-such-message"]}),
    Route("POST", "api/v1/queues/<str:queue_id>/delete", A, {}),
    Route("POST", "api/v1/queues/<str:queue_id>/purge", A, {"confirm": "not-the-name"}),
    Route("GET", "api/v1/actions", V),
    Route("GET", "api/v1/actions/<str:action_id>", V),
    Route("POST", "api/v1/actions/<str:action_id>/cancel", O, {}),
    Route("POST", "api/v1/actions/<str:action_id>/resume", O, {}),
    Route("GET", "api/v1/audit", V),
    Route("GET", "api/v1/health", V),
    Route("GET", "api/v1/workers", V),
    Route("GET", "api/v1/workers/<text:hostname>", V),
    Route("POST", "api/v1/workers/<text:hostname>/control", A, {"command": "no_such_command"}),
    Route("GET", "api/v1/workers/<text:hostname>/control", V),  # a worker named ".../control"
    Route("GET", "api/v1/events", V),
    Route("GET", "api/v1/tasks", V),
    Route("GET", "api/v1/tasks/<text:task_id>", V),
    Route("POST", "api/v1/tasks/<text:task_id>/revoke", O, {"terminate": "not-a-bool"}),
    Route("GET", "api/v1/tasks/<text:task_id>/revoke", V),  # a task whose id ends in "/revoke"
    Route("GET", "api/v1/journeys/<text:task_id>", V),
    Route("GET", "api/v1/tasks/duplicates", V),
    Route("GET", "metrics", V),
    Route("GET", "api/schema/", V),
    Route("GET", "docs/api/", V),
    # --- pages -------------------------------------------------------------------------------------
    Route("GET", "", V),
    Route("GET", "queues/<int:queue_id>/", V),
    Route("GET", "alerts/", V),
    Route("GET", "alerts/rules/", V),
    Route("POST", "alerts/rules/", A, {"name": ""}),
    Route("GET", "alerts/rules/<int:rule_id>/", V),
    Route("POST", "alerts/rules/<int:rule_id>/", A, {"metric": "no-such-metric"}),
    Route("GET", "alerts/<int:alert_id>/", V),
    Route("POST", "alerts/<int:alert_id>/acknowledge", O, {}),
    Route("GET", "queues/<int:queue_id>/messages/", V),
    Route("POST", "queues/<int:queue_id>/messages/", V, {"offset": "0"}),  # Redis: reading is free
    Route("GET", "queues/<int:queue_id>/actions/", V),
    Route("POST", "queues/<int:queue_id>/messages/edit/", O, {"message_id": "x", "args": "[", "kwargs": "{}"}),
    Route("GET", "queues/<int:queue_id>/messages/search/", V),
    Route("POST", "queues/<int:queue_id>/messages/search/", V, {"task": "x"}),  # Redis: reading is free
    Route("POST", "queues/<int:queue_id>/actions/<int:action_id>/cancel/", O, {}),
    Route("POST", "queues/<int:queue_id>/act/", O, {"kind": "requeue", "selection": "all"}, "kind=requeue"),
    Route("POST", "queues/<int:queue_id>/act/", O, {"kind": "move", "selection": "all"}, "kind=move"),
    Route("POST", "queues/<int:queue_id>/act/", A, {"kind": "delete", "confirm_name": "wrong"}, "kind=delete"),
    Route("POST", "queues/<int:queue_id>/act/", A, {"kind": "purge", "confirm_name": "wrong"}, "kind=purge"),
    Route("GET", "audit/", V),
    Route("GET", "brokers/<str:broker>/in-flight/", V),
    Route("GET", "brokers/<str:broker>/map", V),
    Route("POST", "brokers/<str:broker>/in-flight/restore/", O, {"tag": "no-such-tag", "confirm": "yes"}),
    Route("POST", "brokers/<str:broker>/in-flight/close/", A, {"connection": "no-such-connection"}),
    Route("GET", "tasks/", V),
    Route("GET", "tasks/<text:task_id>/", V),
    Route("POST", "tasks/<text:task_id>/revoke/", O, {}),
    Route("GET", "journeys/<text:task_id>/", V),
    Route("GET", "workers/", V),
    Route("GET", "workers/<str:broker>/<text:hostname>/", V),
    Route("POST", "workers/<str:broker>/<text:hostname>/control/", A, {"command": "no_such_command"}),
    Route("GET", "account/tokens/", V),
    Route("POST", "account/tokens/<int:token_id>/revoke/", V, {}),
    Route("GET", "account/password/", V),
    Route("POST", "account/password/", V, {"old_password": "wrong"}),
    Route("GET", "users/", A),
    Route("POST", "users/", A, {"username": "", "role": "viewer"}),
    Route("GET", "users/<int:user_id>/", A),
    Route("POST", "users/<int:user_id>/role/", A, {"role": "no-such-role"}),
    Route("POST", "users/<int:user_id>/password/", A, {"password": "short"}),
    Route("POST", "users/<int:user_id>/active/", A, {"active": "maybe"}),
    Route("POST", "users/<int:user_id>/tokens/", A, {"label": "x" * 101}),
    Route("POST", "users/<int:user_id>/tokens/<int:token_id>/revoke/", A, {}),
    Route("GET", "favicon.ico", PUBLIC),  # a redirect to the static icon, asked for by any page
    Route("GET", "login/", PUBLIC),
    Route("PUT", "login/", PUBLIC, {"username": "nobody", "password": "wrong"}),
    Route("POST", "login/", PUBLIC, {"username": "nobody", "password": "wrong"}),
    Route("POST", "logout/", PUBLIC, {}),
]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def url_patterns() -> list[tuple[str, Any]]:
    """Every (pattern, callback) of the URL conf, prefixes joined."""
    found: list[tuple[str, Any]] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append((prefix + str(entry.pattern), entry.callback))

    walk(get_resolver().url_patterns, "")
    return found


def view_methods(callback) -> set[str]:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return set()
    methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
    return methods - {"OPTIONS", "HEAD"}


def test_every_route_and_method_is_in_the_table():
    table = {(r.method, r.pattern) for r in TABLE}
    patterns = {p for _, p in table}
    missing = []
    for pattern, callback in url_patterns():
        if pattern not in patterns:
            missing.append(f"/{pattern} (no row at all)")
            continue
        for method in view_methods(callback):
            if (method, pattern) not in table:
                missing.append(f"{method} /{pattern}")
    assert not missing, f"routes with no minimum role in the permission table: {missing}"


def test_every_schema_operation_is_in_the_table():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    table = {(r.method, _schema_path(r.pattern)) for r in TABLE}
    missing = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete") and (method.upper(), path) not in table
    ]
    assert schema["paths"] and not missing, f"schema operations not in the permission table: {missing}"


def _schema_path(pattern: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


# --- fixtures: real objects so every route resolves -------------------------------------------------


@pytest.fixture
def world(redis_broker, make_user, settings):  # noqa: F811
    from console.models import ApiToken

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # five users per test
    from messaging.models import Action, Alert, AlertRule, TaskRecord, Worker

    config, redis_client, prefix = redis_broker
    queue = make_queue("main", "perm-" + uuid.uuid4().hex[:8], depth=1)
    task_id = str(uuid.uuid4())
    push(redis_client, prefix + queue.name, [celery_envelope(queue.name, task_id=task_id)])
    now = timezone.now()
    rule = AlertRule.objects.create(name="perm-rule", metric="depth", threshold=100)
    alert = Alert.objects.create(
        rule=rule,
        rule_name=rule.name,
        metric="depth",
        severity="warning",
        fingerprint=uuid.uuid4().hex[:16],
        state=Alert.FIRING,
        started_at=now,
        fired_at=now,
        labels={"broker": "main", "queue": queue.name},
    )
    action = Action.objects.create(
        kind=Action.REQUEUE, state=Action.SUCCEEDED, username="someone", broker="main", queue=queue,
        queue_name=queue.name, finished_at=now,
    )  # fmt: skip
    worker = Worker.objects.create(broker="main", hostname=f"celery@perm-{uuid.uuid4().hex[:6]}", last_heartbeat=now)
    task = TaskRecord.objects.create(
        task_id=task_id, broker="main", name="app.tasks.work", state="SUCCESS", queue=queue.name,
        created_at=now - timedelta(seconds=5), updated_at=now,
    )  # fmt: skip
    users = {role: make_user(None if role == "norole" else role) for role in ROLES if role != "anonymous"}
    own_tokens = {role: ApiToken.objects.filter(user=user).first().pk for role, (user, _) in users.items()}
    return {
        "queue": queue,
        "rule": rule,
        "alert": alert,
        "action": action,
        "worker": worker,
        "task": task,
        "users": users,
        "own_tokens": own_tokens,
        "message_id": task_id,
    }


def concrete(route: Route, world: dict, role: str) -> str:
    values = {
        "broker": "main",
        "queue_id": str(world["queue"].pk),
        "rule_id": str(world["rule"].pk),
        "alert_id": str(world["alert"].pk),
        "message_id": world["message_id"],
        "action_id": str(world["action"].pk),
        "hostname": world["worker"].hostname,
        "task_id": world["task"].task_id,
        "token_id": str(world["own_tokens"].get(role if role != "anonymous" else "viewer")),
        "user_id": str(world["users"]["viewer"][0].pk),
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route.pattern)


def request(client: Client, route: Route, path: str, token: str | None):
    kwargs: dict[str, Any] = {}
    if token:
        kwargs["HTTP_AUTHORIZATION"] = f"Token {token}"
    method = route.method.lower()
    if route.method in UNSAFE:
        if route.is_api:
            kwargs.update(data=json.dumps(route.data), content_type="application/json")
        else:
            kwargs.update(data=route.data)
    return getattr(client, method)(path, **kwargs)


def expected_ok(route: Route, role: str) -> bool:
    if route.minimum == PUBLIC:
        return True
    return role in RANK and RANK[role] >= RANK[route.minimum]


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("route", TABLE, ids=str)
def test_route_answers_each_role_as_the_contract_says(route, world):
    for role in ROLES:
        client = Client()
        token = None
        if role != "anonymous":
            user, token = world["users"][role]
            if not route.is_api:
                client.force_login(user)
                token = None
        if route.pattern == "login/" and role != "anonymous":
            continue  # a logged-in user is sent onwards; the login form itself is public
        response = request(client, route, concrete(route, world, role), token)
        status = response.status_code
        assert status < 500, f"{route} as {role}: {status} {response.content[:300]!r}"
        if route.minimum == PUBLIC:
            continue
        if role == "anonymous":
            if route.is_api:
                assert status == 401, f"{route} anonymous: {status}"
            else:
                assert status == 302 and response["Location"].startswith("/login/"), f"{route} anonymous: {status}"
        elif not expected_ok(route, role):
            assert status == 403, f"{route} as {role} (needs {route.minimum}): {status}"
        else:
            assert status not in (401, 403), f"{route} as {role}: {status} {response.content[:300]!r}"
            assert status < 300 or status in (302, 400, 404, 409), f"{route} as {role}: {status}"


# Where reading changes the broker (RabbitMQ get-and-requeue) browsing is an operator action
# (docs/api.md "Browsing messages"); the API rows use tokens, the page rows sessions. A viewer's page GET
# explains instead of browsing; an operator's offers a POST form (never browses).
CONSUMING_BROWSE: list[Route] = [
    Route("GET", "api/v1/queues/<str:queue_id>/messages", O, variant="rabbitmq"),
    Route("POST", "api/v1/queues/<str:queue_id>/messages", O, {"limit": 1}, "rabbitmq"),
    Route("GET", "api/v1/queues/<str:queue_id>/messages/<path:message_id>/raw", O, variant="rabbitmq"),
    Route("POST", "api/v1/queues/<str:queue_id>/messages/<path:message_id>/raw", O, {}, "rabbitmq"),
    Route("GET", "queues/<int:queue_id>/messages/", V, variant="rabbitmq"),
    Route("POST", "queues/<int:queue_id>/messages/", O, {"offset": "0"}, "rabbitmq"),
]


@pytest.fixture
def rabbit_world(world, rabbit_vhost):
    """``world`` with its queue a classic RabbitMQ queue holding the same Celery message."""
    import amqp

    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import current_config, set_config

    name = "perm-" + uuid.uuid4().hex[:8]
    connection = amqp.Connection(
        host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=rabbit_vhost.name
    )
    connection.connect()
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True, auto_delete=False)
        headers = {"task": "app.tasks.work", "id": world["message_id"]}
        channel.basic_publish(amqp.Message("[[1], {}, {}]", application_headers=headers), exchange="", routing_key=name)
    finally:
        connection.close()
    rabbit = BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url)
    set_config(SwitchyardConfig(brokers=(*current_config().brokers, rabbit)))
    return {**world, "queue": make_queue("rabbit", name, depth=1, vhost=rabbit_vhost.name)}


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("route", CONSUMING_BROWSE, ids=str)
def test_consuming_browse_answers_each_role_as_the_contract_says(route, rabbit_world):
    test_route_answers_each_role_as_the_contract_says(route, rabbit_world)


@pytest.mark.parametrize("route", [r for r in CONSUMING_BROWSE if r.method in UNSAFE], ids=str)
def test_consuming_browse_without_csrf_token_is_refused(route, rabbit_world):
    test_session_call_without_csrf_token_is_refused(route, rabbit_world)


@pytest.mark.parametrize("route", [r for r in TABLE if r.method in UNSAFE and r.minimum != PUBLIC], ids=str)
def test_session_call_without_csrf_token_is_refused(route, world):
    """As admin (who may do everything), so a 403 can only be the CSRF check."""
    user, _ = world["users"]["admin"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = request(client, route, concrete(route, world, "admin"), None)
    assert response.status_code == 403, f"{route} without CSRF: {response.status_code}"
    if route.is_api:
        assert response.json()["error"] in ("permission_denied", "forbidden", "csrf_failed")


def test_session_call_with_csrf_token_passes(world):
    user, _ = world["users"]["operator"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    path = f"/api/v1/alerts/{world['alert'].pk}/acknowledge"
    response = client.post(path, data="{}", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content


def test_login_form_needs_csrf_too(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_every_row_of_the_table_is_a_route_the_url_conf_serves():
    """The reverse of the coverage check: a row left behind by a removed or renamed route, or naming
    a method its view does not answer, is tested against a 404 or 405 (which a public row accepts
    as an answer, and which elsewhere reads as a permission bug); a row listed twice means one of
    the two minimum roles was meant for something else."""
    served = dict(url_patterns())
    rows = TABLE + CONSUMING_BROWSE
    stale = [str(row) for row in rows if row.pattern not in served]
    unserved_method = [
        str(row) for row in rows if (methods := view_methods(served.get(row.pattern))) and row.method not in methods
    ]
    listed = Counter((row.method, row.pattern, row.variant) for row in rows)
    twice = [" ".join(key) for key, count in listed.items() if count > 1]
    assert (stale, unserved_method, twice) == ([], [], [])

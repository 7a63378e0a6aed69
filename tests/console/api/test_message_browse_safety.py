"""The message browser is safe (issue 19 items 1, 2, 5): against the real RabbitMQ and Redis.

1. Browsing that changes the broker (RabbitMQ get-and-requeue) is an operator POST with CSRF: a
   viewer, or a cross-site GET riding an operator's session cookie, cannot make the console take
   a message, and on a quorum queue with a delivery limit the operator must accept the risk.
2. ``offset + limit`` is bounded per broker and one browse runs at a time per user.
5. A lone surrogate in a header or argument does not break the list, the page or the socket.
"""

from __future__ import annotations

import json
import time
import uuid

import amqp
import pytest
from django.core.cache import cache
from django.test import Client

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.process_config import set_config
from tests.action_helpers import celery_envelope, make_queue, push, redis_broker  # noqa: F401  (fixture)

DELIVERY_LIMIT = 3
MESSAGES = 5


def celery_amqp_message(task_id: str, args: list | None = None, headers: dict | None = None) -> amqp.Message:
    """A Celery protocol 2 message as Kombu publishes it on RabbitMQ: ``eta``, ``expires`` and
    friends are AMQP void (None), which the management API renders as ``"undefined"``."""
    return amqp.Message(
        json.dumps([args if args is not None else [1], {}, {"callbacks": None, "errbacks": None}]),
        content_type="application/json",
        content_encoding="utf-8",
        application_headers={
            "lang": "py", "task": "app.tasks.work", "id": task_id, "eta": None, "expires": None,
            "group": None, "retries": 0, "root_id": task_id, "parent_id": None, "origin": "gen1@test",
            **(headers or {}),
        },
    )  # fmt: skip


def publish(vhost: str, queue: str, messages: list[amqp.Message], arguments: dict | None = None) -> None:
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False, arguments=arguments or {})
        for message in messages:
            channel.basic_publish(message, exchange="", routing_key=queue)
    finally:
        connection.close()


def ready(vhost: str, queue: str) -> int:
    """Messages ready in the queue, straight from RabbitMQ (a passive declare changes nothing)."""
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    try:
        return connection.channel().queue_declare(queue, passive=True).message_count
    finally:
        connection.close()


@pytest.fixture
def quorum(rabbit_vhost, make_user, settings):
    """A quorum queue with ``x-delivery-limit: 3`` holding five Celery messages, configured as
    broker ``rabbit``, and one user per role."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    name = "browse-" + uuid.uuid4().hex[:6]
    ids = [str(uuid.uuid4()) for _ in range(MESSAGES)]
    publish(
        rabbit_vhost.name,
        name,
        [celery_amqp_message(task_id) for task_id in ids],
        {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT},
    )
    broker = BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url)
    set_config(SwitchyardConfig(brokers=(broker,)))
    queue = make_queue("rabbit", name, depth=MESSAGES, vhost=rabbit_vhost.name)
    users = {role: make_user(role) for role in ("viewer", "operator", "admin")}
    yield queue, rabbit_vhost.name, ids, users
    set_config(None)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")
    return client, client.cookies["csrftoken"].value


# --- 1. side-effecting browse is an operator POST ------------------------------------------------


def test_viewer_cannot_drop_quorum_messages_by_browsing(quorum):
    """Four viewer browses used to take and requeue every message four times: RabbitMQ dropped
    them all (delivery limit 3) and then reported 0."""
    queue, vhost, _, users = quorum
    user, token = users["viewer"]
    page_client = Client(raise_request_exception=False)
    page_client.force_login(user)
    api = Client(raise_request_exception=False)
    answers = []
    for _ in range(DELIVERY_LIMIT + 1):
        answers.append(api.get(f"/api/v1/queues/{queue.pk}/messages", HTTP_AUTHORIZATION=f"Token {token}"))
        answers.append(page_client.get(f"/queues/{queue.pk}/messages/?browse=1"))
        answers.append(
            api.post(
                f"/api/v1/queues/{queue.pk}/messages", {"limit": 50}, "application/json",
                HTTP_AUTHORIZATION=f"Token {token}",
            )
        )  # fmt: skip
    assert ready(vhost, queue.name) == MESSAGES, "a viewer's browse took messages"
    api_get, page, api_post = answers[:3]
    assert api_get.status_code == 403 and api_post.status_code == 403, (api_get.content, api_post.content)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="browse-viewer-note"' in html and "operator action" in html
    assert "message-row" not in html and "browse-button" not in html
    assert "<form" not in html  # nothing offered to a viewer


def test_a_cross_site_get_with_an_operator_cookie_takes_nothing(quorum):
    """A top-level GET from another site carries the SameSite=Lax session cookie: neither the
    page nor the API may browse RabbitMQ on it."""
    queue, vhost, ids, users = quorum
    operator = logged_in(users["operator"][0])
    for _ in range(DELIVERY_LIMIT + 1):
        api = operator.get(f"/api/v1/queues/{queue.pk}/messages?limit=50")
        assert api.status_code == 405, api.content
        assert "POST" in api.json()["detail"]
        page = operator.get(f"/queues/{queue.pk}/messages/?browse=1")
        assert page.status_code == 200 and "message-row" not in page.content.decode()
        raw = operator.get(f"/api/v1/queues/{queue.pk}/messages/{ids[0]}/raw")
        assert raw.status_code == 405
    assert ready(vhost, queue.name) == MESSAGES
    html = page.content.decode()
    # The operator is offered a POST form with CSRF that says what the browse changes.
    form = html.split('id="browse-form"', 1)[1]
    assert 'name="csrfmiddlewaretoken"' in form and "redelivered" in form and "delivery count" in form
    assert 'name="accept_delivery_limit_risk"' in form and f"more than {DELIVERY_LIMIT} times" in form


def test_operator_browse_of_a_quorum_queue_needs_the_risk_accepted(quorum):
    from messaging.models import AuditEntry

    queue, vhost, ids, users = quorum
    user, token = users["operator"]
    client, csrf = csrf_client(user)
    path = f"/api/v1/queues/{queue.pk}/messages"
    without_csrf = client.post(path, {"limit": 10}, "application/json")
    assert without_csrf.status_code == 403
    refused = client.post(path, {"limit": 10}, "application/json", HTTP_X_CSRFTOKEN=csrf)
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"] == "delivery_limit_risk" and str(DELIVERY_LIMIT) in refused.json()["detail"]
    assert not AuditEntry.objects.filter(action="browse", queue=queue.name).exists()
    accepted = client.post(
        path, {"limit": 10, "accept_delivery_limit_risk": True}, "application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert accepted.status_code == 200, accepted.content
    page = accepted.json()
    assert [m["id"] for m in page["results"]] == ids and page["count"] == MESSAGES
    effects = page["browse"]
    assert effects["taken_and_requeued"] == MESSAGES and effects["delivery_limit"] == DELIVERY_LIMIT
    assert effects["queue_type"] == "quorum" and effects["highest_delivery_count"] == 0
    assert any("redelivered" in change for change in effects["changes"])
    # A token GET answers like the POST (scripts), with the same consent.
    by_token = Client().get(path + "?accept_delivery_limit_risk=1", HTTP_AUTHORIZATION=f"Token {token}")
    assert by_token.status_code == 200 and by_token.json()["browse"]["highest_delivery_count"] == 1
    assert ready(vhost, queue.name) == MESSAGES
    audit = list(AuditEntry.objects.filter(action="browse", queue=queue.name).order_by("id"))
    assert [a.username for a in audit] == [user.username] * 2
    assert audit[0].params["taken_and_requeued"] == MESSAGES and audit[0].params["accepted_delivery_limit_risk"]


def test_operator_page_browse_is_a_post_that_states_what_it_did(quorum):
    queue, vhost, ids, users = quorum
    client, csrf = csrf_client(users["operator"][0])
    path = f"/queues/{queue.pk}/messages/"
    assert client.post(path, {"offset": 0}).status_code == 403  # no CSRF token
    refused = client.post(path, {"offset": 0, "csrfmiddlewaretoken": csrf}).content.decode()
    assert "message-row" not in refused and "Could not browse" in refused and "accept_delivery_limit_risk" in refused
    browsed = client.post(path, {"offset": 0, "accept_delivery_limit_risk": "on", "csrfmiddlewaretoken": csrf})
    html = browsed.content.decode()
    assert browsed.status_code == 200 and html.count('class="message-row"') == MESSAGES
    assert 'id="browse-done"' in html and f"took and requeued {MESSAGES} messages" in html
    assert "undefined" not in html  # Celery's void eta header (issue 12 defect 7)
    assert ready(vhost, queue.name) == MESSAGES


def test_redis_browse_stays_free_for_viewers(redis_broker, make_user):  # noqa: F811
    config, client, prefix = redis_broker
    queue = make_queue("main", "free-" + uuid.uuid4().hex[:6], depth=2)
    push(client, prefix + queue.name, [celery_envelope(queue.name) for _ in range(2)])
    user, token = make_user("viewer")
    api = Client().get(f"/api/v1/queues/{queue.pk}/messages", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200 and api.json()["count"] == 2 and api.json()["browse"] is None
    post = Client().post(
        f"/api/v1/queues/{queue.pk}/messages", {"limit": 1}, "application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert post.status_code == 200 and len(post.json()["results"]) == 1
    page = logged_in(user).get(f"/queues/{queue.pk}/messages/")
    assert page.content.decode().count('class="message-row"') == 2


# --- 2. the window is bounded ---------------------------------------------------------------------


def test_huge_offset_is_refused_before_anything_is_taken(quorum):
    """``?limit=1&offset=10000000`` used to take and requeue the whole queue into the console's
    memory (7.6 s, 446 MB for a large queue); now it is a 400 that touches nothing."""
    from messaging.models import AuditEntry

    queue, vhost, _, users = quorum
    _, token = users["operator"]
    started = time.monotonic()
    answer = Client().get(
        f"/api/v1/queues/{queue.pk}/messages?limit=1&offset=10000000&accept_delivery_limit_risk=1",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert answer.status_code == 400, answer.content
    assert "at most 1000" in answer.json()["detail"]
    assert time.monotonic() - started < 2
    for body in ({"limit": 1, "offset": 1000}, {"limit": 201}, {"offset": -1}):
        post = Client().post(
            f"/api/v1/queues/{queue.pk}/messages", {**body, "accept_delivery_limit_risk": True}, "application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )  # fmt: skip
        assert post.status_code == 400, (body, post.content)
    viewer = Client().get(
        f"/api/v1/queues/{queue.pk}/messages?limit=1&offset=10000000", HTTP_AUTHORIZATION=f"Token {users['viewer'][1]}"
    )
    assert viewer.status_code == 403
    assert not AuditEntry.objects.filter(action="browse", queue=queue.name).exists()
    assert ready(vhost, queue.name) == MESSAGES


def test_page_offset_beyond_the_window_is_refused(quorum):
    queue, vhost, _, users = quorum
    client, csrf = csrf_client(users["operator"][0])
    answer = client.post(
        f"/queues/{queue.pk}/messages/",
        {"offset": 10_000_000, "accept_delivery_limit_risk": "on", "csrfmiddlewaretoken": csrf},
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and "Could not browse" in html and "at most 1000" in html
    assert "message-row" not in html
    assert ready(vhost, queue.name) == MESSAGES


def test_one_browse_at_a_time_per_user(redis_broker, make_user):  # noqa: F811
    config, client, prefix = redis_broker
    queue = make_queue("main", "busy-" + uuid.uuid4().hex[:6], depth=1)
    push(client, prefix + queue.name, [celery_envelope(queue.name)])
    user, token = make_user("operator")
    _, other = make_user("operator")
    path = f"/api/v1/queues/{queue.pk}/messages"
    slot = f"switchyard:browse-in-flight:{user.pk}"
    assert cache.add(slot, 1, timeout=30)  # as a browse of this user still running holds it
    try:
        busy = Client().get(path, HTTP_AUTHORIZATION=f"Token {token}")
        assert busy.status_code == 429 and busy["Retry-After"] and "still running" in busy.json()["detail"]
        assert Client().get(path, HTTP_AUTHORIZATION=f"Token {other}").status_code == 200
    finally:
        cache.delete(slot)
    assert Client().get(path, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert cache.get(slot) is None  # released after the browse


# --- 5. a lone surrogate breaks nothing ---------------------------------------------------------


def test_lone_surrogate_header_on_redis_is_listed_for_every_role(redis_broker, make_user):  # noqa: F811
    config, client, prefix = redis_broker
    queue = make_queue("main", "sur-" + uuid.uuid4().hex[:6], depth=2)
    envelope = json.loads(celery_envelope(queue.name, args=["\udfff"]))
    envelope["headers"]["x"] = "\udfff"
    envelope["headers"]["\ud800key"] = "ok \ud83d\ude00"
    # json.dumps writes the lone surrogate as the escape \udfff, as a hostile publisher can.
    push(client, prefix + queue.name, [json.dumps(envelope).encode(), celery_envelope(queue.name)])
    for role in ("viewer", "operator", "admin"):
        user, token = make_user(role)
        api = Client().get(f"/api/v1/queues/{queue.pk}/messages", HTTP_AUTHORIZATION=f"Token {token}")
        assert api.status_code == 200, (role, api.content[:300])
        api.content.decode("utf-8")
        hostile = api.json()["results"][0]
        assert hostile["headers"]["x"] == "\ufffd" and hostile["headers"]["\ufffdkey"] == "ok \U0001f600"
        if role != "viewer":
            assert hostile["args"] == ["\ufffd"]
        page = logged_in(user).get(f"/queues/{queue.pk}/messages/")
        assert page.status_code == 200, role
        assert page.content.decode("utf-8").count('class="message-row"') == 2


def test_lone_surrogate_in_rabbitmq_arguments_is_listed(quorum):
    queue, vhost, _, users = quorum
    # The management API already turns invalid header bytes into U+FFFD; a JSON body can still
    # carry the escape.
    hostile = amqp.Message(
        '[["\\udfff"], {"k": "\\ud800"}, {}]',
        content_type="application/json",
        application_headers={"task": "app.tasks.work", "id": "sur-" + uuid.uuid4().hex, "x": "\udfff"},
    )
    publish(vhost, queue.name, [hostile], {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT})
    user, token = users["operator"]
    api = Client().post(
        f"/api/v1/queues/{queue.pk}/messages", {"limit": 10, "accept_delivery_limit_risk": True}, "application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )  # fmt: skip
    assert api.status_code == 200, api.content[:300]
    last = api.json()["results"][-1]
    assert last["args"] == ["\ufffd"] and last["kwargs"] == {"k": "\ufffd"}
    client, csrf = csrf_client(user)
    page = client.post(
        f"/queues/{queue.pk}/messages/", {"accept_delivery_limit_risk": "on", "csrfmiddlewaretoken": csrf}
    )
    assert page.status_code == 200 and page.content.decode("utf-8").count('class="message-row"') == MESSAGES + 1


def test_raw_download_of_a_rabbitmq_message_is_a_consented_post(quorum):
    from messaging.models import AuditEntry

    queue, vhost, ids, users = quorum
    client, csrf = csrf_client(users["operator"][0])
    path = f"/api/v1/queues/{queue.pk}/messages/{ids[2]}/raw"
    assert client.post(path, {"position": "2"}).status_code == 403  # no CSRF token
    refused = client.post(path, {"position": "2", "csrfmiddlewaretoken": csrf})
    assert refused.status_code == 409 and refused.json()["error"] == "delivery_limit_risk"
    download = client.post(path, {"position": "2", "accept_delivery_limit_risk": "on", "csrfmiddlewaretoken": csrf})
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert json.loads(download.content)[0] == [1]
    entry = AuditEntry.objects.get(action="browse", queue=queue.name)
    assert entry.params == {"raw_download": True, "taken_and_requeued": 3}
    assert ready(vhost, queue.name) == MESSAGES

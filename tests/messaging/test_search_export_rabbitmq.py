"""Search, export and edit-then-requeue on real RabbitMQ, where reading takes and requeues: every
message stays in its queue, the browse window bounds the read and the answer says so."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.test import Client

from messaging.actions.runner import run_action
from messaging.brokers.rabbitmq import RabbitMQBroker
from messaging.models import Action, AuditEntry
from tests.action_helpers import make_queue, rabbit_vhost, unique_name  # noqa: F401  (fixture)
from tests.messaging.test_rabbitmq_requeue import connect, drain_ids, publish_dead_letters

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dead_letters(rabbit_vhost, tokens):
    config, vhost = rabbit_vhost
    name = unique_name("orders")
    ids = publish_dead_letters(vhost, name, name + ".dlq", 30)
    source = make_queue("rabbit", name, vhost=vhost)
    dlq = make_queue("rabbit", name + ".dlq", dlq_of=source, vhost=vhost)
    return vhost, ids, source, dlq, tokens


def ready(vhost, queue) -> int:
    conn = connect(vhost)
    try:
        return conn.channel().queue_declare(queue, passive=True).message_count
    finally:
        conn.close()


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def get(client, path, token, **params):
    return client.get("/api/v1/" + path, params, HTTP_AUTHORIZATION=f"Token {token}")


def test_export_leaves_every_message_in_place_and_is_audited(dead_letters, client):
    vhost, ids, source, dlq, tokens = dead_letters
    lines = rows(get(client, f"queues/{dlq.pk}/export", tokens["operator"]))
    assert [line["id"] for line in lines[:-1]] == ids
    summary = lines[-1]["summary"]
    assert summary["consumed"] and summary["taken_and_requeued"] == 30 and not summary["truncated"]
    assert ready(vhost, dlq.name) == 30
    assert AuditEntry.objects.get(action="export", queue=dlq.name).params["exported"] == 30
    assert AuditEntry.objects.filter(action="browse", queue=dlq.name).exists()
    # A session must POST (CSRF): a GET with side effects is refused; viewers may not at all.
    session = Client()
    session.force_login(_operator())
    assert session.get(f"/api/v1/queues/{dlq.pk}/export").status_code == 405
    posted = rows(session.post(f"/api/v1/queues/{dlq.pk}/export", {"exception": "nothing-like-this"}))
    assert posted[-1]["summary"]["exported"] == 0 and posted[-1]["summary"]["scanned"] == 30
    assert get(client, f"queues/{dlq.pk}/export", tokens["viewer"]).status_code == 403
    assert get(client, f"queues/{dlq.pk}/search", tokens["viewer"], task="app.work").status_code == 403
    assert sorted(drain_ids(vhost, dlq.name)) == sorted(ids)


def _operator():
    from django.contrib.auth import get_user_model

    from console.roles import set_role

    user = get_user_model().objects.create_user(username=unique_name("op"), password="correct-horse-9")
    set_role(user, "operator")
    return user


def test_export_and_search_beyond_the_browse_window_say_they_were_truncated(dead_letters, client, monkeypatch):
    vhost, ids, source, dlq, tokens = dead_letters
    small = dataclasses.replace(RabbitMQBroker.capabilities, max_browse_window=10)
    monkeypatch.setattr(RabbitMQBroker, "capabilities", small)
    lines = rows(get(client, f"queues/{dlq.pk}/export", tokens["operator"]))
    assert [line["id"] for line in lines[:-1]] == ids[:10]
    summary = lines[-1]["summary"]
    assert summary["truncated"] and (summary["scanned"], summary["total"]) == (10, 30)
    assert "browse window 10" in summary["reason"]
    found = rows(get(client, f"queues/{dlq.pk}/search", tokens["operator"], task_id=ids[20]))
    assert found[-1]["summary"]["said"].startswith("scanned 10 of 30, 0 matched")
    assert ready(vhost, dlq.name) == 30


def test_search_on_rabbitmq_then_edit_one_message_and_requeue_it(dead_letters, client):
    vhost, ids, source, dlq, tokens = dead_letters
    found = rows(get(client, f"queues/{dlq.pk}/search", tokens["operator"], task_id=ids[4]))
    assert [r["message"]["task_id"] for r in found[:-1]] == [ids[4]]
    response = client.post(
        f"/api/v1/queues/{dlq.pk}/messages/{ids[4]}/edit",
        json.dumps({"args": [2], "kwargs": {"fixed": True}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {tokens['operator']}",
    )
    assert response.status_code == 202, response.content
    action = run_action(response.json()["id"])
    assert action.state == Action.SUCCEEDED and action.done == 1, action.error
    conn = connect(vhost)
    try:
        message = conn.channel().basic_get(source.name, no_ack=True)
    finally:
        conn.close()
    assert json.loads(message.body) == [[2], {"fixed": True}, {}]
    headers = message.properties["application_headers"]
    assert headers["id"] == ids[4] and headers["x-switchyard-edit-diff"] == "args[0] changed; kwargs.fixed added"
    assert sorted(drain_ids(vhost, dlq.name)) == sorted(set(ids) - {ids[4]})


def test_page_search_on_rabbitmq_is_an_operators_post(dead_letters, make_user):
    vhost, ids, source, dlq, tokens = dead_letters
    operator, viewer = Client(), Client()
    operator.force_login(_operator())
    viewer.force_login(make_user("viewer")[0])
    url = f"/queues/{dlq.pk}/messages/search/"
    assert operator.get(url, {"task_id": ids[3]}).status_code == 403  # a GET never takes messages
    assert viewer.post(url, {"task_id": ids[3]}).status_code == 403
    found = operator.post(url, {"task_id": ids[3]}).content.decode()
    assert "Scanned 30 of 30, 1 matched." in found and ids[3] in found
    assert "took and requeued 30 messages" in found
    assert ready(vhost, dlq.name) == 30

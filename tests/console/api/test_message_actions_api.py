"""The message and action API over HTTP: roles, validation, hostile messages, audit."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

from tests.action_helpers import (
    celery_envelope,
    death_record,
    make_queue,
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
    unique_name,
)

HOSTILE_TEXT = "<script>alert('x')</script>"


def envelope(body: bytes, content_type: str, headers: dict | None = None, encoding: str = "binary") -> bytes:
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": encoding,
            "content-type": content_type,
            "headers": headers or {},
            "properties": {"body_encoding": "base64", "delivery_tag": unique_name("tag"), "priority": 0},
        }
    ).encode()


@pytest.fixture
def api_setup(redis_broker, tokens, client, live_console_off):
    config, redis_client, prefix = redis_broker
    name = unique_name("jobs")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    return redis_client, prefix, source, dlq, tokens


@pytest.fixture
def live_console_off():
    return None


def call(client, method, path, token, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)("/api/v1/" + path, **kwargs)


def test_viewer_gets_403_on_every_action_and_sees_no_bodies(api_setup, client):
    redis_client, prefix, source, dlq, tokens = api_setup
    push(
        redis_client,
        prefix + dlq.name,
        [
            celery_envelope(
                source.name,
                args=["secret-arg"],
                kwargs={"pw": "hunter2"},
                death=death_record(source.name, message="secret in error"),
            )
        ],
    )
    viewer = tokens["viewer"]
    for path, body in [
        ("requeue", {"all": True}),
        ("move", {"all": True, "target": source.name}),
        ("delete", {"ids": ["x"]}),
        ("purge", {"confirm": dlq.name}),
    ]:
        assert call(client, "post", f"queues/{dlq.pk}/{path}", viewer, body).status_code == 403, path
    page = call(client, "get", f"queues/{dlq.pk}/messages", viewer).json()
    assert page["count"] == 1
    message = page["results"][0]
    assert message["args"] is None and message["kwargs"] is None and message["body"] is None
    assert "argsrepr" not in message["headers"] and "kwargsrepr" not in message["headers"]
    assert "secret" not in json.dumps(page) and "hunter2" not in json.dumps(page)
    assert message["death"]["queue"] == source.name and message["death"]["exception_type"] == "ValueError"
    raw = client.get(f"/api/v1/queues/{dlq.pk}/messages/{message['id']}/raw", HTTP_AUTHORIZATION=f"Token {viewer}")
    assert raw.status_code == 403
    # Operators see everything; they may requeue but not delete or purge.
    operator = tokens["operator"]
    full = call(client, "get", f"queues/{dlq.pk}/messages", operator).json()["results"][0]
    assert full["args"] == ["secret-arg"] and full["kwargs"] == {"pw": "hunter2"}
    assert call(client, "post", f"queues/{dlq.pk}/delete", operator, {"ids": [full["id"]]}).status_code == 403
    assert call(client, "post", f"queues/{dlq.pk}/purge", operator, {"confirm": dlq.name}).status_code == 403


def test_purge_with_wrong_confirmation_is_400_and_removes_nothing(api_setup, client):
    redis_client, prefix, source, dlq, tokens = api_setup
    push(redis_client, prefix + dlq.name, [celery_envelope(source.name) for _ in range(5)])
    for confirm in (None, "", dlq.name + " ", "wrong"):
        response = call(client, "post", f"queues/{dlq.pk}/purge", tokens["admin"], {"confirm": confirm})
        assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert redis_client.llen(prefix + dlq.name) == 5
    from messaging.models import Action

    assert not Action.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": True, "ids": ["a"]},
        {"all": "yes"},
        {"ids": []},
        {"ids": [1]},
        {"filter": {"colour": "red"}},
        {"filter": {"older_than_s": -1}},
        {"all": True, "rate": 0},
        {"all": True, "dry_run": "no"},
        {"all": True, "target": "nowhere-at-all"},
        [1, 2],
    ],
)
def test_bad_requeue_requests_are_400(api_setup, client, body):
    redis_client, prefix, source, dlq, tokens = api_setup
    response = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], body)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"error", "detail"}


def test_move_needs_a_target(api_setup, client):
    _, _, _, dlq, tokens = api_setup
    assert call(client, "post", f"queues/{dlq.pk}/move", tokens["operator"], {"all": True}).status_code == 400


def test_hostile_messages_are_listed_safely_moved_and_deleted(api_setup, client):
    from messaging.actions.runner import run_action

    redis_client, prefix, source, dlq, tokens = api_setup
    hostile = {HOSTILE_TEXT: HOSTILE_TEXT, "task": HOSTILE_TEXT, "id": HOSTILE_TEXT}
    values = [
        b"not json at all \x00\xff" + HOSTILE_TEXT.encode(),  # not an envelope
        envelope(b"\x00\x01\x02\xff" * 10, "application/octet-stream"),  # binary
        envelope(pickle.dumps({"evil": "would run on unpickle"}), "application/x-python-serialize"),
        envelope(HOSTILE_TEXT.encode() * 3, "text/html", headers=hostile, encoding="utf-8"),
        envelope(b"[" + b"1," * (5 * 1024 * 1024) + b"1]", "application/json", encoding="utf-8"),  # ~10 MB
        envelope(json.dumps({"task": HOSTILE_TEXT, "id": "v1", "args": [HOSTILE_TEXT], "kwargs": {}}).encode(),
                 "application/json", encoding="utf-8"),
    ]  # fmt: skip
    push(redis_client, prefix + dlq.name, values)
    page = call(client, "get", f"queues/{dlq.pk}/messages?limit=10", tokens["operator"])
    assert page.status_code == 200
    results = page.json()["results"]
    assert page.json()["count"] == 6 and [m["position"] for m in results] == list(range(6))
    kinds = [m["body_encoding"] for m in results]
    assert kinds[1] == "base64" and kinds[2] == "base64"
    assert results[2]["content_type"] == "application/x-python-serialize"
    assert results[4]["size_bytes"] > 10_000_000 and len(results[4]["body"]) <= 256 * 1024
    assert results[5]["task"] == HOSTILE_TEXT and results[5]["args"] == [HOSTILE_TEXT]
    # The whole 10 MB is there for operators who ask for it.
    raw = client.get(
        f"/api/v1/queues/{dlq.pk}/messages/{results[4]['id']}/raw?position=4",
        HTTP_AUTHORIZATION=f"Token {tokens['operator']}",
    )
    assert (
        raw.status_code == 200 and len(b"".join(raw.streaming_content) if raw.streaming else raw.content) > 10_000_000
    )
    # Move two of them by id, delete the rest of them by id.
    ids = [m["id"] for m in results]
    moved = call(client, "post", f"queues/{dlq.pk}/move", tokens["operator"], {"ids": ids[:3], "target": source.name})
    assert moved.status_code == 202, moved.content
    action = run_action(moved.json()["id"])
    assert action.done == 3, action.error
    assert sorted(redis_client.lrange(prefix + source.name, 0, -1)) != []
    assert redis_client.lrange(prefix + source.name, 0, -1)[-1] == values[0]  # foreign bytes kept exactly
    deleted = call(client, "post", f"queues/{dlq.pk}/delete", tokens["admin"], {"ids": ids[3:]})
    assert deleted.status_code == 202
    assert run_action(deleted.json()["id"]).done == 3
    assert redis_client.llen(prefix + dlq.name) == 0 and redis_client.llen(prefix + source.name) == 3


def test_action_state_cancel_and_audit_over_http(api_setup, client):
    redis_client, prefix, source, dlq, tokens = api_setup
    push(
        redis_client,
        prefix + dlq.name,
        [celery_envelope(source.name, death=death_record(source.name)) for _ in range(3)],
    )
    accepted = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], {"all": True, "dry_run": True})
    assert accepted.status_code == 202
    action = accepted.json()
    assert {"id", "kind", "state", "user", "broker", "queue", "target", "requested", "done", "failed", "error",
            "created_at", "finished_at"} <= set(action)  # fmt: skip
    assert action["state"] == "pending" and action["requested"] == 3 and action["target"] == source.name
    detail = call(client, "get", f"actions/{action['id']}", tokens["viewer"])
    assert detail.status_code == 200 and detail.json()["id"] == action["id"]
    assert call(client, "post", f"actions/{action['id']}/cancel", tokens["viewer"]).status_code == 403
    cancelled = call(client, "post", f"actions/{action['id']}/cancel", tokens["operator"])
    assert cancelled.json()["state"] == "cancelled"
    assert call(client, "post", f"actions/{action['id']}/cancel", tokens["operator"]).status_code == 409
    assert call(client, "get", "actions/99999999", tokens["viewer"]).status_code == 404
    audit = call(client, "get", "audit?limit=5", tokens["viewer"]).json()
    assert audit["count"] >= 2
    newest = audit["results"][0]
    assert newest["action"] == "requeue.cancel" and newest["queue"] == dlq.name
    assert {"id", "at", "user", "action", "broker", "queue", "params", "outcome"} == set(newest)
    assert audit["results"][1]["action"] == "requeue.dry_run"
    assert task_ids_in(redis_client, prefix + source.name) == []


def test_stuck_in_flight_message_is_listed_and_restored_to_the_consuming_end(api_setup, client):
    import time

    from messaging.models import AuditEntry

    redis_client, prefix, source, dlq, tokens = api_setup
    from messaging.models import BrokerState

    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://")
    push(redis_client, prefix + source.name, [celery_envelope(source.name)])  # waiting, older than the stuck one
    stuck = json.loads(celery_envelope(source.name))
    tag = stuck["properties"]["delivery_tag"]
    redis_client.hset(prefix + "unacked", tag, json.dumps([stuck, "", source.name]))
    redis_client.zadd(prefix + "unacked_index", {tag: time.time() - 600})
    listed = call(client, "get", "brokers/main/in-flight?older_than_s=300", tokens["viewer"]).json()
    assert [(i["tag"], i["queue"], i["task_id"]) for i in listed] == [(tag, source.name, stuck["headers"]["id"])]
    assert listed[0]["age_s"] >= 599
    assert call(client, "post", "brokers/main/in-flight/restore", tokens["viewer"], {"tags": [tag]}).status_code == 403
    restored = call(client, "post", "brokers/main/in-flight/restore", tokens["operator"], {"tags": [tag, "gone-tag"]})
    assert restored.json() == {"restored": {tag: source.name}, "gone": ["gone-tag"], "errors": {}}
    assert redis_client.hlen(prefix + "unacked") == 0 and redis_client.zcard(prefix + "unacked_index") == 0
    next_out = json.loads(redis_client.lindex(prefix + source.name, -1))
    assert next_out["headers"]["id"] == stuck["headers"]["id"] and next_out["headers"]["redelivered"] is True
    assert AuditEntry.objects.filter(action="in_flight.restore", broker="main").exists()


def test_an_operation_the_transport_cannot_do_is_409_unsupported(api_setup, client):
    """The contract: a transport that cannot do an action answers 409 with the reason."""
    from messaging.models import BrokerState

    *_, tokens = api_setup
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://127.0.0.1:6379/0")
    response = call(client, "post", "brokers/main/connections/close", tokens["admin"], {"connection": "127.0.0.1:1"})
    assert response.status_code == 409, response.content
    assert response.json()["error"] == "unsupported"
    assert "cannot close client connections" in response.json()["detail"]

"""Browsing and acting on SQS queues through the API and the action runner, against moto:
browse gives every message back at once, redrive moves without loss, FIFO keeps group order,
delete takes only the chosen, purge honours SQS's once-a-minute limit, roles and unknown ids."""

from __future__ import annotations

import json

import pytest

from messaging.actions.runner import run_action
from tests.action_helpers import make_queue


def call(client, method, path, token, body=None):
    kwargs = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)("/api/v1/" + path, **kwargs)


def kombu_body(task_id: str, queue: str) -> str:
    """A Celery task as Kombu's SQS transport sends it: the envelope, base64."""
    import base64

    body = base64.b64encode(json.dumps([[1], {}, {}]).encode()).decode()
    envelope = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": "billing.charge", "id": task_id, "retries": 0},
        "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "", "routing_key": queue}},
    }
    return base64.b64encode(json.dumps(envelope).encode()).decode()


def task_ids(messages):
    from messaging.brokers.sqs.messages import raw_message

    return [raw_message(m, "q", 0).headers.get("id") for m in messages]


@pytest.fixture
def redrive(sqs_space, tokens):
    """A source queue dead-lettering into its DLQ (maxReceiveCount 5), stored as the monitor would."""
    dlq_name, source_name = sqs_space.name("jobs-dlq"), sqs_space.name("jobs")
    sqs_space.create("jobs-dlq")
    sqs_space.create("jobs", dlq_of=dlq_name, max_receive_count=5)
    source = make_queue("aws", source_name)
    dlq = make_queue("aws", dlq_name, dlq_of=source)
    return sqs_space, source, dlq, tokens


def test_browse_gives_every_message_back_at_once(redrive, client):
    sqs, source, dlq, tokens = redrive
    ids = [f"task-{i}" for i in range(12)]
    sqs.send(dlq.name, [kombu_body(i, source.name) for i in ids])
    answer = call(client, "post", f"queues/{dlq.pk}/messages", tokens["operator"], {"limit": 12})
    assert answer.status_code == 200, answer.content
    page = answer.json()
    assert sorted(m["task_id"] for m in page["results"]) == sorted(ids)
    assert {m["task"] for m in page["results"]} == {"billing.charge"}
    assert page["browse"]["taken_and_requeued"] == 12
    assert any("ApproximateReceiveCount" in change for change in page["browse"]["changes"])
    # Visible again at once: a consumer receives all twelve now, not after a visibility timeout.
    assert sorted(task_ids(sqs.drain(dlq.name))) == sorted(ids)


def test_browsing_a_source_queue_needs_the_receive_count_risk_accepted(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(source.name, [kombu_body("t-1", source.name)])
    refused = call(client, "post", f"queues/{source.pk}/messages", tokens["operator"], {"limit": 5})
    assert refused.status_code == 409 and "5 times" in refused.json()["detail"]
    assert sqs.attributes(source.name)["ApproximateNumberOfMessages"] == "1"
    accepted = call(
        client, "post", f"queues/{source.pk}/messages", tokens["operator"],
        {"limit": 5, "accept_delivery_limit_risk": True},
    )  # fmt: skip
    assert accepted.status_code == 200 and accepted.json()["browse"]["delivery_limit"] == 5
    assert accepted.json()["results"][0]["headers"]["x-sqs-approximate-receive-count"] == 1


def test_viewer_cannot_browse_or_redrive_and_unknown_queue_is_404(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(dlq.name, [kombu_body("t-1", source.name)])
    viewer = tokens["viewer"]
    assert call(client, "post", f"queues/{dlq.pk}/messages", viewer, {"limit": 5}).status_code == 403
    for path, body in [
        ("requeue", {"all": True}),
        ("move", {"all": True, "target": source.name}),
        ("delete", {"ids": ["t-1"]}),
        ("purge", {"confirm": dlq.name}),
    ]:
        assert call(client, "post", f"queues/{dlq.pk}/{path}", viewer, body).status_code == 403, path
    assert call(client, "post", "queues/999999/requeue", tokens["operator"], {"all": True}).status_code == 404
    assert sqs.attributes(dlq.name)["ApproximateNumberOfMessages"] == "1"


def test_redrive_all_returns_every_message_to_its_source_with_provenance(redrive, client):
    sqs, source, dlq, tokens = redrive
    ids = [f"task-{i}" for i in range(25)]
    sqs.send(dlq.name, [kombu_body(i, source.name) for i in ids])
    accepted = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], {"all": True})
    assert accepted.status_code == 202, accepted.content
    final = run_action(accepted.json()["id"])
    assert (final.state, final.done, final.failed, final.duplicated) == ("succeeded", 25, 0, 0)
    moved = sqs.drain(source.name)
    assert sorted(task_ids(moved)) == sorted(ids)
    from messaging.brokers.sqs.messages import raw_message

    headers = raw_message(moved[0], source.name, 0).headers
    assert headers["x-switchyard-requeued-from"] == dlq.name and headers["x-switchyard-action"] == final.pk
    assert sqs.drain(dlq.name) == []


def test_dry_run_and_filtered_move_leave_the_rest_visible(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(dlq.name, [kombu_body(f"keep-{i}", source.name) for i in range(5)])
    dry = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], {"all": True, "dry_run": True})
    assert run_action(dry.json()["id"]).done == 5
    chosen = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], {"ids": ["keep-1", "keep-3"]})
    assert run_action(chosen.json()["id"]).done == 2
    # The three left were made visible again when the run ended: receivable now.
    assert sorted(task_ids(sqs.drain(dlq.name))) == ["keep-0", "keep-2", "keep-4"]
    assert sorted(task_ids(sqs.drain(source.name))) == ["keep-1", "keep-3"]


def test_delete_selected_takes_only_those(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(dlq.name, [kombu_body(f"d-{i}", source.name) for i in range(6)])
    deleted = call(client, "post", f"queues/{dlq.pk}/delete", tokens["admin"], {"ids": ["d-0", "d-5"]})
    assert deleted.status_code == 202, deleted.content
    assert run_action(deleted.json()["id"]).done == 2
    assert sorted(task_ids(sqs.drain(dlq.name))) == ["d-1", "d-2", "d-3", "d-4"]


def test_fifo_move_keeps_order_within_each_message_group(sqs_space, tokens, client):
    sqs_space.create("in.fifo", fifo=True)
    sqs_space.create("out.fifo", fifo=True)
    source = make_queue("aws", sqs_space.name("in.fifo"))
    make_queue("aws", sqs_space.name("out.fifo"))
    url = sqs_space.url(source.name)
    for i in range(15):
        for group in ("a", "b"):
            sqs_space.client.send_message(
                QueueUrl=url, MessageBody=f"{group}-{i:02d}", MessageGroupId=group, MessageDeduplicationId=f"{group}{i}"
            )
    moved = call(
        client,
        "post",
        f"queues/{source.pk}/move",
        tokens["operator"],
        {"all": True, "target": sqs_space.name("out.fifo")},
    )
    assert run_action(moved.json()["id"]).done == 30
    arrived = sqs_space.drain(sqs_space.name("out.fifo"))
    for group in ("a", "b"):
        bodies = [m["Body"] for m in arrived if m["Attributes"]["MessageGroupId"] == group]
        assert bodies == [f"{group}-{i:02d}" for i in range(15)]


def test_purge_twice_within_a_minute_is_refused_saying_when(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(dlq.name, ["x", "y"])
    first = call(client, "post", f"queues/{dlq.pk}/purge", tokens["admin"], {"confirm": dlq.name})
    assert first.status_code == 202 and run_action(first.json()["id"]).state == "succeeded"
    assert sqs.drain(dlq.name) == []
    again = call(client, "post", f"queues/{dlq.pk}/purge", tokens["admin"], {"confirm": dlq.name})
    assert again.status_code == 409 and "retry after" in again.json()["detail"]


def test_a_purge_sqs_itself_refuses_fails_with_the_reason(redrive, client):
    sqs, source, dlq, tokens = redrive
    sqs.send(dlq.name, ["x"])
    sqs.client.purge_queue(QueueUrl=sqs.url(dlq.name))  # outside Switchyard: SQS starts its minute
    accepted = call(client, "post", f"queues/{dlq.pk}/purge", tokens["admin"], {"confirm": dlq.name, "count": 1})
    final = run_action(accepted.json()["id"])
    assert final.state == "failed" and "one PurgeQueue per queue every 60 seconds" in final.error
    assert not final.interrupted


def test_the_move_task_fast_path_is_tried_and_refused_on_moto_then_messages_move_by_hand(redrive):
    """moto answers StartMessageMoveTask with a 500: detected at run time, and the redrive falls
    back to receive/send/delete (the provenance headers above show it ran)."""
    from messaging.brokers.moves import BulkMove, MovePlan
    from messaging.brokers.registry import broker_for
    from messaging.brokers.sqs import move_task
    from messaging.brokers.sqs.move_session import SQSMoveSession

    sqs, source, dlq, _ = redrive
    move_task._refused.clear()
    plan = MovePlan(
        source=dlq.name, target=source.name, budget=1, selector=lambda m: True, bulk=BulkMove({}, by_origin=True)
    )
    with broker_for(sqs.config) as broker:
        assert move_task.wanted(plan) and move_task.start(broker, plan) is None
        session = broker.open_move(plan)
        assert isinstance(session, SQSMoveSession)
        session.close()


def test_queue_page_offers_the_browse_saying_what_it_changes_on_sqs(redrive, client, make_user):
    from django.urls import reverse

    sqs, source, dlq, _ = redrive
    client.force_login(make_user("operator")[0])
    offer = client.get(reverse("queue-messages", args=[source.pk])).content.decode()
    assert 'id="browse-form"' in offer and "ApproximateReceiveCount" in offer
    assert 'id="accept-delivery-limit-risk"' in offer and "maxReceiveCount" in offer
    # The DLQ has no RedrivePolicy of its own: no receive-count risk to accept.
    dlq_offer = client.get(reverse("queue-messages", args=[dlq.pk])).content.decode()
    assert 'id="browse-form"' in dlq_offer and 'id="accept-delivery-limit-risk"' not in dlq_offer


def test_real_dead_letters_go_back_to_their_source(sqs_space, tokens, client):
    """Messages SQS itself dead-lettered (received past maxReceiveCount 3 by a consumer) are
    redriven: receives are not deaths, each message died once."""
    dlq_name, source_name = sqs_space.name("work-dlq"), sqs_space.name("work")
    sqs_space.create("work-dlq")
    url = sqs_space.create("work", dlq_of=dlq_name, max_receive_count=3)
    sqs_space.send(source_name, [kombu_body(f"dead-{i}", source_name) for i in range(4)])
    for _ in range(4):  # a consumer that fails every time: three receives, then SQS dead-letters
        for message in sqs_space.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs_space.client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    assert sqs_space.attributes(dlq_name)["ApproximateNumberOfMessages"] == "4"
    source = make_queue("aws", source_name)
    dlq = make_queue("aws", dlq_name, dlq_of=source)
    accepted = call(client, "post", f"queues/{dlq.pk}/requeue", tokens["operator"], {"all": True})
    final = run_action(accepted.json()["id"])
    assert (final.state, final.done) == ("succeeded", 4)
    assert sorted(task_ids(sqs_space.drain(source_name))) == [f"dead-{i}" for i in range(4)]

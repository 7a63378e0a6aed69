"""Search and export reach SQS through the same adapter interface (moto server): reading receives
and gives back at once, so every message stays; an edit is refused where the adapter cannot."""

from __future__ import annotations

import json

from tests.messaging.sqs.test_sqs_actions import kombu_body, redrive, task_ids  # noqa: F401  (fixture)


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_search_and_export_on_sqs_leave_every_message_and_edit_is_refused(redrive, client):
    sqs, source, dlq, tokens = redrive
    ids = [f"task-{i}" for i in range(12)]
    sqs.send(dlq.name, [kombu_body(i, source.name) for i in ids])
    auth = {"HTTP_AUTHORIZATION": f"Token {tokens['operator']}"}
    exported = lines(client.get(f"/api/v1/queues/{dlq.pk}/export", **auth))
    assert sorted(row["id"] for row in exported[:-1]) == sorted(ids)
    assert exported[-1]["summary"]["consumed"] and exported[-1]["summary"]["exported"] == 12
    found = lines(client.get(f"/api/v1/queues/{dlq.pk}/search", {"task_id": "task-7"}, **auth))
    assert [row["message"]["task_id"] for row in found[:-1]] == ["task-7"]
    edit = client.post(
        f"/api/v1/queues/{dlq.pk}/messages/task-7/edit",
        json.dumps({"args": [2], "kwargs": {}}),
        content_type="application/json",
        **auth,
    )
    assert edit.status_code == 409 and "cannot publish an edited message" in edit.content.decode()
    assert sorted(task_ids(sqs.drain(dlq.name))) == sorted(ids)

"""Search and export reach a Kafka dead-letter topic through the same adapter interface: a plain
read, every group's committed offsets unchanged; Spring's death record is searchable."""

from __future__ import annotations

import json

from tests.action_helpers import make_queue
from tests.messaging.kafka.replay_helpers import group_offsets, kafka_broker  # noqa: F401  (fixture)
from tests.messaging.kafka.test_kafka_browse import dead_letter_topic  # noqa: F401  (fixture)


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_search_and_export_a_dead_letter_topic_without_moving_any_offset(
    kafka_broker, dead_letter_topic, client, tokens
):
    source, dlt, group = dead_letter_topic
    before = group_offsets(group)
    make_queue("events", source)
    queue = make_queue("events", dlt, depth=10, dlq_of=None)
    auth = {"HTTP_AUTHORIZATION": f"Token {tokens['operator']}"}
    found = lines(client.get(f"/api/v1/queues/{queue.pk}/search", {"exception_message": "card 4111"}, **auth))
    assert len(found) == 7 and found[-1]["summary"]["said"] == "scanned 10 of 10, 6 matched"
    assert all(row["message"]["death"]["queue"] == source for row in found[:-1])
    connect = lines(client.get(f"/api/v1/queues/{queue.pk}/search", {"exception": "DataException"}, **auth))
    assert [row["message"]["partition"] for row in connect[:-1]] == [1, 1, 1, 1]
    exported = lines(client.get(f"/api/v1/queues/{queue.pk}/export", **auth))
    assert len(exported) == 11 and exported[-1]["summary"]["exported"] == 10
    assert exported[0]["message"]["death"]["exception_type"] == "java.lang.IllegalStateException"
    assert group_offsets(group) == before

"""Browsing a Kafka topic reads without side effects: no group's committed offsets change, no
group of Switchyard's is left behind; Spring's and Connect's headers are the death record; viewers
see no keys or values."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from messaging.brokers.kafka import browse
from tests.action_helpers import make_queue
from tests.messaging.kafka.replay_helpers import (
    KAFKA,
    create_topics,
    group_offsets,
    kafka_broker,  # noqa: F401  (fixture)
    list_groups,
    produce,
    topic_name,
)
from tests.messaging.kafka.test_kafka_dead_letters import connect_headers


def stored(headers: dict) -> list[tuple[str, bytes]]:
    return [(name, str(value).encode()) for name, value in headers.items()]


@pytest.fixture
def dead_letter_topic():
    """A 2-partition DLT: partition 0 holds 6 Spring dead letters, partition 1 holds 4 Kafka Connect
    ones; a consumer group of the application committed offsets on it (p0: 3, p1: 1)."""
    source = topic_name("payments")
    dlt = source + ".DLT"
    create_topics(source)
    create_topics(dlt, partitions=2)
    spring = [
        ("kafka_dlt-original-topic", source.encode()),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"card 4111 refused"),
    ]
    produce(
        dlt,
        [{"value": json.dumps({"n": i}).encode(), "key": f"k{i}".encode(), "headers": spring} for i in range(6)],
        partition=0,
    )
    connect = stored(connect_headers(source))
    produce(dlt, [{"value": b"\x00\xffraw", "key": b"\x01\x02", "headers": connect} for _ in range(4)], partition=1)
    group = topic_name("app-group")
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(dlt, 0, 3), TopicPartition(dlt, 1, 1)], asynchronous=False)
    consumer.close()
    return source, dlt, group


def test_browsing_every_way_leaves_every_groups_offsets_unchanged(kafka_broker, dead_letter_topic):
    source, dlt, group = dead_letter_topic
    before_groups = list_groups()
    before = group_offsets(group)
    assert before == {(dlt, 0): 3, (dlt, 1): 1}

    count, oldest = browse.peek(kafka_broker, dlt, 0, 50)
    assert count == 10 and [(m.properties["partition"], m.properties["offset"]) for m in oldest][:7] == [
        (0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 0),
    ]  # fmt: skip
    _, skipped = browse.peek(kafka_broker, dlt, 5, 2)
    assert [(m.properties["partition"], m.properties["offset"], m.position) for m in skipped] == [(0, 5, 5), (1, 0, 6)]
    newest = browse.browse_partition(kafka_broker, dlt, 0, limit=2)
    assert [m.position for m in newest] == [4, 5]
    assert [m.position for m in browse.browse_partition(kafka_broker, dlt, 1, from_offset=2)] == [2, 3]
    stamp = oldest[3].properties["record_timestamp"]
    from_time = browse.browse_partition(kafka_broker, dlt, 0, from_time=stamp, limit=10)
    assert from_time and from_time[0].position <= 3 and from_time[-1].position == 5
    assert browse.browse_partition(kafka_broker, dlt, 0, from_time=time.time() + 3600) == []

    assert group_offsets(group) == before
    left = {g for g in list_groups() - before_groups if g.startswith("switchyard.")}
    assert not left, f"browsing left groups behind: {left}"


def call(client, path, token):
    return client.get("/api/v1/" + path, HTTP_AUTHORIZATION=f"Token {token}")


def test_the_api_shows_the_death_record_and_hides_keys_and_values_from_viewers(
    kafka_broker, dead_letter_topic, client, tokens
):
    source, dlt, group = dead_letter_topic
    before = group_offsets(group)
    make_queue("events", source)
    queue = make_queue("events", dlt, depth=10, dlq_of=None)

    page = call(client, f"queues/{queue.pk}/messages?limit=10", tokens["operator"]).json()
    assert page["count"] == 10 and page["browse"] is None
    spring, connect = page["results"][0], page["results"][6]
    assert (spring["key"], spring["partition"], spring["offset"], spring["body"]) == ("k0", 0, 0, '{"n": 0}')
    assert spring["death"]["queue"] == source and spring["death"]["exception_message"] == "card 4111 refused"
    assert spring["death"]["exception_type"] == "java.lang.IllegalStateException"
    assert spring["id"] == "0:0" and isinstance(spring["timestamp"], float)
    assert connect["death"]["reason"] == "failed in jdbc-sink (VALUE_CONVERTER)"
    assert connect["body_encoding"] == "base64" and connect["key"] == "0x0102"

    seen = call(client, f"queues/{queue.pk}/messages?limit=10", tokens["viewer"])
    assert seen.status_code == 200
    for message in seen.json()["results"]:
        assert message["key"] is None and message["body"] is None
        assert message["death"]["exception_message"] is None and message["death"]["exception_type"]
    assert "4111" not in seen.content.decode()
    assert group_offsets(group) == before


def test_the_api_reads_one_partition_newest_from_an_offset_or_from_a_time(
    kafka_broker, dead_letter_topic, client, tokens
):
    source, dlt, group = dead_letter_topic
    before = group_offsets(group)
    queue = make_queue("events", dlt, depth=10)
    operator = tokens["operator"]

    def offsets(query, token=operator):
        response = call(client, f"queues/{queue.pk}/messages?{query}", token)
        assert response.status_code == 200, response.content
        return [(m["partition"], m["offset"]) for m in response.json()["results"]]

    assert offsets("partition=0&limit=2") == [(0, 4), (0, 5)]
    assert offsets("partition=1&from_offset=2") == [(1, 2), (1, 3)]
    assert offsets("partition=1&from_time=1") == [(1, 0), (1, 1), (1, 2), (1, 3)]
    assert offsets("partition=1&from_time=99999999999") == []
    viewer = call(client, f"queues/{queue.pk}/messages?partition=0&limit=1", tokens["viewer"]).json()["results"]
    assert viewer[0]["key"] is None and viewer[0]["body"] is None and viewer[0]["offset"] == 5
    assert call(client, f"queues/{queue.pk}/messages?from_offset=2", operator).status_code == 400
    assert call(client, f"queues/{queue.pk}/messages?partition=7", operator).status_code in (404, 409)
    assert group_offsets(group) == before


def test_the_queue_page_shows_partition_offset_and_key_to_operators_only(
    kafka_broker, dead_letter_topic, client, make_user
):
    source, dlt, group = dead_letter_topic
    queue = make_queue("events", dlt, depth=10)
    operator, _ = make_user("operator")
    client.force_login(operator)
    page = client.get(f"/queues/{queue.pk}/messages/").content.decode()
    assert 'data-field="record-place">0 @ 0<' in page and 'data-field="record-key">k0<' in page
    assert "card 4111 refused" in page
    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    page = client.get(f"/queues/{queue.pk}/messages/").content.decode()
    assert 'data-field="record-place">0 @ 0<' in page
    assert 'data-field="record-key"' not in page and "4111" not in page

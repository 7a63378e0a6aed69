"""Kafka rows through the console against the real Tansu broker: topics and consumer groups in
the queue list with kind/topic/group/status, the detail's partitions, internal topics hidden,
the client's SASL password never shown, and a dead Kafka broker reported down."""

from __future__ import annotations

import logging
import time

import pytest

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.conftest import free_port, unique
from tests.messaging.kafka.monitoring_helpers import (
    KAFKA,
    Group,
    create_topic,
    delete_created_topics,
    name,
    produce,
)
from tests.waiting import wait_for

SECRET = "s3cret-" + "kafka-sasl-pw"


@pytest.fixture(autouse=True)
def _delete_topics():
    yield
    delete_created_topics()


def rows(console, token, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = console.api(f"/api/v1/queues?{query}", token)
    assert response.status_code == 200, response.content
    return {row["name"]: row for row in response.json()}


@pytest.mark.browser
def test_topics_and_consumer_groups_as_rows_with_partitions_and_no_secret_anywhere(
    live_console, tokens, logged_in_page, caplog
):
    caplog.set_level(logging.DEBUG)
    topic, group_id, internal, broker = name(), name("g"), f"__{name()}", unique("kafka")
    create_topic(topic, partitions=2)
    create_topic(internal)
    minute_ago = int((time.time() - 60) * 1000)
    produce(topic, 0, 4, [minute_ago + i for i in range(4)])
    group = Group(group_id, topic)
    try:
        group.consume(1)
    finally:
        group.close()
    config = BrokerConfig(
        name=broker,
        url=f"kafka://{KAFKA}",
        client={"sasl.username": "svc", "sasl.password": SECRET},
    )
    console = live_console(SwitchyardConfig(brokers=(config,)))
    viewer = tokens["viewer"]
    key = f"{group_id}@{topic}"
    row = wait_for(
        lambda: (
            (r := rows(console, viewer, broker=broker, kind="consumer-group").get(key))
            and r["oldest_age_s"] is not None
            and r
        ),
        timeout=60,
        message="the consumer-group row with its lag as time",
    )
    assert (row["kind"], row["topic"], row["group"], row["depth"]) == ("consumer-group", topic, group_id, 3)
    assert row["consumers"] == 0 and row["status"] == "no members"
    assert row["oldest_age_s"] >= 59 and row["oldest_age_exact"] is True

    topics = rows(console, viewer, broker=broker, kind="topic")
    assert topics[topic]["depth"] == 4 and topics[topic]["group"] is None and topics[topic]["status"] is None
    assert key not in topics and internal not in topics  # internal topics hidden by default
    assert internal in rows(console, viewer, broker=broker, kind="topic", system="true")

    detail = console.api(f"/api/v1/queues/{row['id']}", viewer).json()
    assert [(p["partition"], p["committed"], p["lag"]) for p in detail["partitions"]] == [(0, 1, 3), (1, None, None)]
    assert detail["partitions"][0]["lag_timestamp"] == pytest.approx((minute_ago + 1) / 1000, abs=0.001)
    assert console.api("/api/v1/queues?kind=exchange", viewer).status_code == 400

    brokers = console.api("/api/v1/brokers", viewer)
    assert broker in brokers.text and SECRET not in brokers.text
    page = logged_in_page(console, "viewer")
    page.goto(f"{console.url}/queues/{row['id']}/")
    assert page.locator("#queue-partitions tbody tr").count() == 2
    assert page.locator("[data-field='status']").inner_text() == "no members"
    for path in ("/", f"/queues/{row['id']}/"):
        page.goto(console.url + path)
        assert SECRET not in page.content()
    assert SECRET not in caplog.text


def test_a_dead_kafka_broker_is_reported_down_not_hung(live_console, tokens):
    broker = unique("kafka")
    config = BrokerConfig(name=broker, url=f"kafka://127.0.0.1:{free_port()}")
    console = live_console(SwitchyardConfig(brokers=(config,)))
    state = wait_for(
        lambda: next(
            (
                b
                for b in console.api("/api/v1/brokers", tokens["viewer"]).json()
                if b["name"] == broker and b["status"] == "down"
            ),
            None,
        ),
        timeout=30,
        message="the dead Kafka broker reported down",
    )
    assert state["transport"] == "kafka" and "kafka" in state["error"]

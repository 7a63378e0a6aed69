"""Kafka dead-letter topics: each recognition rule (names, configuration, Spring's and Kafka
Connect's headers), their precedence, and the death record the headers give."""

from __future__ import annotations

from messaging import decoding
from messaging.brokers.base import BrokerConfig, RawMessage
from messaging.brokers.kafka import KafkaBroker
from messaging.brokers.kafka.dead_letters import dead_letter_topics, source_by_name
from messaging.dead_letter_headers import header_value
from tests.messaging.kafka.replay_helpers import KAFKA, create_topics, produce, topic_name
from tests.waiting import wait_for


def test_each_name_rule_names_the_source_only_when_it_exists():
    topics = {"orders", "orders.DLT", "billing", "billing-dlt", "mail", "mail.dlq", "sms", "dlq.sms", "lonely.DLT"}
    assert dead_letter_topics(topics) == {
        "orders": "orders.DLT",
        "billing": "billing-dlt",
        "mail": "mail.dlq",
        "sms": "dlq.sms",
    }
    assert source_by_name("lonely.DLT", topics) is None
    assert source_by_name(".DLT", {""}) is None


def test_configuration_beats_names_and_headers_beat_configuration():
    topics = ["orders", "orders.DLT", "orders-failures", "orders-poison"]
    configured = {"orders": "orders-failures"}
    assert dead_letter_topics(topics, configured) == {"orders": "orders-failures"}
    origins = {"orders-poison": "orders"}
    assert dead_letter_topics(topics, configured, origins) == {"orders": "orders-poison"}
    # Never its own DLT, never a topic that does not exist.
    assert dead_letter_topics(["a"], {"a": "a", "b": "a.DLT"}, {"a": "a"}) == {}


def raw_with(headers: dict) -> RawMessage:
    return RawMessage(
        raw=b"{}", position=0, queue="t.DLT", body=b'{"card": "4111"}', headers=headers,
        properties={"key": b"customer-7", "partition": 1, "offset": 42, "record_timestamp": 1_700_000_000.5},
        content_type=None, content_encoding=None,
    )  # fmt: skip


def spring_headers(topic: str, offset: int = 17) -> dict:
    stored = [
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", (2).to_bytes(4, "big")),
        ("kafka_dlt-original-offset", offset.to_bytes(8, "big")),
        ("kafka_dlt-original-timestamp", (1_700_000_000_000).to_bytes(8, "big")),
        ("kafka_dlt-original-consumer-group", b"billing-app"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"card 4111 refused"),
        ("kafka_dlt-exception-stacktrace", b"at Billing.charge(Billing.java:42)"),
    ]
    return {name: header_value(name, value) for name, value in stored}


def connect_headers(topic: str) -> dict:
    return {
        "__connect.errors.topic": topic,
        "__connect.errors.partition": "0",
        "__connect.errors.offset": "99",
        "__connect.errors.connector.name": "jdbc-sink",
        "__connect.errors.stage": "VALUE_CONVERTER",
        "__connect.errors.exception.class.name": "org.apache.kafka.connect.errors.DataException",
        "__connect.errors.exception.message": "bad row 4111",
    }


def test_spring_headers_are_the_death_record_and_the_requeue_target():
    message = decoding.decode(raw_with(spring_headers("payments")))
    death = message.death
    assert (death.queue, death.partition, death.offset) == ("payments", 2, 17)
    assert death.exception_type == "java.lang.IllegalStateException"
    assert death.exception_message == "card 4111 refused" and death.time == 1_700_000_000.0
    assert death.reason == "failed in consumer group billing-app"
    assert (message.key, message.partition, message.offset, message.timestamp) == ("customer-7", 1, 42, 1_700_000_000.5)
    assert decoding.dead_lettered_from(raw_with(spring_headers("payments"))) == "payments"


def test_connect_headers_are_the_death_record_and_viewers_see_no_key_value_or_exception_text():
    message = decoding.decode(raw_with(connect_headers("rows")))
    assert (message.death.queue, message.death.partition, message.death.offset) == ("rows", 0, 99)
    assert message.death.reason == "failed in jdbc-sink (VALUE_CONVERTER)"
    seen = message.for_role(False).as_dict()
    assert seen["key"] is None and seen["body"] is None
    assert "4111" not in repr(seen)
    assert seen["death"]["exception_type"] == "org.apache.kafka.connect.errors.DataException"
    assert seen["headers"]["__connect.errors.topic"] == "rows"


def test_a_sampling_round_marks_sources_by_name_and_by_the_newest_records_headers():
    by_name, spring_source, connect_source = topic_name("orders"), topic_name("pay"), topic_name("rows")
    spring_dlt, connect_dlt, late_dlt = topic_name("pay-failures"), topic_name("rows-errors"), topic_name("late")
    create_topics(by_name, by_name + ".DLT", spring_source, connect_source, spring_dlt, connect_dlt, late_dlt)
    spring_stored = [
        ("kafka_dlt-original-topic", spring_source.encode()),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
    ]
    produce(spring_dlt, [{"value": b"{}", "headers": spring_stored}])
    produce(connect_dlt, [{"value": b"{}", "headers": [("__connect.errors.topic", connect_source.encode())]}])
    names = {by_name, by_name + ".DLT", spring_source, connect_source, spring_dlt, connect_dlt, late_dlt}
    expected = {by_name: by_name + ".DLT", spring_source: spring_dlt, connect_source: connect_dlt}

    def marked(broker: KafkaBroker) -> dict:
        rows = broker.sample().queues
        return {row.name: row.dead_letter_queue for row in rows if row.name in names and row.dead_letter_queue}

    with KafkaBroker(BrokerConfig(name="events", url=f"kafka://{KAFKA}")) as broker:
        wait_for(lambda: marked(broker) == expected, timeout=20, message="every rule applied")
        # A topic checked while empty is checked again once it has a record.
        produce(late_dlt, [{"value": b"{}", "headers": [("__connect.errors.topic", by_name.encode())]}])
        expected[by_name] = late_dlt
        wait_for(lambda: marked(broker) == expected, timeout=20, message="the late dead-letter topic found")


def test_a_sampled_dead_letter_topic_is_a_dlq_linked_to_its_source(db):
    from messaging.models import Queue
    from messaging.sample_recorder import BrokerMemory, record_sample

    source, configured_source = topic_name("orders"), topic_name("billing")
    configured_dlt = topic_name("billing-parking")
    create_topics(source, source + ".DLT", configured_source, configured_dlt)
    config = BrokerConfig(name="events", url=f"kafka://{KAFKA}", dead_letter_queues={configured_source: configured_dlt})
    with KafkaBroker(config) as broker:
        record_sample(config, BrokerMemory(), broker.sample(), 0.01)
    rows = {q.name: q for q in Queue.objects.filter(broker="events", name__in=[source, configured_source])}
    assert rows[source].dlq.name == source + ".DLT" and rows[source].dlq.is_dlq
    assert rows[configured_source].dlq.name == configured_dlt and rows[configured_source].dlq.is_dlq
    assert Queue.objects.get(broker="events", name=source + ".DLT").dead_letter_source.name == source

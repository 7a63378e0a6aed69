"""Kafka topics on the real Tansu broker for the browse, dead-letter and replay tests: unique
names, records produced one per batch (Tansu's end offset after a multi-record batch is wrong,
docs/brokers.md), and a broker named ``events`` configured for the console."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient, NewTopic

KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
#: One record per produce request, pipelined: exact end offsets on Tansu, ~3,000 records/s.
ONE_PER_BATCH = {"batch.num.messages": 1, "linger.ms": 0}


def topic_name(prefix: str = "k2") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topics(*names: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": KAFKA})
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(15)


def produce(topic: str, records: list[dict], partition: int | None = None) -> None:
    """Each record: {value, key?, headers?, partition?}, one per produce request, all confirmed."""
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True, **ONE_PER_BATCH})
    failures: list = []
    for record in records:
        part = record.get("partition", partition)
        extra = {} if part is None else {"partition": part}
        producer.produce(
            topic,
            value=record["value"],
            key=record.get("key"),
            headers=record.get("headers"),
            on_delivery=lambda err, _msg: failures.append(err) if err else None,
            **extra,
        )
        producer.poll(0)
    assert producer.flush(60) == 0 and not failures, failures


def group_offsets(group: str) -> dict[tuple[str, int], int]:
    admin = AdminClient({"bootstrap.servers": KAFKA})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    found = next(iter(result.values())).result(15)
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}


def list_groups() -> set[str]:
    admin = AdminClient({"bootstrap.servers": KAFKA})
    listed = admin.list_consumer_groups(request_timeout=15).result(15)
    return {g.group_id for g in listed.valid}


@pytest.fixture
def kafka_broker(settings) -> Iterator:
    """The BrokerConfig of a Kafka broker named ``events`` (Tansu), set as this process's
    configuration; the action runner stays off (tests run actions themselves).
    ``transport_options.replay_producer`` makes the replay producer send one record per request,
    so the target's end offsets are exact."""
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    settings.SWITCHYARD_ACTION_RUNNER = False
    config = BrokerConfig(name="events", url=f"kafka://{KAFKA}", options={"replay_producer": dict(ONE_PER_BATCH)})
    set_config(SwitchyardConfig(brokers=(config,)))
    yield config
    set_config(None)

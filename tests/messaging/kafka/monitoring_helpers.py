"""Topics and consumer groups on the real Tansu broker for the monitoring tests: unique names,
records produced one per batch with known timestamps (exact end offsets: Tansu's end offset after
a multi-record batch is wrong, docs/brokers.md), and real consumer groups that commit."""

from __future__ import annotations

import os
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.waiting import wait_for

KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def name(prefix: str = "k1") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_created: list[str] = []


def create_topic(topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)
    _created.append(topic)


def delete_created_topics() -> None:
    """Delete the topics this process created (every sampling round reads every topic: a
    cluster that only grows makes every later round slower)."""
    if not _created:
        return
    admin = AdminClient({"bootstrap.servers": KAFKA})
    for future in admin.delete_topics(list(_created), request_timeout=15).values():
        future.result(15)
    _created.clear()


def produce(topic: str, partition: int, count: int, timestamps_ms: list[int] | None = None) -> None:
    """``count`` records to one partition, each its own produce request, all confirmed."""
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "linger.ms": 0, "batch.num.messages": 1})
    failures: list = []
    for i in range(count):
        extra = {"timestamp": timestamps_ms[i]} if timestamps_ms else {}
        producer.produce(
            topic,
            value=f"r{i}".encode(),
            partition=partition,
            on_delivery=lambda err, _m: failures.append(err) if err else None,
            **extra,
        )
        producer.flush(15)
    assert not failures, failures


class Group:
    """A real consumer group member (subscribed, short session timeout) that commits by hand."""

    def __init__(self, group_id: str, topic: str) -> None:
        self.group_id = group_id
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": KAFKA,
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
            }
        )
        self.consumer.subscribe([topic])

    def consume(self, count: int) -> list:
        """Consume ``count`` records, committing each one synchronously."""
        taken: list = []

        def more() -> bool:
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                self.consumer.commit(message=message, asynchronous=False)
                taken.append(message)
            return len(taken) >= count

        wait_for(more, timeout=30, interval=0, message=f"{count} records consumed by {self.group_id}")
        return taken

    def commit(self, partition: int, offset: int) -> None:
        self.consumer.poll(0)
        self.consumer.commit(offsets=[TopicPartition(self.topic, partition, offset)], asynchronous=False)

    def close(self) -> None:
        self.consumer.close()

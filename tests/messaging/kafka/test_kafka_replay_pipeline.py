"""The replay pipeline on Tansu: records produced past the committed position never exceed the
in-doubt limit, the position is committed only for counted, confirmed batches, and a drain
leaves nothing in doubt with the position after the last batch."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from messaging.brokers.kafka.replay_pipeline import ReplayPipeline
from tests.messaging.kafka.replay_helpers import KAFKA, ONE_PER_BATCH, create_topics, group_offsets, topic_name

LIMIT = 300
BATCH = 100


def batch_of(target: str, first: int) -> list:
    return [(target, b"record-%d" % n, None, [("n", b"%d" % n)]) for n in range(first, first + BATCH)]


def test_in_doubt_stays_within_the_limit_and_the_position_follows_the_confirmations():
    source, target = topic_name("pipe-dlt"), topic_name("pipe-target")
    create_topics(source, target)
    group = f"switchyard.replay.{source}.test"
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True, **ONE_PER_BATCH})
    pipeline = ReplayPipeline(producer, AdminClient({"bootstrap.servers": KAFKA}), source, group, limit=LIMIT)
    highest = 0
    for step in range(10):
        pipeline.mark_counted()
        pipeline.advance()
        pipeline.make_room(BATCH)
        highest = max(highest, pipeline.in_doubt + BATCH)
        pipeline.produce(batch_of(target, step * BATCH), {0: (step + 1) * BATCH}, BATCH)
        # The batch just produced is not counted yet: no commit may cover it.
        committed = group_offsets(group).get((source, 0), -1)
        assert committed <= step * BATCH
    assert highest <= LIMIT
    pipeline.drain()
    assert pipeline.in_doubt == 0 and pipeline.idle
    assert group_offsets(group) == {(source, 0): 10 * BATCH}
    reader = Consumer({"bootstrap.servers": KAFKA, "group.id": f"{group}.reader"})
    try:
        assert reader.get_watermark_offsets(TopicPartition(target, 0), timeout=10) == (0, 10 * BATCH)
    finally:
        reader.close()


def test_an_empty_batch_moves_the_position_too():
    source = topic_name("pipe-dlt")
    create_topics(source)
    group = f"switchyard.replay.{source}.test"
    producer = Producer({"bootstrap.servers": KAFKA, "acks": "all", "enable.idempotence": True})
    pipeline = ReplayPipeline(producer, AdminClient({"bootstrap.servers": KAFKA}), source, group)
    pipeline.produce([], {0: 40}, 0)  # the selection kept none of 40 records read
    pipeline.drain()
    assert group_offsets(group) == {(source, 0): 40}

"""Replaying a Kafka dead-letter topic through the requeue and move actions on Tansu: every record
to its original topic with provenance, selected offsets, a filter, a dry run; delete refused
(409), viewers refused (403), purge unavailable where the broker drops DeleteRecords."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from messaging import actions
from messaging.actions.runner import run_action
from messaging.brokers.kafka.replay import PURGE_UNAVAILABLE
from messaging.errors import ActionRefused
from messaging.models import Action, AuditEntry
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

COUNT = 200


def read_all(topic: str, partitions: int = 1) -> list:
    """Every record of ``topic`` up to its end offsets (exact: produced one record per request)."""
    consumer = Consumer(
        {"bootstrap.servers": KAFKA, "group.id": "k2-reader-" + uuid.uuid4().hex, "enable.auto.commit": False}
    )
    found = []
    try:
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            taken = 0
            while taken < high - low:
                # consume() waits until it has all it asks for: ask only for what is left.
                batch = consumer.consume(min(500, high - low - taken), timeout=10)
                assert batch, f"{topic}[{partition}] ended before offset {high - 1}"
                kept = [m for m in batch if m.error() is None and m.offset() < high]
                found.extend(kept)
                taken += len(kept)
    finally:
        consumer.close()
    return found


def ids_of(records) -> list[str]:
    return [json.loads(r.value())["id"] for r in records]


@pytest.fixture
def replay_setup(kafka_broker, make_user):
    """(source row, DLT row, operator, ids): ``COUNT`` Spring dead letters over two partitions of
    ``<source>.DLT``; every fourth failed with a ValueError, the rest with an IllegalStateException."""
    source_name = topic_name("orders")
    create_topics(source_name)
    create_topics(source_name + ".DLT", partitions=2)
    ids = [uuid.uuid4().hex for _ in range(COUNT)]
    records = []
    for i, record_id in enumerate(ids):
        error = b"java.lang.ValueError" if i % 4 == 0 else b"java.lang.IllegalStateException"
        headers = [("kafka_dlt-original-topic", source_name.encode()), ("kafka_dlt-exception-fqcn", error)]
        records.append({"value": json.dumps({"id": record_id}).encode(), "key": record_id[:4].encode(),
                        "headers": headers, "partition": i % 2})  # fmt: skip
    produce(source_name + ".DLT", records)
    source = make_queue("events", source_name)
    dlt = make_queue("events", source_name + ".DLT", depth=COUNT, dlq_of=source)
    operator, _ = make_user("operator")
    return source, dlt, operator, ids


def test_requeue_all_replays_every_record_once_to_its_original_topic(replay_setup):
    source, dlt, operator, ids = replay_setup
    action = actions.request_move(operator, dlt, kind=Action.REQUEUE, all=True)
    assert action.budget == COUNT
    action = run_action(action.pk)
    assert action.state == Action.SUCCEEDED, action.error
    assert (action.done, action.failed, action.duplicated) == (COUNT, 0, 0)
    replayed = read_all(source.name)
    assert sorted(ids_of(replayed)) == sorted(ids)
    headers = dict(replayed[0].headers())
    assert headers["x-switchyard-requeued-by"] == operator.username.encode()
    assert headers["x-switchyard-replayed-from-topic"] == dlt.name.encode()
    assert headers["x-switchyard-replayed-from-offset"] in (b"0",)
    assert headers["kafka_dlt-original-topic"] == source.name.encode()  # the record's own headers kept
    assert replayed[0].key() == ids_of(replayed)[:1][0][:4].encode()
    # The replay's position: the DLT's end offsets, committed for the Switchyard group of the action.
    group = f"switchyard.replay.{dlt.name}.action.{action.pk}"
    assert group_offsets(group) == {(dlt.name, 0): COUNT // 2, (dlt.name, 1): COUNT // 2}
    assert (
        read_all(dlt.name, partitions=2) and len(read_all(dlt.name, partitions=2)) == COUNT
    )  # a DLT keeps its records
    outcomes = dict(AuditEntry.objects.filter(queue=dlt.name).values_list("action", "outcome"))
    assert outcomes["requeue.finished"].startswith("succeeded: 200 requeued")


def test_selected_offsets_and_a_filter_replay_exactly_those(replay_setup):
    source, dlt, operator, ids = replay_setup
    chosen = run_action(actions.request_move(operator, dlt, kind=Action.REQUEUE, ids=["0:3", "1:0"]).pk)
    assert chosen.state == Action.SUCCEEDED and chosen.done == 2, chosen.error
    # Partition 0 holds the even records, partition 1 the odd ones.
    assert sorted(ids_of(read_all(source.name))) == sorted([ids[6], ids[1]])
    target = topic_name("retry")
    create_topics(target)
    filtered = actions.request_move(
        operator, dlt, kind=Action.MOVE, target=target, filter={"exception": "ValueError"}, rate=100_000
    )
    filtered = run_action(filtered.pk)
    assert filtered.state == Action.SUCCEEDED and filtered.done == COUNT // 4, filtered.error
    assert sorted(ids_of(read_all(target))) == sorted(ids[::4])


def test_dry_run_produces_and_commits_nothing(replay_setup):
    source, dlt, operator, ids = replay_setup
    before = list_groups()
    action = run_action(actions.request_move(operator, dlt, kind=Action.REQUEUE, all=True, dry_run=True).pk)
    assert action.state == Action.SUCCEEDED and action.done == COUNT, action.error
    assert read_all(source.name) == []
    assert not {g for g in list_groups() - before if dlt.name in g}


def test_delete_is_refused_with_409_and_purge_says_why_it_is_unavailable(replay_setup, make_user, client, tokens):
    source, dlt, operator, ids = replay_setup
    admin, _ = make_user("admin")
    with pytest.raises(ActionRefused) as refused:
        actions.request_delete(admin, dlt, ids=["0:0"])
    assert refused.value.status == 409 and "cannot delete selected messages" in str(refused.value.detail)
    response = client.post(
        f"/api/v1/queues/{dlt.pk}/delete", data=json.dumps({"ids": ["0:0"]}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {tokens['admin']}",
    )  # fmt: skip
    assert response.status_code == 409 and response.json()["error"] == "unsupported"
    assert "cannot delete selected messages" in response.json()["detail"]
    purge = run_action(actions.request_purge(admin, dlt, confirm=dlt.name).pk)
    if purge.state == Action.FAILED:  # Tansu drops the connection on DeleteRecords
        assert purge.error == PURGE_UNAVAILABLE and not purge.interrupted
        assert len(read_all(dlt.name, partitions=2)) == COUNT
    else:  # a broker with DeleteRecords truncates
        assert purge.state == Action.SUCCEEDED and purge.done == COUNT, purge.error


def test_viewer_cannot_replay(replay_setup, client, tokens):
    source, dlt, operator, ids = replay_setup
    for path, body in (("requeue", {"all": True}), ("move", {"all": True, "target": source.name})):
        response = client.post(
            f"/api/v1/queues/{dlt.pk}/{path}", data=json.dumps(body), content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {tokens['viewer']}",
        )  # fmt: skip
        assert response.status_code == 403, path
    assert not Action.objects.filter(queue_name=dlt.name).exists()
    assert read_all(source.name) == []


def test_a_rate_limited_replay_settles_each_batch_and_keeps_every_record(replay_setup):
    source, dlt, operator, ids = replay_setup
    target = topic_name("slow")
    create_topics(target)
    # 120 records/s: batches of 120, each confirmed and committed before the pause (settle()).
    action = run_action(actions.request_move(operator, dlt, kind=Action.MOVE, target=target, all=True, rate=120).pk)
    assert action.state == Action.SUCCEEDED, action.error
    assert (action.done, action.duplicated, action.in_doubt) == (COUNT, 0, 0)
    assert sorted(ids_of(read_all(target))) == sorted(ids)
    group = f"switchyard.replay.{dlt.name}.action.{action.pk}"
    assert group_offsets(group) == {(dlt.name, 0): COUNT // 2, (dlt.name, 1): COUNT // 2}


@pytest.mark.parametrize("count", [COUNT, 130])
def test_batches_read_ahead_while_the_producer_waits_are_replayed_once_each_within_the_count(
    replay_setup, monkeypatch, count
):
    """Small batches and a small in-doubt limit make every step wait for room, so the session reads
    the next batches meanwhile: each record is still replayed once, a count stops where it says,
    and the position committed is exactly after what was replayed."""
    import dataclasses

    from messaging.brokers.kafka import replay_pipeline, replay_session
    from messaging.brokers.kafka.broker import KafkaBroker

    monkeypatch.setattr(KafkaBroker, "capabilities", dataclasses.replace(KafkaBroker.capabilities, move_batch_size=15))
    monkeypatch.setattr(replay_pipeline, "IN_DOUBT_LIMIT", 30)
    read_ahead = []
    original = replay_session.KafkaReplaySession._read_ahead
    monkeypatch.setattr(
        replay_session.KafkaReplaySession, "_read_ahead", lambda self: read_ahead.append(1) or original(self)
    )
    source, dlt, operator, ids = replay_setup
    action = actions.request_move(operator, dlt, kind=Action.REQUEUE, all=True, count=count)
    action = run_action(action.pk)
    assert action.state == Action.SUCCEEDED, action.error
    assert read_ahead, "no step waited for room: the read-ahead was not exercised"
    assert (action.done, action.duplicated, action.in_doubt) == (count, 0, 0)
    replayed = ids_of(read_all(source.name))
    assert len(replayed) == len(set(replayed)) == count
    group = f"switchyard.replay.{dlt.name}.action.{action.pk}"
    assert sum(group_offsets(group).values()) == count

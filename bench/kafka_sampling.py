"""Kafka monitoring: one sampling round over 1,000 partitions across 100 consumer groups.

    .venv/bin/python bench/kafka_sampling.py [--topics 10] [--partitions 100] [--groups 100]
                                             [--rounds 5] [--bootstrap 127.0.0.1:9092]

Creates ``--topics`` topics of ``--partitions`` partitions (fresh names, deleted at the end), one
record per partition, and ``--groups`` groups that each commit offset 0 on a share of the
partitions (so every partition lags by one record and has a head to read for lag as time). Then
times the adapter's ``sample()`` over ``--rounds`` rounds: the first reads every head timestamp
(cold), later ones only what moved (warm). Anchor: the bare admin calls of one round
(``sampling.read_cluster``: metadata, ListOffsets, groups and their offsets), no rows, no heads.
The cluster's other topics and groups are sampled too (the adapter reads the whole cluster).
Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(bootstrap: str, topics: list[str], partitions: int, groups: int) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        future.result(60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for topic in topics:
        for partition in range(partitions):
            producer.produce(topic, value=b"x", partition=partition)
            producer.poll(0)
    assert producer.flush(120) == 0
    pairs = [(t, p) for t in topics for p in range(partitions)]
    share = max(len(pairs) // groups, 1)
    for g in range(groups):
        mine = pairs[g * share : (g + 1) * share] or pairs[-share:]
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topics[0]}-g{g}"})
        consumer.commit(offsets=[TopicPartition(t, p, 0) for t, p in mine], asynchronous=False)
        consumer.close()


def measure(bootstrap: str, rounds: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from messaging.brokers.base import BrokerConfig
    from messaging.brokers.kafka import KafkaBroker
    from messaging.brokers.kafka.sampling import read_cluster

    broker = KafkaBroker(BrokerConfig(name="bench", url=f"kafka://{bootstrap}"))
    times, bare, rows, warnings = [], [], 0, set()
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            sample = broker.sample()
            times.append(time.perf_counter() - started)
            rows = len(sample.queues)
            if sample.warning:
                warnings.add(sample.warning)
            started = time.perf_counter()
            view = read_cluster(broker.admin, 30)
            bare.append(time.perf_counter() - started)
        partitions = sum(len(p) for p in view.topics.values())
        heads = sum(1 for r in sample.queues if r.kind == "consumer-group" and r.head_published_at is not None)
    finally:
        broker.close()
    return {
        "round_first_ms": round(times[0] * 1000),
        "round_warm_p50_ms": round(statistics.median(times[1:] or times) * 1000),
        "round_max_ms": round(max(times) * 1000),
        "bare_read_p50_ms": round(statistics.median(bare) * 1000),
        "rows": rows,
        "cluster_partitions": partitions,
        "cluster_groups": len(view.groups),
        "group_rows_with_lag_time": heads,
        "warnings": sorted(warnings),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from confluent_kafka.admin import AdminClient

    prefix = f"bench-sample-{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}-{i}" for i in range(args.topics)]
    started = time.perf_counter()
    try:
        setup(args.bootstrap, topics, args.partitions, args.groups)
        setup_s = time.perf_counter() - started
        result = measure(args.bootstrap, args.rounds)
    finally:
        admin = AdminClient({"bootstrap.servers": args.bootstrap})
        for future in admin.delete_topics(topics, request_timeout=30).values():
            try:
                future.result(30)
            except Exception as exc:  # noqa: BLE001 - best effort: Tansu keeps topics in memory only
                print(f"could not delete a bench topic: {exc}", file=sys.stderr)
    print(
        json.dumps(
            {
                "partitions": args.topics * args.partitions,
                "groups": args.groups,
                "rounds": args.rounds,
                "setup_s": round(setup_s, 1),
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()

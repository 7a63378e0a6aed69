"""Kafka replay throughput: Switchyard's dead-letter replay next to a bare produce loop, same run.

    .venv/bin/python bench/kafka_replay.py [--records 20000] [--bootstrap 127.0.0.1:9092] [--rounds 3]

Switchyard: a requeue of every record of ``<topic>.DLT`` through ``run_action`` (read with
``assign()``, decode the dead-letter headers for the poison rule and each record's original
topic, produce with acks=all and the idempotent producer without waiting batch by batch, commit
the replay's position behind the delivery reports, save the action's progress per step of 1,000).
Anchor: a bare confluent-kafka loop producing the same records (value, key, headers, read into
memory beforehand) with the same producer settings, one ``flush`` at the end: no reading, no
position, no database. Both open a fresh idempotent producer inside the timing and connect it at
once with one metadata request, as the replay does: librdkafka asks for the producer id on a
0.5 s timer once a connection is up, and that wait is most of the anchor's time (a producer left
idle until its first record measured 1.0 s: the replay's was, until 2026-12-07).
Rounds alternate which of the pair goes first, with a pause between the two; medians are reported.
The anchor produces into a topic of its own (``<topic>.bare``): on Tansu, a fresh producer writing
into the topic a replay had just written took twice as long.
The dead-letter topic is filled one record per produce request (Tansu's end offset after a
multi-record batch is wrong: docs/brokers.md); the replay and the anchor produce in batches.
On Tansu (memory storage) a fetch costs time in proportion to the records from its offset to the
end (~0.3 s from the start of 10,000 one-record batches, ~0.6 s of 20,000): the replay pays it,
the anchor does not, so the ratio falls as ``--records`` grows.
Uses fresh topic names (Tansu keeps them in memory) and a temporary SQLite database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.requeue import operator, setup_django  # noqa: E402

#: Process CPU seconds per round (librdkafka's threads included): the figure a loaded machine
#: does not distort as much as the wall clock.
CPU_S: dict[str, list[float]] = {"switchyard": [], "bare": []}
SETTLE_S = 2.0


def fill(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    source = topic.removesuffix(".DLT")
    names = (source, source + ".bare", source + ".warm", topic)
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "batch.num.messages": 1, "linger.ms": 0, "acks": "all"})
    headers = [("kafka_dlt-original-topic", topic.removesuffix(".DLT").encode()), ("kafka_dlt-exception-fqcn", b"E")]
    for i in range(count):
        body = json.dumps({"id": uuid.uuid4().hex, "n": i, "payload": "x" * 200}).encode()
        producer.produce(topic, value=body, key=str(i % 64).encode(), headers=headers)
        producer.poll(0)
    assert producer.flush(120) == 0


def read_records(bootstrap: str, topic: str, count: int) -> list:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + uuid.uuid4().hex})
    consumer.assign([TopicPartition(topic, 0, 0)])
    records = []
    while len(records) < count:
        records += [(m.value(), m.key(), m.headers()) for m in consumer.consume(min(1000, count - len(records)), 10)]
    consumer.close()
    return records


def bare_loop(bootstrap: str, records: list, target: str, with_id: bool = False) -> float:
    """The anchor; ``with_id``: its producer gets its producer id before the timing starts (the
    steady state of a long-lived producer, which a replay, opening its own, never has)."""
    from confluent_kafka import Producer

    from messaging.brokers.kafka.replay_session import PRODUCER_SETTINGS

    if with_id:
        producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_SETTINGS})
        producer.produce(target, value=b"warm-up")
        assert producer.flush(30) == 0
    started, cpu = time.perf_counter(), time.process_time()
    if not with_id:
        producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_SETTINGS})
        producer.list_topics(target, timeout=10)  # connected at once, as the replay's producer is
    for value, key, headers in records:
        producer.produce(target, value=value, key=key, headers=headers)
        producer.poll(0)
    assert producer.flush(120) == 0
    if not with_id:
        CPU_S["bare"].append(time.process_time() - cpu)
    return time.perf_counter() - started


def switchyard_replay(dlt: str) -> tuple[int, float]:
    from messaging import actions
    from messaging.actions.runner import run_action
    from messaging.models import Action, Queue

    source = Queue.objects.create(broker="events", name=dlt.removesuffix(".DLT"), depth=0)
    dead = Queue.objects.create(broker="events", name=dlt, depth=0, is_dlq=True)
    source.dlq = dead
    source.save()
    action = actions.request_move(operator(), dead, kind=Action.REQUEUE, all=True)
    started, cpu = time.perf_counter(), time.process_time()
    action = run_action(action.pk)
    elapsed = time.perf_counter() - started
    CPU_S["switchyard"].append(time.process_time() - cpu)
    assert action.state == Action.SUCCEEDED, action.error
    return action.done, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        from messaging.brokers.base import BrokerConfig
        from messaging.config import SwitchyardConfig
        from messaging.process_config import set_config

        set_config(SwitchyardConfig(brokers=(BrokerConfig(name="events", url=f"kafka://{args.bootstrap}"),)))
        ours, bare, warm = [], [], []
        for round_number in range(args.rounds):
            dlt = f"bench-replay-{uuid.uuid4().hex[:8]}.DLT"
            fill(args.bootstrap, dlt, args.records)
            records = read_records(args.bootstrap, dlt, args.records)
            if round_number % 2:
                bare.append(args.records / bare_loop(args.bootstrap, records, dlt.removesuffix(".DLT") + ".bare"))
                time.sleep(SETTLE_S)
            done, elapsed = switchyard_replay(dlt)
            assert done == args.records
            ours.append(done / elapsed)
            time.sleep(SETTLE_S)
            if not round_number % 2:
                bare.append(args.records / bare_loop(args.bootstrap, records, dlt.removesuffix(".DLT") + ".bare"))
            time.sleep(SETTLE_S)
            warm.append(args.records / bare_loop(args.bootstrap, records, dlt.removesuffix(".DLT") + ".warm", True))
    row = {
        "broker": "kafka",
        "records": args.records,
        "rounds": args.rounds,
        "switchyard_records_s": statistics.median(ours),
        "bare_produce_records_s": statistics.median(bare),
        "switchyard_rounds": ours,
        "bare_rounds": bare,
        "bare_with_producer_id_records_s": statistics.median(warm),
        "bare_with_producer_id_rounds": warm,
        "switchyard_cpu_us_per_record": round(statistics.median(CPU_S["switchyard"]) * 1e6 / args.records, 1),
        "bare_cpu_us_per_record": round(statistics.median(CPU_S["bare"]) * 1e6 / args.records, 1),
        "loadavg": os.getloadavg(),
    }
    ratio = row["switchyard_records_s"] / row["bare_produce_records_s"]
    print(
        f"kafka {args.records:>8} records  switchyard replay {row['switchyard_records_s']:>9,.0f} rec/s   "
        f"bare produce {row['bare_produce_records_s']:>9,.0f} rec/s   ({ratio:.0%} of bare; target >= 50%)   "
        f"CPU {row['switchyard_cpu_us_per_record']} vs {row['bare_cpu_us_per_record']} us/record   "
        f"bare with its producer id already {row['bare_with_producer_id_records_s']:,.0f} rec/s   "
        f"load {' '.join(f'{x:.2f}' for x in row['loadavg'])}"
    )
    print(json.dumps(row))


if __name__ == "__main__":
    main()

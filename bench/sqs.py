"""SQS: one sample of many queues, and redrive throughput next to a bare boto3 loop, same run.

    .venv/bin/python -m bench.sqs [--queues 200] [--messages 300] [--rounds 3] [--endpoint URL]

Sampling: ``SQSBroker.sample()`` of ``--queues`` queues (a quarter of them with a RedrivePolicy to
a DLQ among them), median of the rounds; anchor: a bare sequential boto3 loop (ListQueues, then one
GetQueueAttributes per queue), the same calls without the thread pool. Target: < 1 s.
Redrive: a requeue of every message of a DLQ back to its source through ``run_action``
(receive 10, SendMessageBatch, DeleteMessageBatch, the action's progress saved per batch); anchor:
a bare boto3 loop doing the same three calls per batch of 10 on an identical queue, keeping what a
lossless redrive must keep (message attributes; group and deduplication ids), nothing else.
Rounds alternate the pair; medians are reported. Target: >= 100 % of the bare loop.
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


def measure_redrive(sqs, endpoint: str, messages: int, rounds: int) -> dict:
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    prefix = f"bench-redrive-{uuid.uuid4().hex[:8]}-"
    config = BrokerConfig(
        name="aws", url="sqs://", options={"region": REGION, "endpoint_url": endpoint, "queue_name_prefix": prefix}
    )
    set_config(SwitchyardConfig(brokers=(config,)))
    ours, bare = [], []
    try:
        # A first small redrive finds out whether the endpoint has move tasks (moto: no).
        fill(sqs, f"{prefix}warm-dlq", 10)
        sqs.create_queue(QueueName=f"{prefix}warm")
        switchyard_redrive(f"{prefix}warm", f"{prefix}warm-dlq")
        for round_ in range(rounds):
            source, dlq = f"{prefix}s{round_}", f"{prefix}s{round_}-dlq"
            sqs.create_queue(QueueName=source)
            fill(sqs, dlq, messages)
            done, elapsed = switchyard_redrive(source, dlq)
            assert done == messages, done
            ours.append(messages / elapsed)
            bare_source = fill(sqs, f"{prefix}b{round_}-dlq", messages)
            bare_target = sqs.create_queue(QueueName=f"{prefix}b{round_}")["QueueUrl"]
            bare.append(messages / bare_redrive(sqs, bare_source, bare_target, messages))
    finally:
        delete_prefixed(sqs, prefix)
    return {
        "messages": messages,
        "rounds": rounds,
        "switchyard_msgs_s": statistics.median(ours),
        "bare_boto3_msgs_s": statistics.median(bare),
        "switchyard_rounds": ours,
        "bare_rounds": bare,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=os.environ.get("TEST_SQS_ENDPOINT", "http://127.0.0.1:9324"))
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = client(args.endpoint)
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        sampling = measure_sampling(sqs, args.endpoint, args.queues, args.rounds)
        redrive = measure_redrive(sqs, args.endpoint, args.messages, args.rounds)
    ratio = redrive["switchyard_msgs_s"] / redrive["bare_boto3_msgs_s"]
    print(
        f"sqs sample of {sampling['queues']} queues  switchyard {sampling['switchyard_s']:.3f} s   "
        f"bare sequential {sampling['bare_sequential_s']:.3f} s   (target < 1 s)"
    )
    print(
        f"sqs redrive {redrive['messages']} msgs  switchyard {redrive['switchyard_msgs_s']:,.0f} msg/s   "
        f"bare boto3 {redrive['bare_boto3_msgs_s']:,.0f} msg/s   ({ratio:.0%} of bare; target >= 100%)"
    )
    print(json.dumps({"broker": "sqs", "sampling": sampling, "redrive": redrive}))


if __name__ == "__main__":
    main()

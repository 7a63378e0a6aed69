"""SQS tests run against the real moto server on loopback (scripts/ensure-services.sh starts it),
never moto's in-process mocks. Each test gets its own queue-name prefix; its queues are deleted
afterwards."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

SQS_ENDPOINT = os.environ.get("TEST_SQS_ENDPOINT", f"http://127.0.0.1:{os.environ.get('SQS_PORT', '9324')}")
REGION = "us-east-1"
# moto accepts any credentials; the adapter reads them from the standard AWS chain (environment).
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


@dataclass
class SQSSpace:
    prefix: str
    client: Any
    config: Any

    def name(self, base: str) -> str:
        return self.prefix + base

    def create(self, base: str, dlq_of: str | None = None, max_receive_count: int = 1, fifo: bool = False) -> str:
        """Create ``prefix + base``; with ``dlq_of`` (a queue's full name)
        the new queue dead-letters into that one after ``max_receive_count`` receives."""
        attributes: dict[str, str] = {"FifoQueue": "true"} if fifo else {}
        if dlq_of is not None:
            arn = self.arn(dlq_of)
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count})
        return self.client.create_queue(QueueName=self.name(base), Attributes=attributes)["QueueUrl"]

    def url(self, name: str) -> str:
        return self.client.get_queue_url(QueueName=name)["QueueUrl"]

    def arn(self, name: str) -> str:
        return self.attributes(name)["QueueArn"]

    def attributes(self, name: str) -> dict[str, str]:
        return self.client.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["All"])["Attributes"]

    def send(self, name: str, bodies: list[str], **kwargs: Any) -> None:
        url = self.url(name)
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body, **kwargs} for i, body in enumerate(bodies[start : start + 10])
            ]
            answer = self.client.send_message_batch(QueueUrl=url, Entries=entries)
            assert not answer.get("Failed"), answer

    def drain(self, name: str) -> list[dict[str, Any]]:
        """Receive and delete every visible message, in the order SQS hands them out."""
        url = self.url(name)
        taken: list[dict[str, Any]] = []
        while True:
            got = self.client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return taken
            taken.extend(got)
            self.client.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            )


def sqs_config(name: str, prefix: str, **options: Any):
    from messaging.brokers.base import BrokerConfig

    return BrokerConfig(
        name=name,
        url="sqs://",
        options={"region": REGION, "endpoint_url": SQS_ENDPOINT, "queue_name_prefix": prefix, **options},
    )


@pytest.fixture
def sqs_space(monkeypatch, settings) -> Iterator[SQSSpace]:
    """A fresh prefix, configured as broker ``aws`` (actions run where the test calls them)."""
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    settings.SWITCHYARD_ACTION_RUNNER = False
    prefix = f"sy-{uuid.uuid4().hex[:10]}-"
    client = boto3.client("sqs", region_name=REGION, endpoint_url=SQS_ENDPOINT, **_keys())
    config = sqs_config("aws", prefix)
    set_config(SwitchyardConfig(brokers=(config,)))
    yield SQSSpace(prefix=prefix, client=client, config=config)
    set_config(None)
    for url in client.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        client.delete_queue(QueueUrl=url)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }

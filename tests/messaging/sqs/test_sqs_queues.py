"""SQS queues as the monitor sees them, against the real moto server: Celery tasks published
through Kombu's SQS transport in the depth, a RedrivePolicy that really dead-letters, the DLQ
mapping both ways into the stored rows, and an unreachable endpoint as an error, not a hang."""

from __future__ import annotations

import time

import pytest
from celery import Celery
from django.urls import reverse

from messaging.brokers.base import BrokerError
from messaging.brokers.registry import broker_for
from tests.messaging.sqs.conftest import REGION, SQS_ENDPOINT, sqs_config


def celery_app(prefix: str) -> Celery:
    host = SQS_ENDPOINT.removeprefix("http://")
    app = Celery("sqs-test", broker=f"sqs://{host}", set_as_current=False)
    app.conf.broker_transport_options = {"region": REGION, "queue_name_prefix": prefix, "is_secure": False}
    app.conf.task_serializer = "json"
    return app


def by_name(sample):
    return {q.name: q for q in sample.queues}


def test_celery_tasks_published_on_sqs_appear_in_the_depth_and_decode(sqs_space):
    app = celery_app(sqs_space.prefix)
    sent = [app.send_task("billing.charge", args=[i], kwargs={"cents": 100}, queue="work").id for i in range(3)]
    with broker_for(sqs_space.config) as broker:
        queue = by_name(broker.sample())[sqs_space.name("work")]
        assert (queue.depth, queue.unacked, queue.consumers, queue.queue_type) == (3, 0, None, "standard")
        count, messages = broker.peek(sqs_space.name("work"), 0, 10)
    assert count == 3
    from messaging import decoding

    decoded = [decoding.decode(m) for m in messages]
    assert sorted(d.task_id for d in decoded) == sorted(sent)
    assert {d.task for d in decoded} == {"billing.charge"} and {d.kind for d in decoded} == {"celery-v2"}
    assert all(d.headers["x-sqs-approximate-receive-count"] == 1 for d in decoded)


def test_redrive_policy_dead_letters_after_real_receives_and_maps_both_ways(sqs_space, db):
    from messaging.models import Queue
    from messaging.sample_recorder import BrokerMemory, record_sample

    dlq = sqs_space.name("orders-failed")
    sqs_space.create("orders-failed")
    url = sqs_space.create("orders", dlq_of=dlq, max_receive_count=1)
    sqs_space.send(sqs_space.name("orders"), ["a", "b"])
    # Receive without deleting, twice: past maxReceiveCount 1, SQS moves them to the DLQ.
    for _ in range(3):
        for message in sqs_space.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs_space.client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    assert sqs_space.attributes(dlq)["ApproximateNumberOfMessages"] == "2"
    with broker_for(sqs_space.config) as broker:
        sample = broker.sample()
    queues = by_name(sample)
    assert queues[sqs_space.name("orders")].dead_letter_queue == dlq
    assert queues[sqs_space.name("orders")].arguments["max_receive_count"] == 1
    assert queues[dlq].depth == 2
    record_sample(sqs_space.config, BrokerMemory(), sample, 0.01)
    source_row = Queue.objects.get(broker="aws", name=sqs_space.name("orders"))
    dlq_row = Queue.objects.get(broker="aws", name=dlq)
    assert source_row.dlq_id == dlq_row.pk and dlq_row.is_dlq and not source_row.is_dlq
    assert dlq_row.dead_letter_source == source_row
    assert (dlq_row.depth, dlq_row.oldest_age_s, dlq_row.consumers) == (2, None, None)
    assert source_row.details["maxReceiveCount"] == 1 and source_row.details["dead-letter queue"] == dlq
    assert source_row.details["visibility timeout"] == "30 s" and source_row.details["retention"] == "4 d"
    assert dlq_row.details["maxReceiveCount"] == "no RedrivePolicy"


def test_queue_page_and_api_say_what_sqs_reports_and_why_the_oldest_age_is_unknown(sqs_space, client, make_user):
    from messaging.models import Queue
    from messaging.sample_recorder import BrokerMemory, record_sample

    sqs_space.create("mail.fifo", fifo=True)
    sqs_space.send(sqs_space.name("mail.fifo"), ["hello"], MessageGroupId="g", MessageDeduplicationId="d1")
    with broker_for(sqs_space.config) as broker:
        record_sample(sqs_space.config, BrokerMemory(), broker.sample(), 0.01)
    queue = Queue.objects.get(broker="aws", name=sqs_space.name("mail.fifo"))
    user, token = make_user("viewer")
    client.force_login(user)
    html = client.get(reverse("queue", args=[queue.pk])).content.decode()
    section = html.split('id="queue-details"', 1)[1].split("</section>", 1)[0]
    assert "FIFO" in section and "maxReceiveCount" in section and "CloudWatch" in section
    detail = client.get(f"/api/v1/queues/{queue.pk}", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert detail["oldest_age_s"] is None and detail["details"]["type"] == "FIFO"


def test_a_dead_letter_source_outside_the_prefix_is_found_from_the_dlq(sqs_space):
    """ListDeadLetterSourceQueues: the mapping holds from the DLQ's side too."""
    dlq = sqs_space.name("shared-dlq")
    sqs_space.create("shared-dlq")
    outside = "other-" + sqs_space.prefix + "jobs"
    arn = sqs_space.arn(dlq)
    import json

    sqs_space.client.create_queue(
        QueueName=outside, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})}
    )
    sqs_space.create("inside", dlq_of=dlq, max_receive_count=2)
    try:
        with broker_for(sqs_space.config) as broker:
            queues = by_name(broker.sample())
        assert queues[outside].dead_letter_queue == dlq
        assert queues[sqs_space.name("inside")].dead_letter_queue == dlq
    finally:
        sqs_space.client.delete_queue(QueueUrl=sqs_space.url(outside))


def test_fifo_queues_are_told_apart(sqs_space):
    sqs_space.create("events.fifo", fifo=True)
    with broker_for(sqs_space.config) as broker:
        queue = by_name(broker.sample())[sqs_space.name("events.fifo")]
    assert queue.queue_type == "fifo" and queue.arguments["content_based_deduplication"] is False


def test_an_unreachable_endpoint_is_an_error_within_seconds(sqs_space):
    from tests.conftest import free_port

    config = sqs_config("aws", sqs_space.prefix, endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with broker_for(config) as broker, pytest.raises(BrokerError) as refused:
        broker.sample()
    assert time.monotonic() - started < 15
    assert "testing" not in str(refused.value)  # no credential in the message


def test_sqs_url_settings_come_from_the_environment(monkeypatch):
    from messaging.brokers.base import BrokerConfig
    from messaging.brokers.sqs.client import settings_for

    settings = settings_for(
        BrokerConfig(name="aws", url="sqs://"),
        {"AWS_DEFAULT_REGION": "eu-west-1", "SWITCHYARD_SQS_ENDPOINT_URL": "http://127.0.0.1:4566"},
    )
    assert (settings.region, settings.endpoint_url, settings.queue_name_prefix) == (
        "eu-west-1",
        "http://127.0.0.1:4566",
        "",
    )
    hosted = settings_for(BrokerConfig(name="aws", url="sqs://127.0.0.1:9324"), {})
    assert hosted.endpoint_url == "http://127.0.0.1:9324" and hosted.region == "us-east-1"


def test_a_configured_queue_outside_the_prefix_is_measured(sqs_space):
    outside = "elsewhere-" + sqs_space.prefix + "audit"
    url = sqs_space.client.create_queue(QueueName=outside)["QueueUrl"]
    try:
        sqs_space.send(outside, ["one", "two"])
        config = sqs_config("aws", sqs_space.prefix)
        config = type(config)(name=config.name, url=config.url, options=config.options, queues=(outside, "gone-queue"))
        with broker_for(config) as broker:
            queues = by_name(broker.sample())
        assert queues[outside].depth == 2 and "gone-queue" not in queues
    finally:
        sqs_space.client.delete_queue(QueueUrl=url)


def test_toml_sqs_keys_reach_the_adapter_and_bad_ones_are_refused(tmp_path):
    from messaging.brokers.sqs.client import settings_for
    from messaging.config import ConfigError, load_config

    path = tmp_path / "brokers.toml"
    path.write_text(
        '[brokers.aws]\nurl = "sqs://"\nregion = "eu-west-1"\nendpoint_url = "http://127.0.0.1:4566"\n'
        'queue_name_prefix = "prod-"\n'
    )
    (config,) = load_config({"SWITCHYARD_CONFIG": str(path)}).brokers
    settings = settings_for(config, {})
    assert (settings.region, settings.endpoint_url, settings.queue_name_prefix) == (
        "eu-west-1",
        "http://127.0.0.1:4566",
        "prod-",
    )
    path.write_text('[brokers.aws]\nurl = "sqs://"\nregion = 1\n')
    with pytest.raises(ConfigError, match="'region' must be a string"):
        load_config({"SWITCHYARD_CONFIG": str(path)})

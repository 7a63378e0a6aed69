"""Celery on SQS sends no worker events and takes no remote control: the Workers and Tasks pages
say so for an SQS broker (its adapter declares it) instead of showing only empty tables, and no
event capture is started for it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig


@pytest.fixture
def sqs_and_redis():
    from messaging.process_config import set_config

    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(name="aws-jobs", url="sqs://", options={"region": "us-east-1"}),
            BrokerConfig(name="main", url="redis://127.0.0.1:6379/0"),
        )
    )
    set_config(config)
    yield config
    set_config(None)


@pytest.mark.parametrize("page", ["workers", "tasks"])
def test_workers_and_tasks_pages_say_an_sqs_broker_has_no_worker_events(client, make_user, sqs_and_redis, page):
    client.force_login(make_user("viewer")[0])
    html = client.get(reverse(page)).content.decode()
    assert "data-no-worker-events" in html
    notice = html.split("data-no-worker-events", 1)[1].split("</p>", 1)[0]
    assert "aws-jobs" in notice and "main" not in notice and "no broadcast" in notice


def test_no_notice_when_every_broker_sends_events(client, make_user):
    from messaging.process_config import set_config

    set_config(SwitchyardConfig(brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0"),)))
    try:
        client.force_login(make_user("viewer")[0])
        assert "data-no-worker-events" not in client.get(reverse("workers")).content.decode()
    finally:
        set_config(None)


def test_no_event_capture_is_started_for_an_sqs_broker(sqs_and_redis):
    from messaging.celery.apps import celery_brokers, without_worker_events

    assert [b.name for b in celery_brokers(sqs_and_redis)] == ["main"]
    assert [b.name for b in without_worker_events(sqs_and_redis)] == ["aws-jobs"]

"""``/metrics``: Prometheus text built from the database, token-protected, nulls left out."""

import pytest
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import AlertRule, BrokerState, Queue
from tests.conftest import REDIS_URL, unique
from tests.waiting import wait_for


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family, **labels):
    matches = [s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (labels, family.samples)
    return matches[0]


def test_metrics_need_a_token(client, tokens):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token nope").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {tokens['viewer']}", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")


def test_unknown_figures_are_omitted_not_zero(client, tokens):
    Queue.objects.create(broker="b", name="known", depth=7, unacked=None, consumers=2, present=True)
    BrokerState.objects.create(name="b", transport="redis", redacted_url="redis://x", status="down")
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {tokens['viewer']}").content.decode()
    parsed = families(text)
    assert value(parsed["switchyard_queue_depth"], broker="b", queue="known") == 7
    assert not parsed["switchyard_queue_unacked"].samples
    assert value(parsed["switchyard_broker_up"], broker="b") == 0
    assert "switchyard_worker_up" in parsed
    assert {s.labels["severity"] for s in parsed["switchyard_alerts_firing"].samples} == {"info", "warning", "critical"}


@pytest.mark.timeout(60)
def test_live_metrics_carry_sampled_figures_and_firing_alerts(live_console, tokens):
    prefix, queue = unique("metrics") + ":", unique("jobs")
    broker = BrokerConfig(name=unique("redis"), url=REDIS_URL, options={"global_keyprefix": prefix})
    with Connection(REDIS_URL, transport_options={"global_keyprefix": prefix}) as connection:
        simple = connection.SimpleQueue(queue)
        for i in range(6):
            simple.put({"n": i})
        try:
            AlertRule.objects.all().delete()
            AlertRule.objects.create(name="Backlog", metric="depth", op=">", threshold=1, severity="critical")
            console = live_console(config=SwitchyardConfig(brokers=(broker,)), interval=0.3)

            def scrape():
                response = console.api("/metrics", tokens["viewer"])
                assert response.status_code == 200
                parsed = families(response.text)
                firing = value(parsed["switchyard_alerts_firing"], severity="critical")
                return parsed if firing == 1 else None

            parsed = wait_for(scrape, message="a firing alert in /metrics")
            assert value(parsed["switchyard_queue_depth"], broker=broker.name, queue=queue) == 6
            assert value(parsed["switchyard_queue_unacked"], broker=broker.name, queue=queue) == 0
            assert value(parsed["switchyard_broker_up"], broker=broker.name) == 1
            assert value(parsed["switchyard_broker_sample_duration_seconds"], broker=broker.name) >= 0
            assert value(parsed["switchyard_monitor_rounds"]) >= 1
            assert requests_without_token(console).status_code == 401
        finally:
            while True:
                try:
                    simple.get(block=False).ack()
                except simple.Empty:
                    break
            simple.close()
            connection.default_channel.client.delete(f"{prefix}_kombu.binding.{queue}")


def requests_without_token(console):
    import requests

    return requests.get(console.url + "/metrics", timeout=10)


def test_worker_up_comes_from_the_workers_table(db, tokens):
    from django.test import Client
    from prometheus_client.parser import text_string_to_metric_families

    from messaging.models import Worker

    Worker.objects.create(broker="main", hostname="w1@host", status=Worker.ONLINE)
    Worker.objects.create(broker="main", hostname="w2@host", status=Worker.OFFLINE)
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {tokens['viewer']}").content.decode()
    samples = {
        s.labels["hostname"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "switchyard_worker_up"
        for s in family.samples
    }
    assert samples == {"w1@host": 1.0, "w2@host": 0.0}

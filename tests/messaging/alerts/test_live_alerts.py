"""Alerts end to end against real Redis: a real backlog fires a rule, a real HTTP receiver gets
Alertmanager-shaped webhooks, a failing receiver is retried, a hanging one delays nothing, and a
broker going down holds its alerts and raises its own."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
from kombu import Connection

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import AlertRule, WebhookDelivery
from tests.conftest import REDIS_URL, free_port, unique
from tests.helpers.webhooks import WebhookReceiver
from tests.waiting import wait_for

INTERVAL = 0.3


@pytest.fixture
def receivers():
    made: list[WebhookReceiver] = []

    def make(**kwargs) -> WebhookReceiver:
        made.append(WebhookReceiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def redis_backlog():
    """``publish(n)`` / ``drain()`` on a uuid-named queue under a per-test key prefix."""
    prefix, queue = unique("alerts") + ":", unique("jobs")
    connection = Connection(REDIS_URL, transport_options={"global_keyprefix": prefix})
    simple = connection.SimpleQueue(queue)

    class Backlog:
        name = queue
        config = BrokerConfig(name=unique("redis"), url=REDIS_URL, options={"global_keyprefix": prefix})

        @staticmethod
        def publish(count: int) -> None:
            for i in range(count):
                simple.put({"n": i})

        @staticmethod
        def drain() -> None:
            while True:
                try:
                    simple.get(block=False).ack()
                except simple.Empty:
                    return

    yield Backlog
    Backlog.drain()
    simple.close()
    # The binding set Kombu declared under this test's prefix.
    connection.default_channel.client.delete(f"{prefix}_kombu.binding.{queue}")
    connection.release()


def start(live_console, *brokers: BrokerConfig):
    AlertRule.objects.all().delete()  # the defaults are tested on their own
    return live_console(config=SwitchyardConfig(brokers=tuple(brokers)), interval=INTERVAL)


def create_rule(console, token, **fields) -> dict:
    body = {"name": "Backlog", "metric": "depth", "op": ">", "threshold": 2, "for_s": 0, "severity": "warning"}
    response = console.api("/api/v1/alert-rules", token, "POST", json={**body, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def alerts(console, token, state=None, rule=None) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in (("state", state), ("rule", rule)) if v)
    response = console.api(f"/api/v1/alerts?{query}", token)
    assert response.status_code == 200, response.text
    return response.json()


class StreamListener:
    """Collects ``alerts`` events from /ws/stream in a thread."""

    def __init__(self, console, token: str) -> None:
        from websockets.sync.client import connect

        self.events: list[dict] = []
        self._connection = connect(f"{console.ws_url}/ws/stream?token={token}")
        self.socket = self._connection.__enter__()
        self.socket.send(json.dumps({"subscribe": ["alerts"]}))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.socket:
                self.events.append(json.loads(message))
        except Exception:
            return

    def types(self) -> list[str]:
        return [e["type"] for e in self.events if e.get("topic") == "alerts"]

    def close(self) -> None:
        self._connection.__exit__(None, None, None)
        self.thread.join(timeout=5)


def test_backlog_fires_after_for_s_and_resolves_when_drained(live_console, tokens, receivers, redis_backlog):
    receiver = receivers()
    redis_backlog.publish(5)
    console = start(live_console, redis_backlog.config)
    stream = StreamListener(console, tokens["viewer"])
    try:
        rule = create_rule(
            console,
            tokens["admin"],
            queue=redis_backlog.name,
            broker=redis_backlog.config.name,
            for_s=1.5,
            keep_firing_for_s=0.6,
            webhook_url=receiver.url,
        )
        pending = wait_for(lambda: alerts(console, tokens["viewer"], "pending", rule["id"]), message="pending")
        assert pending[0]["labels"] == {"broker": redis_backlog.config.name, "queue": redis_backlog.name}
        assert pending[0]["value"] == 5 and pending[0]["threshold"] == 2
        firing = wait_for(lambda: alerts(console, tokens["viewer"], "firing", rule["id"]), message="firing")[0]
        assert firing["id"] == pending[0]["id"]
        from datetime import datetime

        held_for = datetime.fromisoformat(firing["fired_at"]) - datetime.fromisoformat(firing["started_at"])
        assert held_for.total_seconds() >= 1.5

        sent = receiver.wait_for(lambda p: p["status"] == "firing")
        assert sent["version"] == "4" and sent["receiver"] and sent["groupKey"]
        item = sent["alerts"][0]
        assert item["labels"]["alertname"] == "Backlog" and item["labels"]["severity"] == "warning"
        assert item["labels"]["queue"] == redis_backlog.name
        assert item["labels"]["broker"] == redis_backlog.config.name
        assert item["fingerprint"] == firing["fingerprint"] and item["endsAt"] == "0001-01-01T00:00:00Z"
        assert item["annotations"]["summary"] and item["generatorURL"].endswith(f"/alerts/{firing['id']}/")

        redis_backlog.drain()
        resolved = wait_for(lambda: alerts(console, tokens["viewer"], "resolved", rule["id"]), message="resolve")
        assert resolved[0]["id"] == firing["id"] and resolved[0]["resolved_at"]
        done = receiver.wait_for(lambda p: p["status"] == "resolved")["alerts"][0]
        assert done["fingerprint"] == firing["fingerprint"] and done["endsAt"] != "0001-01-01T00:00:00Z"
        wait_for(lambda: "alert.resolved" in stream.types(), timeout=5, message="the resolved event")
        assert {"alert.pending", "alert.firing", "alert.resolved"} <= set(stream.types())
    finally:
        stream.close()


def test_failing_receiver_is_retried_until_it_succeeds(live_console, tokens, receivers, redis_backlog, settings):
    settings.SWITCHYARD_WEBHOOK_BACKOFF_S = 0.2
    receiver = receivers(statuses=[500, 503])
    redis_backlog.publish(3)
    console = start(live_console, redis_backlog.config)
    create_rule(console, tokens["admin"], broker=redis_backlog.config.name, webhook_url=receiver.url)
    receiver.wait_for(lambda p: p["status"] == "firing")
    assert receiver.attempts == 3
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").first(), timeout=5, message="delivered"
    )
    assert delivery.attempts == 3 and delivery.response_status == 200


def test_hanging_receiver_does_not_delay_evaluation(live_console, tokens, receivers, redis_backlog, settings):
    settings.SWITCHYARD_WEBHOOK_TIMEOUT_S = 1.0
    settings.SWITCHYARD_WEBHOOK_BACKOFF_S = 5.0
    receiver = receivers(hang_s=30)
    redis_backlog.publish(3)
    console = start(live_console, redis_backlog.config)
    rule = create_rule(
        console, tokens["admin"], broker=redis_backlog.config.name, keep_firing_for_s=0, webhook_url=receiver.url
    )
    wait_for(lambda: alerts(console, tokens["viewer"], "firing", rule["id"]), message="firing")
    wait_for(lambda: receiver.attempts >= 1, message="the webhook to reach the receiver")
    # The receiver now holds a delivery thread; the monitor keeps sampling and evaluating.
    rounds = console.monitor.rounds
    redis_backlog.drain()
    started = time.monotonic()
    wait_for(lambda: alerts(console, tokens["viewer"], "resolved", rule["id"]), timeout=4, message="resolve")
    assert time.monotonic() - started < 3
    assert console.monitor.rounds > rounds
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(event="firing", attempts__gte=1).first(), timeout=5, message="a timeout"
    )
    assert delivery.status == "pending" and "no answer" in delivery.last_error and delivery.next_attempt_at


@pytest.fixture
def private_redis():
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    import redis

    client = redis.Redis(port=port)
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_broker_down_holds_alerts_and_raises_its_own(live_console, tokens, private_redis):
    process, url = private_redis
    queue = unique("jobs")
    with Connection(url) as connection:
        simple = connection.SimpleQueue(queue)
        for i in range(4):
            simple.put({"n": i})
        simple.close()
    broker = BrokerConfig(name=unique("doomed"), url=url)
    console = start(live_console, broker)
    backlog = create_rule(console, tokens["admin"], queue=queue, keep_firing_for_s=0)
    down = create_rule(
        console, tokens["admin"], name="Broker down", metric="broker_down", op=">=", threshold=1, for_s=0.5
    )
    wait_for(lambda: alerts(console, tokens["viewer"], "firing", backlog["id"]), message="backlog firing")
    process.kill()
    process.wait(timeout=10)
    raised = wait_for(lambda: alerts(console, tokens["viewer"], "firing", down["id"]), message="broker down")
    assert raised[0]["labels"] == {"broker": broker.name} and raised[0]["severity"] == "warning"
    rounds = console.monitor.rounds
    wait_for(lambda: console.monitor.rounds >= rounds + 3, message="three more rounds")
    held = alerts(console, tokens["viewer"], rule=backlog["id"])
    assert [a["state"] for a in held] == ["firing"] and held[0]["held"] is True
    assert held[0]["value"] == 4  # the last known figure, not a made-up zero

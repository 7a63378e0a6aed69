"""Queues through the API and the stream, against real Redis: depth, discovery, down and back."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.brokers import PrivateRedis, delete_prefixed_keys, publish, redis_connection
from tests.conftest import REDIS_URL, unique
from tests.waiting import wait_for


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


def redis_config(prefix: str, url: str = REDIS_URL, queues: tuple[str, ...] = ()) -> SwitchyardConfig:
    return SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url=url, queues=queues, options={"global_keyprefix": prefix}),)
    )


def queue_named(console, token, name):
    rows = console.api("/api/v1/queues", token).json()
    return next((row for row in rows if row["name"] == name), None)


def test_depth_counts_priority_subqueues_of_an_unconfigured_queue(live_console, tokens, redis_prefix):
    with redis_connection(redis_prefix) as connection:
        publish(connection, "emails", [{"n": i} for i in range(5)], max_priority=10)
        publish(connection, "emails", [{"n": i} for i in range(3)], priority=9, max_priority=10)
        publish(connection, "emails", [{"n": i} for i in range(2)], priority=4, max_priority=10)
    console = live_console(redis_config(redis_prefix))
    row = wait_for(
        lambda: (q := queue_named(console, tokens["viewer"], "emails")) and q["depth"] == 10 and q,
        message="emails to show depth 10",
    )
    assert row["broker"] == "main"
    assert row["unacked"] == 0
    assert row["consumers"] is None  # Redis cannot know without Celery workers: unknown, not 0
    detail = console.api(f"/api/v1/queues/{row['id']}", tokens["viewer"]).json()
    assert detail["history"] and detail["history"][-1]["depth"] == 10


def test_configured_queue_without_messages_shows_zero(live_console, tokens, redis_prefix):
    console = live_console(redis_config(redis_prefix, queues=("configured.only",)))
    row = wait_for(lambda: queue_named(console, tokens["viewer"], "configured.only"), message="configured queue")
    assert row["depth"] == 0


def test_websocket_client_gets_samples_of_messages_published_after_it_connected(live_console, tokens, redis_prefix):
    console = live_console(redis_config(redis_prefix))
    with connect(f"{console.ws_url}/ws/stream?token={tokens['viewer']}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.hello"
        socket.send(json.dumps({"subscribe": ["queues"]}))
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.subscribed"
        with redis_connection(redis_prefix) as connection:
            publish(connection, "orders", [{"n": i} for i in range(7)])
        deadline_events = []
        for _ in range(200):
            event = json.loads(socket.recv(timeout=10))
            deadline_events.append(event["type"])
            if event["type"] == "queue.sample" and event["data"]["name"] == "orders" and event["data"]["depth"] == 7:
                assert event["topic"] == "queues" and isinstance(event["ts"], float)
                assert "key" not in event
                break
        else:
            pytest.fail(f"no queue.sample with depth 7; saw {deadline_events[-10:]}")


def test_websocket_without_credentials_is_closed(live_console):
    console = live_console(monitor=False)
    with connect(f"{console.ws_url}/ws/stream", open_timeout=10) as socket:
        with pytest.raises(Exception) as closed:
            socket.recv(timeout=10)
    assert "4401" in str(closed.value)


def test_broker_down_shows_down_with_nulls_then_recovers(live_console, tokens):
    private = PrivateRedis()
    private.start()
    try:
        with redis_connection("", private.url) as connection:
            publish(connection, "jobs", [{"n": i} for i in range(4)])
        console = live_console(redis_config("", url=private.url), interval=0.5)
        wait_for(lambda: (q := queue_named(console, tokens["viewer"], "jobs")) and q["depth"] == 4, message="jobs=4")

        private.kill()
        broker = wait_for(
            lambda: (b := console.api("/api/v1/brokers", tokens["viewer"]).json()[0])["status"] == "down" and b,
            message="broker down",
        )
        assert broker["error"]
        row = wait_for(
            lambda: (q := queue_named(console, tokens["viewer"], "jobs")) and q["depth"] is None and q, message="nulls"
        )
        assert row["unacked"] is None and row["oldest_age_s"] is None
        assert console.api("/api/v1/health", tokens["viewer"]).status_code == 200

        private.start()
        with redis_connection("", private.url) as connection:
            publish(connection, "jobs", [{"n": i} for i in range(2)])
        wait_for(
            lambda: (q := queue_named(console, tokens["viewer"], "jobs")) and q["depth"] == 2,
            timeout=2 * 0.5 + 3,  # two sample intervals, plus the reconnect and the write
            message="recovery within two intervals",
        )
        assert console.api("/api/v1/brokers", tokens["viewer"]).json()[0]["status"] == "up"
    finally:
        private.kill()


@pytest.mark.parametrize("name", ["with space", "dots.and.more", "slash/in/name", "ünïcødé-队列", "per%cent%2F"])
def test_odd_queue_names_work_in_api_and_pages(live_console, tokens, redis_prefix, make_user, name):
    with redis_connection(redis_prefix) as connection:
        publish(connection, name, [{"n": 1}])
    console = live_console(redis_config(redis_prefix))
    row = wait_for(lambda: queue_named(console, tokens["viewer"], name), message=f"queue {name!r}")
    assert console.api(f"/api/v1/queues/{row['id']}", tokens["viewer"]).json()["name"] == name
    import requests

    session = requests.Session()
    user, _ = make_user("viewer", password="pw-odd-names-1")
    login = session.get(console.url + "/login/")
    session.post(
        console.url + "/login/",
        data={
            "username": user.username,
            "password": "pw-odd-names-1",
            "csrfmiddlewaretoken": login.cookies["csrftoken"],
        },
        headers={"Referer": console.url + "/login/"},
    )
    page = session.get(f"{console.url}/queues/{row['id']}/")
    assert page.status_code == 200
    from html import escape

    assert escape(name) in page.text
    overview = session.get(console.url + "/", params={"name": name})
    assert escape(name) in overview.text

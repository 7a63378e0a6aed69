"""The queue list is true (issue 12 defects 3-6, issue 19 item 4), against the real brokers:
no console plumbing, move targets watched, purged Redis queues at 0, configured queues of a
broker that never answered, and one unstorable queue name never stopping a broker's monitoring."""

from __future__ import annotations

import time
import uuid
from html import escape

import amqp
import pytest
import redis
import requests

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import REDIS_URL, free_port, unique
from tests.waiting import wait_for

SEP = "\x06\x16"


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


def redis_config(prefix: str, url: str = REDIS_URL, queues: tuple[str, ...] = ()) -> SwitchyardConfig:
    return SwitchyardConfig(
        brokers=(
            BrokerConfig(
                name="main", url=url, queues=queues, options={"global_keyprefix": prefix}, celery_events=False
            ),
        )
    )


def rows_of(console, token, query: str = "") -> dict[str, dict]:
    return {row["name"]: row for row in console.api(f"/api/v1/queues{query}", token).json()}


def viewer_session(console, make_user) -> requests.Session:
    session = requests.Session()
    user, _ = make_user("viewer", password="pw-queue-list-1")
    login = session.get(console.url + "/login/")
    session.post(
        console.url + "/login/",
        data={
            "username": user.username,
            "password": "pw-queue-list-1",
            "csrfmiddlewaretoken": login.cookies["csrftoken"],
        },
        headers={"Referer": console.url + "/login/"},
    )
    return session


# -- defect 3: the console's own plumbing is not the user's queues ------------------------------


def test_celery_plumbing_is_hidden_and_reply_queues_get_no_rows(
    live_console, tokens, rabbit_vhost, settings, make_user
):
    from messaging.models import Queue

    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0  # the console inspects (reply queues) every second
    other_events = f"celeryev.{uuid.uuid4()}"  # another consumer's event queue (e.g. Flower)
    reply = f"{uuid.uuid4()}.reply.celery.pidbox"  # somebody's `celery inspect` in flight
    mailbox = "celery@worker-a.celery.pidbox"  # a worker's remote-control mailbox
    connection = amqp.Connection(
        host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=rabbit_vhost.name
    )
    connection.connect()
    try:
        channel = connection.channel()
        channel.queue_declare("jobs", durable=True, auto_delete=False)
        for name in (other_events, reply, mailbox):
            channel.queue_declare(name, durable=False, auto_delete=False)
        config = SwitchyardConfig(
            brokers=(
                BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url),
            )
        )
        console = live_console(config, interval=0.5)

        def own_event_queue():
            names = [q["name"] for q in rabbit_vhost.http.get_json(rabbit_vhost.api("/api/queues/{vhost}"))]
            return [n for n in names if n.startswith("celeryev.") and n != other_events]

        own = wait_for(own_event_queue, timeout=20, message="the console's own event queue")
        wait_for(lambda: "jobs" in rows_of(console, tokens["viewer"]), timeout=30, message="jobs listed")
        time.sleep(3)  # several sampling rounds and inspections with everything in place

        listed = rows_of(console, tokens["viewer"], "?broker=rabbit")
        assert sorted(listed) == ["jobs"]
        with_system = rows_of(console, tokens["viewer"], "?broker=rabbit&system=1")
        assert {"jobs", other_events, mailbox} <= set(with_system)
        assert with_system[other_events]["system"] is True and with_system["jobs"]["system"] is False
        assert not set(own) & set(with_system), "Switchyard's own event queue is listed"
        assert reply not in with_system
        stored = set(Queue.objects.filter(broker="rabbit").values_list("name", flat=True))
        assert not [n for n in stored if n.endswith(".reply.celery.pidbox")], "rows kept for reply queues"
        assert not set(own) & stored

        session = viewer_session(console, make_user)
        assert other_events not in session.get(console.url + "/").text
        toggled = session.get(console.url + "/", params={"system": "1"}).text
        assert other_events in toggled and 'name="system" value="1" checked' in toggled
        assert not any(name in toggled for name in own) and reply not in toggled
    finally:
        connection.close()


# -- defect 4: what a move parked is listed, and stays watched ----------------------------------


def test_move_target_created_by_a_move_is_listed_and_watched_across_a_restart(live_console, tokens, redis_prefix):
    target = "parked." + uuid.uuid4().hex[:8]
    with redis_connection(redis_prefix) as connection:
        publish(connection, "jobs", [{"n": i} for i in range(3)])
    console = live_console(redis_config(redis_prefix))
    jobs = wait_for(
        lambda: (q := rows_of(console, tokens["viewer"]).get("jobs")) and q["depth"] == 3 and q, message="jobs=3"
    )
    moved = console.api(
        f"/api/v1/queues/{jobs['id']}/move",
        tokens["operator"],
        method="POST",
        json={"all": True, "target": target, "create_target": True},
    )
    assert moved.status_code == 202, moved.text
    wait_for(
        lambda: console.api(f"/api/v1/actions/{moved.json()['id']}", tokens["viewer"]).json()["state"] == "succeeded",
        message="the move to finish",
    )
    row = wait_for(
        lambda: (q := rows_of(console, tokens["viewer"]).get(target)) and q["depth"] == 3 and q,
        message="the parked queue listed with its 3 messages",
    )

    client = redis.Redis.from_url(REDIS_URL)
    client.delete(redis_prefix + target)  # consumed elsewhere: Redis drops the empty list
    client.close()
    wait_for(
        lambda: (q := rows_of(console, tokens["viewer"]).get(target)) and q["depth"] == 0,
        message="the emptied target listed at 0",
    )
    console.stop()
    console.start()
    time.sleep(1.5)
    after = rows_of(console, tokens["viewer"]).get(target)
    assert after is not None and after["depth"] == 0 and after["id"] == row["id"]


# -- defect 5: a purged Redis queue reads 0 -----------------------------------------------------


def test_purged_redis_dead_letter_queue_reads_zero_not_unknown(live_console, tokens, redis_prefix):
    with redis_connection(redis_prefix) as connection:
        publish(connection, "emails", [{"n": 1}])
    client = redis.Redis.from_url(REDIS_URL)
    # The DLQ integration LPUSHes failures to <queue>.dlq without binding it.
    client.lpush(redis_prefix + "emails.dlq", b'{"body": "", "headers": {}}', b'{"body": "", "headers": {}}')
    client.close()
    console = live_console(redis_config(redis_prefix))
    dlq = wait_for(
        lambda: (q := rows_of(console, tokens["viewer"]).get("emails.dlq")) and q["depth"] == 2 and q,
        message="emails.dlq=2",
    )
    purged = console.api(
        f"/api/v1/queues/{dlq['id']}/purge", tokens["admin"], method="POST", json={"confirm": "emails.dlq"}
    )
    assert purged.status_code == 202, purged.text
    wait_for(
        lambda: console.api(f"/api/v1/actions/{purged.json()['id']}", tokens["viewer"]).json()["state"] == "succeeded",
        message="the purge to finish",
    )
    time.sleep(1.5)  # a few rounds after the purge
    row = rows_of(console, tokens["viewer"]).get("emails.dlq")
    assert row is not None, "the purged queue left the list"
    assert row["depth"] == 0
    assert console.api(f"/api/v1/queues/{dlq['id']}", tokens["viewer"]).json()["depth"] == 0


# -- defect 6: configured queues of a broker that never answered ---------------------------------


def test_configured_queue_of_a_broker_that_never_answered_is_listed_with_its_reason(live_console, tokens):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="never", url=url, queues=("orders", "orders.dlq"), celery_events=False),)
    )
    console = live_console(config, interval=0.5)
    rows = wait_for(
        lambda: (r := rows_of(console, tokens["viewer"], "?broker=never")) and len(r) == 2 and r,
        message="the configured queues listed",
    )
    for name in ("orders", "orders.dlq"):
        row = rows[name]
        assert row["depth"] is None and row["unacked"] is None and row["oldest_age_s"] is None
        assert row["broker_status"] == "down"
        assert row["broker_error"] and "refused" in row["broker_error"].lower()


# -- issue 19 item 4: one unstorable name never stops a broker -----------------------------------


def test_queue_name_that_is_not_utf8_is_escaped_and_the_others_go_on(live_console, tokens, redis_prefix, make_user):
    client = redis.Redis.from_url(REDIS_URL)
    with redis_connection(redis_prefix) as connection:
        publish(connection, "jobs", [{"n": i} for i in range(2)])
    console = live_console(redis_config(redis_prefix), interval=0.5)
    wait_for(lambda: (q := rows_of(console, tokens["viewer"]).get("jobs")) and q["depth"] == 2, message="jobs=2")

    bad = b"x" + SEP.encode() + SEP.encode() + b"<b>bad\xff\xfe"
    client.sadd(f"{redis_prefix}_kombu.binding.celery".encode(), bad)
    client.lpush(f"{redis_prefix}<b>bad".encode() + b"\xff\xfe", b"m1")
    # NUL (PostgreSQL text cannot hold it) and a name past the column's 1,024 characters.
    client.sadd(f"{redis_prefix}_kombu.binding.celery".encode(), f"y{SEP}{SEP}nul\x00name".encode())
    client.sadd(f"{redis_prefix}_kombu.binding.celery".encode(), f"z{SEP}{SEP}{'long' * 300}".encode())
    with redis_connection(redis_prefix) as connection:
        publish(connection, "jobs", [{"n": 9}])
    client.close()
    shown = "<b>bad\\xff\\xfe"
    rows = wait_for(
        lambda: (r := rows_of(console, tokens["viewer"])) and r.get("jobs", {}).get("depth") == 3 and shown in r and r,
        message="jobs sampled on, and the bad name shown escaped",
    )
    assert rows[shown]["depth"] == 1
    assert rows["nul\\x00name"]["depth"] == 0
    assert [n for n in rows if n.startswith("longlong") and n[1010:1011] == "…"]
    broker = console.api("/api/v1/brokers", tokens["viewer"]).json()[0]
    assert broker["status"] == "up" and "escaped" in (broker["warning"] or "")
    health = console.api("/api/v1/health", tokens["viewer"])
    assert health.status_code == 200 and health.json()["brokers"] == {"main": "up"}

    session = viewer_session(console, make_user)
    overview = session.get(console.url + "/", params={"name": "bad"})
    assert escape(shown) in overview.text and "<b>bad" not in overview.text
    page = session.get(f"{console.url}/queues/{rows[shown]['id']}/")
    assert page.status_code == 200 and escape(shown) in page.text and "<b>bad" not in page.text
    # The escaped name addresses nothing on the broker: acting on it or browsing it is refused,
    # and the real (non-UTF-8) list keeps its message.
    operator_token = tokens["operator"]
    move = console.api(
        f"/api/v1/queues/{rows[shown]['id']}/move",
        operator_token,
        method="POST",
        json={"all": True, "target": "parked"},
    )
    assert move.status_code == 409 and "escaped" in move.text
    browse = console.api(f"/api/v1/queues/{rows[shown]['id']}/messages", operator_token)
    assert browse.status_code == 409
    check = redis.Redis.from_url(REDIS_URL)
    assert check.llen(f"{redis_prefix}<b>bad".encode() + b"\xff\xfe") == 1
    check.close()

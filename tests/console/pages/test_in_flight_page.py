"""The stuck-in-flight page: viewers see what is held, operators restore it on Redis with a ticked
confirmation, nothing happens without it, and RabbitMQ channels holding messages are listed."""

from __future__ import annotations

import html
import json
import re
import time

from django.test import Client

from messaging.models import AuditEntry, BrokerState
from tests.action_helpers import (  # noqa: F401  (fixtures)
    celery_envelope,
    make_queue,
    rabbit_vhost,
    redis_broker,
    unique_name,
)


def stuck_delivery(redis_client, prefix: str, queue: str, age_s: float = 600) -> tuple[str, dict]:
    stuck = json.loads(celery_envelope(queue))
    tag = stuck["properties"]["delivery_tag"]
    redis_client.hset(prefix + "unacked", tag, json.dumps([stuck, "", queue]))
    redis_client.zadd(prefix + "unacked_index", {tag: time.time() - age_s})
    return tag, stuck


def logged_in(make_user, role: str) -> Client:
    client = Client()
    client.force_login(make_user(role)[0])
    return client


def test_operator_restores_a_stuck_delivery_only_when_confirmed(redis_broker, make_user):
    _, redis_client, prefix = redis_broker
    queue = make_queue("main", unique_name("jobs"))
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://")
    tag, stuck = stuck_delivery(redis_client, prefix, queue.name)
    fresh_tag, _ = stuck_delivery(redis_client, prefix, queue.name, age_s=5)

    viewer_page = logged_in(make_user, "viewer").get("/brokers/main/in-flight/")
    html = viewer_page.content.decode()
    assert viewer_page.status_code == 200 and tag in html and stuck["headers"]["id"] in html
    assert fresh_tag not in html  # held for 5 s: not stuck by the 300 s default
    assert 'name="tag"' not in html and "Restore selected" not in html
    assert fresh_tag in logged_in(make_user, "viewer").get("/brokers/main/in-flight/?older_than_s=1").content.decode()

    operator = logged_in(make_user, "operator")
    assert 'name="tag"' in operator.get("/brokers/main/in-flight/").content.decode()
    unconfirmed = operator.post("/brokers/main/in-flight/restore/", {"tag": [tag]}, follow=True)
    assert "tick the confirmation" in unconfirmed.content.decode()
    assert redis_client.hexists(prefix + "unacked", tag) and redis_client.llen(prefix + queue.name) == 0

    done = operator.post("/brokers/main/in-flight/restore/", {"tag": [tag], "confirm": "yes"}, follow=True)
    assert "1 restored to their queue" in done.content.decode()
    assert not redis_client.hexists(prefix + "unacked", tag) and redis_client.hexists(prefix + "unacked", fresh_tag)
    assert json.loads(redis_client.lindex(prefix + queue.name, -1))["headers"]["id"] == stuck["headers"]["id"]
    entry = AuditEntry.objects.get(action="in_flight.restore", broker="main")
    assert entry.username.startswith("operator") and "1 restored" in entry.outcome


def test_unknown_broker_is_404_and_a_down_broker_says_it_could_not_look(redis_broker, make_user, settings):
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.process_config import set_config

    viewer = logged_in(make_user, "viewer")
    assert viewer.get("/brokers/no-such-broker/in-flight/").status_code == 404
    set_config(SwitchyardConfig(brokers=(BrokerConfig(name="gone", url="redis://127.0.0.1:1/0"),)))
    BrokerState.objects.create(name="gone", transport="redis", redacted_url="redis://127.0.0.1:1/0")
    page = viewer.get("/brokers/gone/in-flight/")
    assert page.status_code == 200 and "Could not look" in page.content.decode()
    assert "Nothing held" not in page.content.decode()


def test_rabbitmq_channel_holding_messages_is_listed_with_close_for_admins_only(rabbit_vhost, make_user):
    import amqp

    (config, vhost), queue_name = rabbit_vhost, unique_name("held")
    BrokerState.objects.create(name=config.name, transport="rabbitmq", redacted_url="amqp://")
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    try:
        channel = connection.channel()
        channel.queue_declare(queue_name, durable=True, auto_delete=False)
        for n in range(3):
            channel.basic_publish(amqp.Message(f"m{n}".encode()), routing_key=queue_name)
        channel.basic_qos(0, 10, False)
        channel.basic_consume(queue_name, callback=lambda message: None)
        deadline = time.monotonic() + 15
        while True:  # the management API's figures lag the broker by its stats interval
            listing = logged_in(make_user, "viewer").get(f"/brokers/{config.name}/in-flight/").content.decode()
            if queue_name in listing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert queue_name in listing and "Close connection" not in listing
        admin = logged_in(make_user, "admin")
        admin_html = admin.get(f"/brokers/{config.name}/in-flight/").content.decode()
        assert "Close connection" in admin_html
        name = html.unescape(re.search(r'name="connection" value="([^"]+)"', admin_html).group(1))
        refused = admin.post(f"/brokers/{config.name}/in-flight/close/", {"connection": name}, follow=True)
        assert "tick the confirmation" in refused.content.decode()
        closed = admin.post(
            f"/brokers/{config.name}/in-flight/close/", {"connection": name, "confirm": "yes"}, follow=True
        )
        assert "closed; the broker requeues the messages it held" in closed.content.decode()
        assert AuditEntry.objects.filter(action="connection.close", broker=config.name).count() == 1
        requeued = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
        requeued.connect()
        try:
            _, ready, _ = requeued.channel().queue_declare(queue_name, passive=True)
        finally:
            requeued.close()
        assert ready == 3
    finally:
        try:
            connection.close()
        except Exception:  # noqa: S110  (closed by the admin's action above)
            pass

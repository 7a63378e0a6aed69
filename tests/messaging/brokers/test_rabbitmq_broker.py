"""RabbitMQBroker against the real RabbitMQ, each test in its own vhost."""

from __future__ import annotations

import json
import time

import amqp
import pytest

from messaging.brokers.base import BrokerConfig, BrokerError, QueueNotFound, QueueStats
from messaging.brokers.dlq import resolve_by_vhost
from messaging.brokers.http import path_segment
from messaging.brokers.rabbitmq.broker import RabbitMQBroker
from messaging.brokers.rabbitmq.connection import parse_amqp_url


def adapter(vhost, **config) -> RabbitMQBroker:
    return RabbitMQBroker(BrokerConfig(name="rabbit", url=vhost.amqp_url, **config))


def open_channel(vhost) -> tuple[amqp.Connection, amqp.Channel]:
    address = parse_amqp_url(vhost.amqp_url)
    conn = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.user,
        password=address.password,
        virtual_host=address.vhost,
    )
    conn.connect()
    return conn, conn.channel()


def publish(channel, routing_key: str, body: bytes, exchange: str = "", **properties) -> None:
    channel.basic_publish(amqp.Message(body, **properties), exchange=exchange, routing_key=routing_key)


def find(sample, name: str) -> QueueStats | None:
    return next((q for q in sample.queues if q.name == name), None)


def ready_count(vhost, queue: str) -> int:
    """The ready count straight from AMQP (the management figures lag by up to 5 s)."""
    conn, channel = open_channel(vhost)
    try:
        return channel.queue_declare(queue, passive=True).message_count
    finally:
        conn.close()


def test_sample_reports_depth_unacked_consumers_and_rates(rabbit_vhost, wait_for):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("work", durable=True, auto_delete=False)
        channel.queue_declare("quiet", durable=True, auto_delete=False)
        for n in range(5):
            publish(channel, "work", f"job {n}".encode())
        consumer = conn.channel()
        consumer.basic_qos(0, 2, False)
        consumer.basic_consume("work", callback=lambda message: None, no_ack=False)
        conn.drain_events(timeout=2)
        broker = adapter(rabbit_vhost)

        def settled():
            stats = find(broker.sample(), "work")
            # Consumer figures can reach the management API one stats interval after the counts.
            return stats if stats and (stats.depth, stats.unacked, stats.consumers) == (3, 2, 1) else None

        stats = wait_for(settled)
        quiet = find(broker.sample(), "quiet")
    finally:
        conn.close()

    assert stats is not None, "management API never showed 3 ready + 2 unacked"
    assert stats.consumers == 1
    assert stats.vhost == rabbit_vhost.name and stats.queue_type == "classic"
    assert isinstance(stats.publish_rate, float) and isinstance(stats.consume_rate, float)
    # Stats collection is on, so a queue that never saw traffic has rates 0.0, not unknown.
    assert (quiet.depth, quiet.publish_rate, quiet.consume_rate) == (0, 0.0, 0.0)


def test_head_published_at_comes_from_the_amqp_timestamp(rabbit_vhost, wait_for):
    stamp = int(time.time()) - 300
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("stamped", durable=True, auto_delete=False)
        publish(channel, "stamped", b"old", timestamp=stamp)
        publish(channel, "stamped", b"new", timestamp=stamp + 200)
    finally:
        conn.close()
    broker = adapter(rabbit_vhost)

    stats = wait_for(lambda: (s := find(broker.sample(), "stamped")) and s.head_published_at and s)

    assert stats and stats.head_published_at == stamp


def test_dead_letter_queues_from_arguments_policy_names_and_configuration(rabbit_vhost, wait_for):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.exchange_declare("dlx", "direct", durable=True, auto_delete=False)
        channel.queue_declare("work", durable=True, auto_delete=False, arguments={"x-dead-letter-exchange": "dlx"})
        channel.queue_declare("work.failed", durable=True, auto_delete=False)
        channel.queue_bind("work.failed", "dlx", routing_key="work")
        channel.queue_declare(
            "billing",
            durable=True,
            auto_delete=False,
            arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "special"},
        )
        channel.queue_declare("special-dlq", durable=True, auto_delete=False)
        channel.queue_bind("special-dlq", "dlx", routing_key="special")
        for name in ("jobs", "jobs.dlq", "mail", "mail.dlq", "mail-errors", "ruled", "ruled-dlq"):
            channel.queue_declare(name, durable=True, auto_delete=False)
        channel.exchange_declare("policy-dlx", "fanout", durable=True, auto_delete=False)
        channel.queue_bind("ruled-dlq", "policy-dlx")
    finally:
        conn.close()
    rabbit_vhost.http.put_json(
        f"/api/policies/{path_segment(rabbit_vhost.name)}/dead-letter",
        {"pattern": "^ruled$", "definition": {"dead-letter-exchange": "policy-dlx"}},
    )
    broker = adapter(rabbit_vhost)
    sample = wait_for(lambda: (s := broker.sample()) and find(s, "ruled").dead_letter_exchange and s)

    # Configuration beats a guess by name ("mail"), never the broker's own routing ("work").
    configured = {"mail": "mail-errors", "work": "mail-errors"}
    mapping = resolve_by_vhost(sample, configured)[rabbit_vhost.name]

    assert find(sample, "work").dead_letter_exchange == "dlx"
    assert find(sample, "billing").dead_letter_routing_key == "special"
    assert find(sample, "ruled").dead_letter_exchange == "policy-dlx"
    assert mapping == {
        "work": "work.failed",
        "billing": "special-dlq",
        "ruled": "ruled-dlq",
        "jobs": "jobs.dlq",
        "mail": "mail-errors",
    }


def test_peek_returns_messages_and_leaves_the_depth_unchanged(rabbit_vhost, wait_for):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("browse", durable=True, auto_delete=False)
        for n in range(4):
            publish(
                channel,
                "browse",
                json.dumps({"n": n}).encode(),
                content_type="application/json",
                application_headers={"task": f"t{n}"},
            )
    finally:
        conn.close()
    broker = adapter(rabbit_vhost)

    count, messages = broker.peek("browse", offset=1, limit=2)

    assert count == 4
    assert [json.loads(m.body) for m in messages] == [{"n": 1}, {"n": 2}]
    assert [m.position for m in messages] == [1, 2]
    assert messages[0].headers == {"task": "t1"}
    assert messages[0].content_type == "application/json"
    assert messages[0].size_bytes == len(messages[0].body) and not messages[0].truncated
    assert ready_count(rabbit_vhost, "browse") == 4
    again_count, again = broker.peek("browse", offset=0, limit=4)
    assert again_count == 4 and all(m.redelivered for m in again[1:3])


def test_peek_shows_the_death_record_of_a_dead_lettered_message(rabbit_vhost):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("dead", durable=True, auto_delete=False)
        channel.queue_declare(
            "live",
            durable=True,
            auto_delete=False,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"},
        )
        publish(channel, "live", b"doomed")
        message = channel.basic_get("live", no_ack=False)
        channel.basic_reject(message.delivery_tag, requeue=False)
        deadline = time.monotonic() + 5
        while ready_count(rabbit_vhost, "dead") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        conn.close()

    count, (dead,) = adapter(rabbit_vhost).peek("dead", 0, 5)

    assert count == 1 and dead.body == b"doomed"
    (death,) = dead.headers["x-death"]
    assert (death["queue"], death["reason"], death["count"]) == ("live", "rejected", 1)


def test_peek_of_an_unknown_queue_raises_queue_not_found(rabbit_vhost):
    with pytest.raises(QueueNotFound):
        adapter(rabbit_vhost).peek("no-such-queue")


def test_unreachable_management_api_falls_back_to_passive_declares(rabbit_vhost):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("work", durable=True, auto_delete=False)
        for n in range(3):
            publish(channel, "work", b"x")
    finally:
        conn.close()
    broker = adapter(rabbit_vhost, management_url="http://127.0.0.1:1", queues=("work",))

    sample = broker.sample(known_queues=["missing", "work"])

    (stats,) = sample.queues
    assert (stats.name, stats.depth, stats.consumers) == ("work", 3, 0)
    assert stats.unacked is None and stats.publish_rate is None and stats.consume_rate is None
    assert sample.warning.startswith("management API unreachable (")
    assert "counts from AMQP passive declares of 2 known queues" in sample.warning
    assert "1 not found" in sample.warning
    broker.ping()  # the broker answers over AMQP


def test_sampling_without_a_vhost_sees_every_vhost(rabbit_vhost, wait_for):
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("everywhere", durable=True, auto_delete=False)
    finally:
        conn.close()
    url = rabbit_vhost.amqp_url.rsplit("/", 1)[0]
    broker = RabbitMQBroker(BrokerConfig(name="all", url=url))

    sample = broker.sample()

    mine = [q for q in sample.queues if q.vhost == rabbit_vhost.name]
    assert [q.name for q in mine] == ["everywhere"]
    assert sample.bindings_by_vhost[rabbit_vhost.name][""] == [("everywhere", "everywhere")]


def test_rabbitmq_down_fails_fast_without_the_password():
    broker = RabbitMQBroker(
        BrokerConfig(
            name="down",
            url="amqp://guest:s3cret-pw@127.0.0.1:1/vh",
            management_url="http://guest:s3cret-pw@127.0.0.1:2",
        )
    )
    for call in (broker.ping, lambda: broker.sample(["a", "b"])):
        started = time.monotonic()
        with pytest.raises(BrokerError) as raised:
            call()
        assert time.monotonic() - started < 3
        assert "s3cret-pw" not in str(raised.value)
        assert "management API unreachable" in str(raised.value)
        assert raised.value.permanent is False


def test_refused_management_credentials_are_permanent_and_hidden(rabbit_vhost):
    broker = adapter(rabbit_vhost, management_url="http://guest:wrong-pw-42@127.0.0.1:15672")
    with pytest.raises(BrokerError) as raised:
        broker.sample()
    assert raised.value.permanent is True
    assert "401" in str(raised.value) and "wrong-pw-42" not in str(raised.value)

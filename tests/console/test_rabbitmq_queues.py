"""RabbitMQ queues through the monitor and the API: counts, consumers, dead-letter links."""

from __future__ import annotations

import amqp

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.waiting import wait_for


def declare_with_dead_letters(vhost, source: str, dlq: str) -> None:
    connection = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost.name)
    connection.connect()
    try:
        channel = connection.channel()
        channel.exchange_declare("dlx", "direct", durable=True, auto_delete=False)
        channel.queue_declare(dlq, durable=True, auto_delete=False)
        channel.queue_bind(dlq, "dlx", routing_key=source)
        channel.queue_declare(source, durable=True, auto_delete=False, arguments={"x-dead-letter-exchange": "dlx"})
        for n in range(6):
            channel.basic_publish(amqp.Message(f"job {n}".encode()), exchange="", routing_key=source)
        for n in range(2):
            channel.basic_publish(amqp.Message(f"dead {n}".encode()), exchange="dlx", routing_key=source)
    finally:
        connection.close()


def test_rabbitmq_counts_and_dead_letter_links_reach_the_api(live_console, tokens, rabbit_vhost):
    declare_with_dead_letters(rabbit_vhost, "payments", "payments-failed")
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url),)
    )
    console = live_console(config, interval=0.5)

    def queues():
        rows = console.api("/api/v1/queues?broker=rabbit", tokens["viewer"]).json()
        by_name = {row["name"]: row for row in rows}
        ready = by_name.get("payments", {}).get("depth") == 6 and by_name.get("payments-failed", {}).get("depth") == 2
        # A queue's first management-API rows can lack consumer figures; wait for full stats.
        return ready and by_name["payments"]["consumers"] is not None and by_name

    by_name = wait_for(queues, timeout=30, message="management API figures for both queues")
    source, dlq = by_name["payments"], by_name["payments-failed"]
    assert source["dlq"] == "payments-failed" and not source["is_dlq"]
    assert dlq["is_dlq"] and dlq["dead_letter_source"] == "payments"
    assert source["consumers"] == 0 and source["unacked"] == 0
    assert source["vhost"] == rabbit_vhost.name
    only_dlqs = console.api("/api/v1/queues?broker=rabbit&dlq=true", tokens["viewer"]).json()
    assert [row["name"] for row in only_dlqs] == ["payments-failed"]
    broker = console.api("/api/v1/brokers", tokens["viewer"]).json()[0]
    assert broker["status"] == "up" and broker["transport"] == "rabbitmq" and "guest:****@" in broker["url"]


def test_rabbitmq_without_management_api_falls_back_and_says_so(live_console, tokens, rabbit_vhost):
    declare_with_dead_letters(rabbit_vhost, "orders", "orders.dlq")
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(
                name="rabbit",
                url=rabbit_vhost.amqp_url,
                management_url="http://guest:guest@127.0.0.1:1",
                queues=("orders", "orders.dlq"),
            ),
        )
    )
    console = live_console(config, interval=0.5)

    def orders():
        rows = console.api("/api/v1/queues?name=orders", tokens["viewer"]).json()
        return next((r for r in rows if r["name"] == "orders" and r["depth"] == 6), None)

    row = wait_for(orders, timeout=20, message="orders from passive declares")
    assert row["unacked"] is None and row["publish_rate"] is None
    broker = console.api("/api/v1/brokers", tokens["viewer"]).json()[0]
    assert broker["status"] == "up" and "management API unreachable" in broker["warning"]
    assert "guest:guest" not in broker["warning"]

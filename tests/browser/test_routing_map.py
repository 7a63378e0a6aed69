"""The routing map in a real chromium: cytoscape draws the broker's exchanges, queues, bindings,
consumers and dead-letter routes; a queue named like markup is drawn and shown as text, never
run; a dead-letter queue that fills up turns red live, from the monitor's queue.sample events."""

from __future__ import annotations

import amqp
import pytest

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import Queue
from messaging.process_config import set_config
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

HOSTILE = "<img src=x onerror=window.__owned=1><script>window.__owned=2</script>\"'" + "q" * 120


def declare(vhost: str) -> amqp.Connection:
    connection = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    channel = connection.channel()
    channel.exchange_declare("events", "topic", durable=True, auto_delete=False)
    channel.exchange_declare("dlx", "fanout", durable=True, auto_delete=False)
    channel.queue_declare("orders", durable=True, auto_delete=False, arguments={"x-dead-letter-exchange": "dlx"})
    channel.queue_declare("orders.dlq", durable=True, auto_delete=False)
    channel.queue_declare(HOSTILE, durable=True, auto_delete=False)
    channel.queue_bind("orders", "events", "order.*")
    channel.queue_bind("orders.dlq", "dlx", "")
    channel.queue_bind(HOSTILE, "events", "<b>#</b>")
    channel.basic_consume("orders", callback=lambda message: None)
    return connection


@pytest.fixture
def mapped_console(live_console, rabbit_vhost):
    connection = declare(rabbit_vhost.name)
    broker = BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url)
    config = SwitchyardConfig(brokers=(broker,))
    set_config(config)
    console = live_console(config, monitor=True, interval=0.5)
    wait_for(
        lambda: Queue.objects.filter(broker="rabbit", name="orders.dlq", present=True).exists(),
        timeout=20,
        message="the monitor to record the DLQ",
    )
    # The management API lists a consumer once its statistics arrive (every few seconds).
    consumers = rabbit_vhost.api("/api/consumers/{vhost}")
    wait_for(lambda: rabbit_vhost.http.get_json(consumers), timeout=20, message="the consumer in the management API")
    yield console, rabbit_vhost.name, connection
    connection.close()


def js(page, expression: str):
    return page.evaluate(f"() => {{ const cy = window.SwitchyardRoutingMap.cy; return {expression}; }}")


def test_map_draws_the_topology_keeps_hostile_names_as_text_and_goes_red_live(mapped_console, logged_in_page):
    console, vhost, connection = mapped_console
    page = logged_in_page(console, "viewer")
    page.goto(f"{console.url}/brokers/rabbit/map")
    page.wait_for_selector("#routing-map[data-loaded='true']", timeout=15_000)
    page.wait_for_function("() => window.SwitchyardRoutingMap.cy && window.SwitchyardRoutingMap.cy.nodes().length > 0")

    # default exchange, events, dlx, three queues, one consumer connection
    assert js(page, "cy.nodes().length") == 7
    assert sorted(js(page, "cy.edges().map(e => e.data('kind'))")) == [
        "binding",
        "binding",
        "binding",
        "consumes",
        "dead-letter",
    ]
    assert js(page, "cy.getElementById('queue:orders').outgoers('edge.dead-letter').targets().id()") == "exchange:dlx"
    # Laid out: nodes spread left to right in the direction messages travel.
    assert js(
        page, "cy.getElementById('exchange:events').position('x') < cy.getElementById('queue:orders').position('x')"
    )

    hostile_id = "queue:" + HOSTILE
    assert js(page, f"cy.getElementById({hostile_id!r}).data('name')") == HOSTILE
    page.evaluate(f"() => window.SwitchyardRoutingMap.cy.getElementById({hostile_id!r}).emit('tap') && null")
    assert page.locator("#map-details-title").text_content() == HOSTILE
    assert page.locator("#map-details img, #map-details script, #map-notes img").count() == 0
    assert page.evaluate("() => window.__owned") is None
    page.click("#map-routes summary")
    routes = page.locator("#map-routes-list").inner_text()
    assert "orders dead-letters to dlx" in routes and f"events routes to {HOSTILE} (<b>#</b>)" in routes

    # Dead letters arrive: the DLQ node reads 3 msgs and turns red without a reload.
    assert not js(page, "cy.getElementById('queue:orders.dlq').hasClass('dlq-holding')")
    channel = connection.channel()
    for n in range(3):
        channel.basic_publish(amqp.Message(b"dead %d" % n), exchange="dlx", routing_key="")
    page.wait_for_function(
        "() => { const n = window.SwitchyardRoutingMap.cy.getElementById('queue:orders.dlq');"
        " return n.data('depth') === 3 && n.hasClass('dlq-holding'); }",
        timeout=20_000,
    )
    assert "3 msgs" in js(page, "cy.getElementById('queue:orders.dlq').data('label')")
    assert page.problems == [], page.problems

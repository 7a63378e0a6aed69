"""The routing map page and the links to it: any role may open it, an unknown broker is 404, a
Redis broker says it has no routing topology, hostile filter text stays text, and queue pages and
broker cards link to it only where the transport can draw one."""

from __future__ import annotations

import html

from django.test import Client

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import BrokerState
from messaging.process_config import set_config
from tests.action_helpers import make_queue

HOSTILE = '"><script>window.__owned=1</script>'


def viewer(make_user) -> Client:
    client = Client()
    client.force_login(make_user("viewer")[0])
    return client


def configure() -> None:
    set_config(
        SwitchyardConfig(
            brokers=(
                BrokerConfig(name="rabbit", url="amqp://guest:guest@127.0.0.1:5672/"),
                BrokerConfig(name="main", url="redis://127.0.0.1:6379/0"),
            )
        )
    )
    BrokerState.objects.create(name="rabbit", transport="rabbitmq", redacted_url="amqp://guest:****@127.0.0.1/")
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://127.0.0.1:6379/0")


def test_map_page_for_rabbitmq_redis_and_unknown_brokers(make_user):
    configure()
    client = viewer(make_user)
    page = client.get("/brokers/rabbit/map", {"around": HOSTILE, "vhost": "/"})
    text = page.content.decode()
    assert page.status_code == 200 and 'id="routing-map"' in text
    assert 'data-api-url="/api/v1/brokers/rabbit/topology"' in text
    assert "<script>window.__owned" not in text and html.escape(HOSTILE) in text
    assert "vendor/cytoscape/cytoscape.min.js" in text

    redis_page = client.get("/brokers/main/map").content.decode()
    assert "has no routing topology" in redis_page and 'id="routing-map"' not in redis_page

    assert client.get("/brokers/no-such-broker/map").status_code == 404
    anonymous = Client().get("/brokers/rabbit/map")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_queue_pages_and_broker_cards_link_the_map_only_where_it_can_be_drawn(make_user):
    configure()
    client = viewer(make_user)
    rabbit_queue = make_queue("rabbit", "orders", vhost="/")
    redis_queue = make_queue("main", "emails")
    rabbit_page = client.get(f"/queues/{rabbit_queue.pk}/").content.decode()
    assert 'href="/brokers/rabbit/map?vhost=%2F&amp;around=orders"' in rabbit_page
    assert "/brokers/main/map" not in client.get(f"/queues/{redis_queue.pk}/").content.decode()
    overview = client.get("/").content.decode()
    assert 'href="/brokers/rabbit/map"' in overview and 'href="/brokers/main/map"' not in overview

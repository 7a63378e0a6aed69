"""GET /api/v1/brokers/{name}/topology against a real RabbitMQ: the map's edges are the broker's
own bindings, dead-letter routes come from queue arguments and from policies, the default
exchange stays one node, filters and the cap say what they left out; an unknown broker is 404
and a transport without routing (Redis) a clear 409."""

from __future__ import annotations

import amqp
import pytest
import requests
from django.test import Client

from messaging.models import BrokerState
from tests.action_helpers import MANAGEMENT_URL, make_queue, rabbit_vhost, redis_broker  # noqa: F401  (fixtures)
from tests.waiting import wait_for

API = MANAGEMENT_URL.replace("guest:guest@", "")
AUTH = ("guest", "guest")
HOSTILE = "<script>window.__owned=1</script>\"'&" + "x" * 150


def declare_production_topology(vhost: str) -> amqp.Connection:
    """A topic exchange with several bindings fed by a fanout through an exchange-to-exchange
    binding; a queue dead-lettering by its arguments, one by a policy, a quorum queue, a priority
    queue dead-lettering through the default exchange, and a consumer. The connection stays open
    (the consumer lives on it): the caller closes it."""
    requests.put(
        f"{API}/api/policies/{requests.utils.quote(vhost, safe='')}/billing-dl",
        json={"pattern": "^billing$", "definition": {"dead-letter-exchange": "dlx"}, "apply-to": "queues"},
        auth=AUTH,
        timeout=10,
    ).raise_for_status()
    connection = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest", virtual_host=vhost)
    connection.connect()
    channel = connection.channel()
    for name, kind in (("events", "topic"), ("front", "fanout"), ("dlx", "fanout")):
        channel.exchange_declare(name, kind, durable=True, auto_delete=False)
    channel.exchange_bind("events", "front", "")
    queues = {
        "orders": {"x-dead-letter-exchange": "dlx"},
        "billing": {},
        "audit-log": {"x-queue-type": "quorum"},
        "reports": {"x-max-priority": 10, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "reports.dead"},
        "reports.dead": {},
        "dead": {},
        "orphans": {"x-dead-letter-exchange": "nowhere"},  # a typo in production: dead letters dropped
        HOSTILE: {},
    }
    for name, arguments in queues.items():
        channel.queue_declare(name, durable=True, auto_delete=False, arguments=arguments)
    for queue, key in (("orders", "order.*"), ("orders", "order.#.urgent"), ("billing", "billing.#")):
        channel.queue_bind(queue, "events", key)
    channel.queue_bind("audit-log", "events", "#")
    channel.queue_bind(HOSTILE, "events", "<b>key</b>")
    channel.queue_bind("dead", "dlx", "")
    channel.basic_publish(amqp.Message(b"x"), exchange="", routing_key="reports.dead")
    channel.basic_consume("orders", callback=lambda message: None)
    return connection


def broker_bindings(vhost: str) -> set[tuple[str, str, str, str]]:
    rows = requests.get(f"{API}/api/bindings/{requests.utils.quote(vhost, safe='')}", auth=AUTH, timeout=10).json()
    return {
        (row["source"], row["destination_type"], row["destination"], row["routing_key"])
        for row in rows
        if row["source"] != ""
    }


def map_bindings(graph: dict) -> set[tuple[str, str, str, str]]:
    kinds = {"binding": "queue", "exchange-binding": "exchange"}
    names = {node["id"]: node["name"] for node in graph["nodes"]}
    return {
        (names[edge["source"]], kinds[edge["kind"]], names[edge["target"]], key)
        for edge in graph["edges"]
        if edge["kind"] in kinds
        for key in edge["routing_keys"]
    }


@pytest.fixture
def mapped(rabbit_vhost, make_user):  # noqa: F811
    _, vhost = rabbit_vhost
    BrokerState.objects.create(name="rabbit", transport="rabbitmq", redacted_url="amqp://")
    dlq_row = make_queue("rabbit", "reports.dead", vhost=vhost, depth=1)
    connection = declare_production_topology(vhost)
    client = Client()
    client.force_login(make_user("viewer")[0])

    def ready():
        graph = client.get("/api/v1/brokers/rabbit/topology").json()
        nodes = {node["name"]: node for node in graph.get("nodes", [])}
        settled = nodes.get("billing", {}).get("dead_letter_via") == "policy" and any(
            node["kind"] == "consumer" for node in nodes.values()
        )
        return settled and graph

    graph = wait_for(ready, timeout=20, interval=0.5, message="the policy and the consumer in the management API")
    yield client, vhost, graph, dlq_row
    connection.close()


def test_edges_are_the_brokers_bindings_and_dead_letter_routes(mapped):
    client, vhost, graph, dlq_row = mapped
    assert graph["vhost"] == vhost and not graph["truncated"]
    assert map_bindings(graph) == broker_bindings(vhost)
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert nodes["exchange:front"]["exchange_type"] == "fanout"
    assert ("exchange:front", "exchange:events") in {
        (e["source"], e["target"]) for e in graph["edges"] if e["kind"] == "exchange-binding"
    }

    dead = {
        (e["source"], e["target"], e["via"], tuple(e["routing_keys"]))
        for e in graph["edges"]
        if e["kind"] == "dead-letter"
    }
    assert dead == {
        ("queue:orders", "exchange:dlx", "arguments", ()),
        ("queue:billing", "exchange:dlx", "policy", ()),
        # Through the default exchange: straight to the queue its routing key names.
        ("queue:reports", "queue:reports.dead", "arguments", ("reports.dead",)),
        ("queue:orphans", "exchange:nowhere", "arguments", ()),
    }
    assert nodes["exchange:nowhere"]["missing"] is True and nodes["exchange:dlx"].get("missing") is None
    assert nodes["queue:dead"]["is_dlq"] and nodes["queue:reports.dead"]["is_dlq"]
    assert not nodes["queue:orders"]["is_dlq"]
    assert nodes["queue:reports.dead"]["queue_id"] == dlq_row.public_id
    assert nodes["queue:audit-log"]["queue_type"] == "quorum"
    assert nodes["queue:reports"]["max_priority"] == 10

    # The default exchange is one node with a count, never one edge per queue.
    default = nodes["exchange:"]
    assert default["implicit_bindings"] == 8
    assert not [e for e in graph["edges"] if e["source"] == "exchange:"]
    assert not [n for n in nodes if n.startswith("exchange:amq.")]  # unused built-ins left out

    consumers = [e for e in graph["edges"] if e["kind"] == "consumes"]
    assert [e["source"] for e in consumers] == ["queue:orders"] and consumers[0]["target"] in nodes
    assert nodes[f"queue:{HOSTILE}"]["name"] == HOSTILE  # data, as the broker spells it


def test_around_a_queue_and_by_name_and_capped(mapped):
    client, vhost, _, _ = mapped
    around = client.get("/api/v1/brokers/rabbit/topology", {"around": "orders"}).json()
    names = {node["name"] for node in around["nodes"]}
    assert {"orders", "events", "front", "dlx", "dead"} <= names
    assert not names & {"billing", "reports", "audit-log", "orphans", HOSTILE}
    assert any(node["kind"] == "consumer" for node in around["nodes"])

    by_name = client.get("/api/v1/brokers/rabbit/topology", {"q": "REPORTS"}).json()
    assert {node["name"] for node in by_name["nodes"]} == {"reports", "reports.dead"}

    capped = client.get("/api/v1/brokers/rabbit/topology", {"limit": "3"}).json()
    assert capped["truncated"] and len(capped["nodes"]) == 3 and capped["total_nodes"] > 3
    assert any("showing 3 of" in note for note in capped["notes"])
    kept = {node["id"] for node in capped["nodes"]}
    assert all(e["source"] in kept and e["target"] in kept for e in capped["edges"])

    assert client.get("/api/v1/brokers/rabbit/topology", {"around": "no-such-queue"}).status_code == 404
    assert client.get("/api/v1/brokers/rabbit/topology", {"limit": "0"}).status_code == 400
    unknown_vhost = client.get("/api/v1/brokers/rabbit/topology", {"vhost": vhost + "-missing"})
    assert unknown_vhost.status_code == 404 and "has no vhost" in unknown_vhost.json()["detail"]


def test_unknown_broker_is_404_and_redis_has_no_routing_topology(redis_broker, make_user):  # noqa: F811
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://")
    client = Client()
    client.force_login(make_user("viewer")[0])
    assert client.get("/api/v1/brokers/no-such-broker/topology").status_code == 404
    answer = client.get("/api/v1/brokers/main/topology")
    assert answer.status_code == 409
    assert answer.json()["error"] == "no_routing_topology" and "no routing topology" in answer.json()["detail"]
    assert Client().get("/api/v1/brokers/main/topology").status_code == 401


def test_kafka_topics_lead_to_their_consumer_groups_from_the_monitors_rows(make_user):
    from messaging.brokers.base import BrokerConfig
    from messaging.config import SwitchyardConfig
    from messaging.models import Queue
    from messaging.process_config import set_config

    set_config(SwitchyardConfig(brokers=(BrokerConfig(name="events", url="kafka://127.0.0.1:9092"),)))
    BrokerState.objects.create(name="events", transport="kafka", redacted_url="kafka://127.0.0.1:9092")
    orders = Queue.objects.create(broker="events", name="orders", kind="topic", topic="orders", depth=120)
    Queue.objects.create(broker="events", name="orders.dlq", kind="topic", topic="orders.dlq", depth=3, is_dlq=True)
    for group, lag, status in (("billing", 40, "growing"), ("audit", 0, "ok")):
        Queue.objects.create(
            broker="events",
            name=f"{group}@orders",
            kind="consumer-group",
            topic="orders",
            group=group,
            depth=lag,
            consumers=2,
            status=status,
        )
    client = Client()
    client.force_login(make_user("viewer")[0])
    graph = client.get("/api/v1/brokers/events/topology").json()
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert set(nodes) == {"topic:orders", "topic:orders.dlq", "consumer-group:billing", "consumer-group:audit"}
    assert nodes["topic:orders"]["queue_id"] == orders.public_id and nodes["topic:orders.dlq"]["is_dlq"]
    lags = {(e["source"], e["target"]): (e["lag"], e["status"]) for e in graph["edges"] if e["kind"] == "consumes"}
    assert lags == {
        ("topic:orders", "consumer-group:billing"): (40, "growing"),
        ("topic:orders", "consumer-group:audit"): (0, "ok"),
    }
    around = client.get("/api/v1/brokers/events/topology", {"around": "orders.dlq"}).json()
    assert [node["id"] for node in around["nodes"]] == ["topic:orders.dlq"]


def test_adapter_reads_at_most_max_objects_by_name_and_says_so(mapped, monkeypatch):
    from messaging.brokers.rabbitmq import topology as rabbit_topology
    from messaging.process_config import open_broker

    _, vhost, _, _ = mapped
    with open_broker("rabbit") as broker:
        whole = broker.topology(vhost, max_objects=3)  # 8 queues: one GET of all, cut to 3
        monkeypatch.setattr(rabbit_topology, "PAGE_SIZE", 2)
        paged = broker.topology(vhost, max_objects=2)  # more than 3 x 2: pages of 2 until 2 are read
    for topology, kept in ((whole, 3), (paged, 2)):
        queues = [node["name"] for node in topology.nodes if node["kind"] == "queue"]
        assert queues == sorted(queues)[:kept] and len(queues) == kept
        assert topology.truncated and f"only the first {kept} of 8 queues (by name) were read" in topology.notes
        ids = {node["id"] for node in topology.nodes}
        assert all(edge["source"] in ids and edge["target"] in ids for edge in topology.edges)

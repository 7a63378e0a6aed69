"""RabbitMQ's routing topology from the management API: exchanges, bindings, queues, consumers and
dead-letter routes of one vhost, as :class:`messaging.brokers.topology.Topology`.

Only reads: paginated GETs of exchanges and queues (``page_size`` 500, at most ``max_objects`` of
each), one GET of bindings and one of consumers, each asking only for the columns it uses.
Dead-letter routes come from queue arguments (``x-dead-letter-exchange``,
``x-dead-letter-routing-key``) and, where the arguments do not set them, from the queue's
effective policy (``dead-letter-exchange``, ``dead-letter-routing-key``): the queue's own
argument wins, as in RabbitMQ. The default exchange's implicit binding to every queue is folded
into its node (``implicit_bindings``) instead of one edge per queue; a dead-letter route through
it (``x-dead-letter-exchange: ""``) points straight at the queue its routing key names.
"""

from __future__ import annotations

from typing import Any

from messaging.brokers.http import HttpClient, path_segment
from messaging.brokers.topology import Topology, node_id

PAGE_SIZE = 500
FULL_READ_FACTOR = 3
EXCHANGE_COLUMNS = "name,type,internal,durable,arguments,message_stats.publish_in_details.rate"
QUEUE_COLUMNS = (
    "name,type,durable,messages_ready,messages_unacknowledged,consumers,arguments,policy,"
    "effective_policy_definition,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
)
BINDING_COLUMNS = "source,destination,destination_type,routing_key,arguments"
CONSUMER_COLUMNS = "queue.name,channel_details.connection_name,channel_details.peer_host,prefetch_count,ack_required"
DEFAULT_EXCHANGE = ""


def read_topology(http: HttpClient, vhost: str, max_objects: int) -> Topology:
    """The topology of ``vhost``. Raises :class:`messaging.brokers.http.HttpError` (a
    :class:`BrokerError`) when the management API cannot answer, 404 for an unknown vhost."""
    segment = path_segment(vhost)
    topology = Topology(vhost=vhost)
    exchanges = _paged(http, f"/api/exchanges/{segment}", EXCHANGE_COLUMNS, max_objects, topology, "exchanges")
    # With every exchange read, one a route names but the broker lacks is missing; otherwise unknown.
    all_exchanges = not topology.truncated
    queues = _paged(http, f"/api/queues/{segment}", QUEUE_COLUMNS, max_objects, topology, "queues")
    bindings = http.get_json(f"/api/bindings/{segment}", params={"columns": BINDING_COLUMNS}) or []
    consumers = http.get_json(f"/api/consumers/{segment}", params={"columns": CONSUMER_COLUMNS}) or []
    queue_names = {row["name"] for row in queues}
    _add_exchanges(topology, exchanges, all_exchanges)
    _add_queues(topology, queues)
    _add_bindings(topology, bindings, exchanges, queue_names)
    _add_dead_letter_routes(topology, queues, {row["name"] for row in exchanges}, queue_names, all_exchanges)
    _add_consumers(topology, consumers, queue_names)
    _drop_unused_builtins(topology)
    return topology


def _drop_unused_builtins(topology: Topology) -> None:
    """RabbitMQ's own ``amq.*`` exchanges exist in every vhost: drawn only when something uses them."""
    used = {edge["source"] for edge in topology.edges} | {edge["target"] for edge in topology.edges}
    unused = [
        n for n in topology.nodes if n["kind"] == "exchange" and n["name"].startswith("amq.") and n["id"] not in used
    ]
    if unused:
        topology.remove_nodes({node["id"] for node in unused})
        topology.notes.append(f"{len(unused)} unused built-in exchanges (amq.*) are not drawn")


def _paged(
    http: HttpClient, path: str, columns: str, max_objects: int, topology: Topology, what: str
) -> list[dict[str, Any]]:
    """At most ``max_objects`` rows, by name. One page first; when the vhost holds more, but no
    more than :data:`FULL_READ_FACTOR` times ``max_objects``, one unpaginated GET (RabbitMQ sorts
    the whole list for every page: ten pages of 500 of 6,000 queues took twice one GET of all
    6,000); beyond, pages up to ``max_objects`` only, so a vhost of 100,000 queues costs what one
    of 5,000 does."""
    first = _page(http, path, columns, 1)
    total = int(first.get("filtered_count") or 0)
    rows = _rows(first.get("items"))
    if len(rows) < total <= FULL_READ_FACTOR * max_objects:
        rows = _rows(http.get_json(path, params={"columns": columns}))
        rows.sort(key=lambda row: row["name"])
    elif len(rows) < total:
        page = 1
        while len(rows) < max_objects and page < int(first.get("page_count") or 0):
            page += 1
            rows.extend(_rows(_page(http, path, columns, page).get("items")))
    if total > max_objects:
        topology.truncated = True
        topology.notes.append(f"only the first {max_objects} of {total} {what} (by name) were read")
    return rows[:max_objects]


def _page(http: HttpClient, path: str, columns: str, page: int) -> dict[str, Any]:
    params = {"columns": columns, "page": str(page), "page_size": str(PAGE_SIZE), "sort": "name"}
    answer = http.get_json(path, params=params)
    return answer if isinstance(answer, dict) else {}


def _rows(items: Any) -> list[dict[str, Any]]:
    return [item for item in items or [] if isinstance(item, dict) and isinstance(item.get("name"), str)]


def _add_exchanges(topology: Topology, rows: list[dict[str, Any]], all_exchanges: bool) -> None:
    for row in rows:
        name = row["name"]
        figures: dict[str, Any] = {
            "exchange_type": row.get("type"),
            "internal": bool(row.get("internal")),
            "durable": bool(row.get("durable")),
            "publish_rate": _rate(row, "publish_in_details"),
        }
        if name == DEFAULT_EXCHANGE:
            # Every queue is bound to it by its own name: one figure, not one edge per queue.
            figures["implicit_bindings"] = None  # counted after filtering (messaging.routing_map)
            figures["label"] = "(default exchange)"
        topology.add_node("exchange", name, **figures)
    for row in rows:
        alternate = _as_dict(row.get("arguments")).get("alternate-exchange")
        if isinstance(alternate, str):
            _ensure_exchange(topology, alternate, all_exchanges)
            source = node_id("exchange", row["name"])
            topology.add_edge("alternate", source, node_id("exchange", alternate), routing_keys=[])


def _add_queues(topology: Topology, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        arguments = _as_dict(row.get("arguments"))
        policy = _as_dict(row.get("effective_policy_definition"))
        topology.add_node(
            "queue",
            row["name"],
            queue_type=row.get("type"),
            durable=bool(row.get("durable")),
            depth=_int(row.get("messages_ready")),
            unacked=_int(row.get("messages_unacknowledged")),
            consumers=_int(row.get("consumers")),
            publish_rate=_rate(row, "publish_details"),
            consume_rate=_rate(row, "deliver_get_details"),
            max_priority=_int(arguments.get("x-max-priority", policy.get("max-priority"))),
            policy=row.get("policy") if isinstance(row.get("policy"), str) else None,
            receives_dead_letters=False,
        )


def _add_bindings(
    topology: Topology, rows: list[dict[str, Any]], exchanges: list[dict[str, Any]], queue_names: set[str]
) -> None:
    """One edge per (source, destination) pair, its routing keys listed in binding order."""
    known_exchanges = {row["name"] for row in exchanges}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        source, destination = row.get("source"), row.get("destination")
        if not isinstance(source, str) or not isinstance(destination, str) or source == DEFAULT_EXCHANGE:
            continue
        is_queue = row.get("destination_type") == "queue"
        if source not in known_exchanges or destination not in (queue_names if is_queue else known_exchanges):
            continue  # beyond the objects read (truncated): drawn edges only join drawn nodes
        kind = "binding" if is_queue else "exchange-binding"
        key = (kind, source, destination)
        if key not in edges:
            target = node_id("queue" if is_queue else "exchange", destination)
            edges[key] = topology.add_edge(kind, node_id("exchange", source), target, routing_keys=[], arguments=[])
        edges[key]["routing_keys"].append(row.get("routing_key") or "")
        arguments = _as_dict(row.get("arguments"))
        if arguments:
            edges[key]["arguments"].append(arguments)


def _add_dead_letter_routes(
    topology: Topology,
    rows: list[dict[str, Any]],
    exchange_names: set[str],
    queue_names: set[str],
    all_exchanges: bool,
) -> None:
    dead_letter_exchanges: set[str] = set()
    for row in rows:
        arguments = _as_dict(row.get("arguments"))
        policy = _as_dict(row.get("effective_policy_definition"))
        exchange, via = _setting(arguments, "x-dead-letter-exchange", policy, "dead-letter-exchange")
        if exchange is None:
            continue
        routing_key, key_via = _setting(arguments, "x-dead-letter-routing-key", policy, "dead-letter-routing-key")
        source = node_id("queue", row["name"])
        topology.node(source).update(
            dead_letter_exchange=exchange, dead_letter_routing_key=routing_key, dead_letter_via=via
        )
        if exchange == DEFAULT_EXCHANGE and routing_key in queue_names:
            target = node_id("queue", routing_key)
            topology.node(target)["receives_dead_letters"] = True
        else:
            if exchange not in exchange_names:
                _ensure_exchange(topology, exchange, all_exchanges)
            target = node_id("exchange", exchange)
            dead_letter_exchanges.add(target)
        # None: the message keeps the routing key it was published with.
        keys = [routing_key] if routing_key is not None else []
        topology.add_edge("dead-letter", source, target, routing_keys=keys, via=key_via or via)
    for edge in topology.edges:
        if edge["kind"] == "binding" and edge["source"] in dead_letter_exchanges:
            topology.node(edge["target"])["receives_dead_letters"] = True


def _add_consumers(topology: Topology, rows: list[dict[str, Any]], queue_names: set[str]) -> None:
    """One node per client connection (a Celery worker is one), one edge per queue it consumes."""
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        queue = _as_dict(row.get("queue")).get("name")
        channel = _as_dict(row.get("channel_details"))
        connection = channel.get("connection_name")
        if not isinstance(queue, str) or queue not in queue_names or not isinstance(connection, str):
            continue
        consumer = topology.add_node("consumer", connection, peer_host=channel.get("peer_host"))["id"]
        key = (queue, connection)
        if key in edges:
            edges[key]["consumers"] += 1
        else:
            edges[key] = topology.add_edge(
                "consumes",
                node_id("queue", queue),
                consumer,
                consumers=1,
                prefetch=_int(row.get("prefetch_count")),
                ack_required=bool(row.get("ack_required")),
            )


def _ensure_exchange(topology: Topology, name: str, all_exchanges: bool) -> None:
    """An exchange named by a route but not read: ``missing`` (what goes there is dropped) when
    every exchange was read, else None (beyond the objects read: unknown)."""
    topology.add_node("exchange", name, exchange_type=None, missing=True if all_exchanges else None)


def _setting(arguments: dict[str, Any], argument: str, policy: dict[str, Any], key: str) -> tuple[Any, str | None]:
    """A queue setting and where it came from: its argument wins over its policy, as in RabbitMQ."""
    if isinstance(arguments.get(argument), str):
        return arguments[argument], "arguments"
    if isinstance(policy.get(key), str):
        return policy[key], "policy"
    return None, None


def _rate(row: dict[str, Any], detail: str) -> float | None:
    value = _as_dict(_as_dict(_as_dict(row.get("message_stats")).get(detail))).get("rate")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_dict(value: Any) -> dict[str, Any]:
    # Erlang's empty proplist comes out of the API as [] rather than {}.
    return value if isinstance(value, dict) else {}

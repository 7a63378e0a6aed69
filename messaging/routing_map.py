"""The routing map of one broker: where a message goes and where it ends up when it dies.

Reads the broker's routing topology through its adapter (:meth:`Broker.topology`, declared by
:attr:`Capabilities.routing_topology`), joins Switchyard's own queue rows (their page ids, DLQ
flags and latest figures), then filters (``contains``: nodes whose name holds the text, with
their neighbours; ``around``: one queue, what feeds it and everything downstream of it, dead
letters included) and caps the graph at ``limit`` nodes, saying so when it does.

Extension point for Kafka: a transport without a routing topology but with consumer groups
(:attr:`Capabilities.consumer_groups`) is drawn from the monitor's stored rows instead, topic ->
consumer group, once those rows carry ``kind``/``topic``/``group`` (:func:`_stored_topics`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from messaging.brokers.base import BrokerError
from messaging.brokers.registry import capabilities_for
from messaging.brokers.topology import Topology, node_id
from messaging.errors import DomainError
from messaging.queue_names import QueueRole, queue_role

DEFAULT_LIMIT = 300
MAX_LIMIT = 2000
#: Exchanges Celery declares for its own plumbing (events, worker mailboxes, their replies).
CELERY_PLUMBING_EXCHANGES = frozenset({"celeryev", "celery.pidbox", "reply.celery.pidbox"})
#: Hops followed from the queue of an ``around`` map, each way.
AROUND_DEPTH = 6


class NoRoutingTopology(DomainError):
    status = 409
    code = "no_routing_topology"


def routing_map(
    broker_name: str,
    vhost: str | None = None,
    contains: str = "",
    around: str = "",
    limit: int = DEFAULT_LIMIT,
    system: bool = False,
) -> dict[str, Any]:
    """``{broker, vhost, nodes, edges, truncated, notes, total_nodes}``. Raises
    :class:`NoRoutingTopology` (409) when the transport cannot say how it routes,
    :class:`DomainError` (404) when ``around`` names no queue of the map, and
    :class:`BrokerError` when the broker cannot be read. Celery's plumbing (event queues,
    worker mailboxes) is drawn only with ``system``; Switchyard's own queues never are."""
    topology = _read(broker_name, vhost)
    _hide_plumbing(topology, system)
    _fold_default_exchange(topology)
    _join_stored_queues(topology, broker_name)
    total = len(topology.nodes)
    if around:
        start = next((node_id(k, around) for k in ("queue", "topic") if topology.node(node_id(k, around))), None)
        if start is None:
            raise DomainError(f"no queue named {around!r} in vhost {topology.vhost!r}", status=404)
        _keep(topology, _around(topology, start))
    if contains:
        _keep(topology, _matching(topology, contains))
    _cap(topology, limit)
    return {
        "broker": broker_name,
        "vhost": topology.vhost,
        "nodes": topology.nodes,
        "edges": topology.edges,
        "truncated": topology.truncated,
        "notes": topology.notes,
        "total_nodes": total,
    }


def has_topology(broker_name: str) -> bool:
    """Whether the broker's transport can draw a routing map (no connection is opened)."""
    try:
        capabilities = capabilities_for(_scheme(broker_name))
    except (BrokerError, ValueError):
        return False
    return capabilities.routing_topology or capabilities.consumer_groups


def _scheme(broker_name: str) -> str:
    from messaging.process_config import broker_config

    return broker_config(broker_name).scheme


def _read(broker_name: str, vhost: str | None) -> Topology:
    from messaging.process_config import open_broker

    capabilities = capabilities_for(_scheme(broker_name))
    if capabilities.routing_topology:
        with open_broker(broker_name) as broker:
            try:
                return broker.topology(vhost)
            except BrokerError as exc:
                if getattr(exc, "status", None) == 404:  # the management API's "no such vhost"
                    raise DomainError(f"broker {broker_name!r} has no vhost {vhost!r}", status=404) from None
                raise
    if capabilities.consumer_groups:
        return _stored_topics(broker_name)
    raise NoRoutingTopology(
        f"broker {broker_name!r} has no routing topology: its transport delivers each message to the "
        "queue it names, with no exchanges or bindings between them"
    )


def _stored_topics(broker_name: str) -> Topology:
    """Topics and the consumer groups reading them (Kafka), from the monitor's rows: one node
    per topic and per group, one ``consumes`` edge per (topic, group) with its lag. Topics carry
    their row's ``queue_id`` (page, live events); an edge its consumer-group row's ``row_id``."""
    from messaging.models import Queue

    topology = Topology(vhost="")
    rows = list(
        Queue.objects.filter(broker=broker_name, present=True, kind__in=("topic", "consumer-group")).order_by(
            "kind", "name"
        )
    )
    for row in rows:
        if row.kind == "topic":
            topology.add_node(
                "topic",
                row.topic or row.name,
                queue_id=row.public_id,
                depth=row.depth,
                publish_rate=row.publish_rate,
                is_dlq=row.is_dlq,
                trend=row.trend,
            )
    for row in rows:
        if row.kind != "consumer-group":
            continue
        topic = topology.add_node("topic", row.topic, queue_id=None, depth=None, is_dlq=False)
        group = topology.add_node("consumer-group", row.group or row.name, consumers=row.consumers)
        topology.add_edge(
            "consumes",
            topic["id"],
            group["id"],
            row_id=row.public_id,
            lag=row.depth,
            consume_rate=row.consume_rate,
            status=row.status or None,
        )
    if not rows:
        topology.notes.append("no topics recorded yet: the monitor lists them after its first sample")
    return topology


def _hide_plumbing(topology: Topology, system: bool) -> None:
    """Drop Switchyard's own and reply queues (and Celery's event queues and mailboxes unless
    ``system``), then the exchanges and consumers that only served them."""
    hidden_roles = {QueueRole.OWN, QueueRole.TRANSIENT} | (set() if system else {QueueRole.SYSTEM})
    hidden = {n["id"] for n in topology.nodes if n["kind"] == "queue" and queue_role(n["name"]) in hidden_roles}
    if not system:
        hidden |= {node_id("exchange", name) for name in CELERY_PLUMBING_EXCHANGES} & {n["id"] for n in topology.nodes}
    if not hidden:
        return
    touched = {e["source"] for e in topology.edges} | {e["target"] for e in topology.edges}
    topology.remove_nodes(hidden)
    still = {e["source"] for e in topology.edges} | {e["target"] for e in topology.edges}
    orphans = {n["id"] for n in topology.nodes if n["id"] in touched - still and n["kind"] != "queue"}
    topology.remove_nodes(orphans)
    plumbing = sum(1 for id_ in hidden if id_.startswith("exchange:") or queue_role(id_[6:]) == QueueRole.SYSTEM)
    if plumbing:
        topology.notes.append(
            f"{plumbing} Celery event and mailbox exchanges and queues are not drawn (tick system queues to see them)"
        )


def _fold_default_exchange(topology: Topology) -> None:
    """The default exchange routes to every queue by its name: one count on its node, not an
    edge per queue (there can be tens of thousands)."""
    default = topology.node(node_id("exchange", ""))
    if default is None or "implicit_bindings" not in default:
        return
    default["implicit_bindings"] = sum(1 for node in topology.nodes if node["kind"] == "queue")
    topology.notes.insert(
        0,
        f"the default exchange routes to each of the {default['implicit_bindings']} queues by its name; "
        "those implicit bindings are not drawn",
    )


def _join_stored_queues(topology: Topology, broker_name: str) -> None:
    """Each queue node gets ``queue_id`` (its page and its ``queue.sample`` events), ``is_dlq``
    and the monitor's ``trend`` where Switchyard knows the queue."""
    from messaging.models import Queue

    names = [node["name"] for node in topology.nodes if node["kind"] == "queue"]
    stored = Queue.objects.filter(broker=broker_name, vhost__in=(topology.vhost, ""), name__in=names)
    by_name = {row.name: row for row in stored.order_by("vhost")}  # the vhost's own row wins over ""
    for node in topology.nodes:
        if node["kind"] != "queue":
            continue
        row = by_name.get(node["name"])
        node["queue_id"] = row.public_id if row else None
        node["is_dlq"] = bool(row and row.is_dlq) or bool(node.get("receives_dead_letters"))
        node["trend"] = row.trend if row else ""
        if row and node.get("depth") is None:
            node.update(depth=row.depth, unacked=row.unacked, consumers=row.consumers)
        if row and node.get("publish_rate") is None:
            node.update(publish_rate=row.publish_rate, consume_rate=row.consume_rate)


def _around(topology: Topology, start: str) -> set[str]:
    """``start``, everything upstream of it (what can route to it) and downstream (its consumers,
    where its dead letters go, and on from there), each up to :data:`AROUND_DEPTH` hops."""
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for edge in topology.edges:
        forward.setdefault(edge["source"], []).append(edge["target"])
        backward.setdefault(edge["target"], []).append(edge["source"])
    keep = {start}
    for links in (forward, backward):
        seen, todo = {start}, deque([(start, 0)])
        while todo:
            current, depth = todo.popleft()
            for nxt in links.get(current, []) if depth < AROUND_DEPTH else []:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append((nxt, depth + 1))
        keep |= seen
    return keep


def _matching(topology: Topology, contains: str) -> set[str]:
    needle = contains.casefold()
    keep = {node["id"] for node in topology.nodes if needle in node["name"].casefold()}
    for edge in topology.edges:
        if edge["source"] in keep or edge["target"] in keep:
            keep |= {edge["source"], edge["target"]}
    return keep


def _keep(topology: Topology, ids: set[str]) -> None:
    topology.remove_nodes({node["id"] for node in topology.nodes} - ids)


def _cap(topology: Topology, limit: int) -> None:
    """At most ``limit`` nodes: dead-letter queues and the deepest queues first, then what
    connects to them, then the rest in the broker's order."""
    if len(topology.nodes) <= limit:
        return
    shown = len(topology.nodes)
    ranked = sorted(
        topology.nodes,
        key=lambda n: (n["kind"] != "queue", not n.get("is_dlq"), -(n.get("depth") or 0)),
    )
    keep = {node["id"] for node in ranked[: limit // 2]}
    for edge in topology.edges:
        if len(keep) >= limit:
            break
        if edge["source"] in keep or edge["target"] in keep:
            keep.add(edge["source"])
            if len(keep) < limit:
                keep.add(edge["target"])
    for node in ranked:
        if len(keep) >= limit:
            break
        keep.add(node["id"])
    _keep(topology, keep)
    topology.truncated = True
    topology.notes.append(
        f"showing {len(topology.nodes)} of {shown} nodes: filter by name, or open the map around one queue"
    )

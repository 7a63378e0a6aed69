"""The routing topology an adapter reads for the routing map, in a transport-neutral shape.

A graph of where messages go: nodes (``exchange``, ``queue``, ``consumer``; Kafka adds ``topic``
and ``consumer-group``) and directed edges in the direction messages travel (``binding``
exchange -> queue, ``exchange-binding`` exchange -> exchange, ``alternate`` exchange -> its
alternate exchange, ``dead-letter`` queue -> where its dead messages are published, ``consumes``
queue -> consumer). Node and edge ids are unique within one topology; names are the broker's own
text (anyone's: shown escaped, never as markup). Figures a broker does not report are None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE_KINDS = ("exchange", "queue", "consumer", "topic", "consumer-group")
EDGE_KINDS = ("binding", "exchange-binding", "alternate", "dead-letter", "consumes")


def node_id(kind: str, name: str) -> str:
    """A node's id: its kind and name, so an exchange and a queue of one name stay two nodes."""
    return f"{kind}:{name}"


@dataclass
class Topology:
    """``nodes`` and ``edges`` are JSON-ready dicts: a node has ``id``, ``kind``, ``name`` and
    kind-specific figures; an edge ``id``, ``kind``, ``source``, ``target`` (node ids) and, for
    bindings and dead-letter routes, ``routing_keys``. ``truncated`` is True when the broker held
    more than ``max_objects`` of some kind and only the first were read; ``notes`` say what was
    left out or folded (the default exchange's implicit bindings, for instance)."""

    vhost: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    _by_id: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def add_node(self, kind: str, name: str, **figures: Any) -> dict[str, Any]:
        """The node of that kind and name, added with ``figures`` unless it exists already."""
        found = self._by_id.get(node_id(kind, name))
        if found is not None:
            return found
        node = {"id": node_id(kind, name), "kind": kind, "name": name, **figures}
        self.nodes.append(node)
        self._by_id[node["id"]] = node
        return node

    def node(self, id_: str) -> dict[str, Any] | None:
        return self._by_id.get(id_)

    def remove_nodes(self, ids: set[str]) -> None:
        """Drop these nodes and every edge that touches one."""
        self.nodes = [node for node in self.nodes if node["id"] not in ids]
        self.edges = [edge for edge in self.edges if edge["source"] not in ids and edge["target"] not in ids]
        for id_ in ids:
            self._by_id.pop(id_, None)

    def add_edge(self, kind: str, source: str, target: str, **data: Any) -> dict[str, Any]:
        edge = {"id": f"e{len(self.edges)}", "kind": kind, "source": source, "target": target, **data}
        self.edges.append(edge)
        return edge

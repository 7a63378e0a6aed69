"""The one interface every broker adapter implements.

An adapter is built from a :class:`BrokerConfig` and talks to exactly one broker. The monitor calls
:meth:`Broker.sample` once per interval; operator actions call the message methods. Nothing outside
``messaging/brokers/`` opens a connection to a broker.

Every figure an adapter cannot know is ``None``: "could not look" must never read as zero.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from messaging.brokers.capabilities import Capabilities

if TYPE_CHECKING:
    from messaging.brokers.moves import MovePlan, MoveSession
    from messaging.brokers.topology import Topology


class BrokerError(Exception):
    """A broker could not do what was asked.

    ``permanent`` is True when retrying cannot help (bad credentials, unknown queue, refused
    command); False for faults that may pass (connection refused, timeout, broker restarting).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Unsupported(BrokerError):
    """The adapter cannot do this at all (e.g. close client connections on Redis): a request
    to fix, not a broker outage."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class QueueNotFound(BrokerError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} does not exist", permanent=True)
        self.queue = queue


@dataclass(frozen=True)
class BrokerConfig:
    """One configured broker. ``url`` may hold a password: show it only through
    :func:`messaging.brokers.urls.redact_url`."""

    name: str
    url: str
    queues: tuple[str, ...] = ()
    management_url: str | None = None
    dead_letter_queues: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # Capture Celery events (and inspect/control workers) through this broker.
    celery_events: bool = True
    # Client settings passed to the transport's client library as they are (Kafka: librdkafka's
    # SASL/SSL settings). May hold secrets: never shown, never in a repr.
    client: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower() if "://" in self.url else ""


@dataclass
class QueueStats:
    """What one sample knows about one queue. ``None`` means unknown, never zero."""

    name: str
    vhost: str = ""
    depth: int | None = None
    unacked: int | None = None
    consumers: int | None = None
    publish_rate: float | None = None
    consume_rate: float | None = None
    # Head-of-line: an exact publish time when the head message carries one, else a digest of the
    # head message so the monitor can tell how long the same message has been at the head.
    head_published_at: float | None = None
    head_digest: str | None = None
    # Dead-letter routing from queue arguments or policy (RabbitMQ); the DLQ resolver uses them.
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    # The DLQ by name where the broker names it directly (SQS: the RedrivePolicy's target).
    dead_letter_queue: str | None = None
    # Facts for the queue page beyond the figures, label -> short text or number (SQS: visibility
    # timeout, retention, maxReceiveCount, why the oldest age is unknown).
    details: dict[str, Any] | None = None
    queue_type: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    # What the row is: "queue", or on Kafka "topic" (depth = retained records) and
    # "consumer-group" (one per group and topic: depth = lag), with their topic and group.
    kind: str = "queue"
    topic: str | None = None
    group: str | None = None
    # A consumer group's Burrow-style status ("ok", "growing", "stalled", "stopped",
    # "no members"; None when not judged) and per-partition offsets, for the queue detail.
    status: str | None = None
    partitions: list[dict[str, Any]] | None = None
    # The broker's own plumbing (Kafka's internal topics): listed only on request.
    system: bool = False


@dataclass
class BrokerSample:
    """One round of sampling a broker: its queues, and what the adapter could and could not see."""

    queues: list[QueueStats]
    # Exchange -> [(routing_key, queue)] as far as the adapter knows them; used for DLQ mapping.
    bindings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # Said to the operator when the sample is partial (e.g. "management API unreachable: ...").
    warning: str | None = None
    # Messages in flight on the broker as a whole when it cannot attribute them to queues.
    unacked_total: int | None = None
    # Vhost -> exchange -> [(routing_key, queue)] when the adapter sees several vhosts (RabbitMQ
    # sampled without a vhost in its URL); ``bindings`` then holds only the default vhost's.
    bindings_by_vhost: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)


@dataclass(frozen=True)
class BrowseEffects:
    """What looking at a queue's messages does to them, said to the operator before they consent.

    ``changes`` are sentences (empty where browsing is a plain read). ``delivery_limit`` is set
    when each browse counts toward a limit past which the broker drops or dead-letters a message
    (RabbitMQ quorum queues): a message already at its limit is lost by being looked at, and the
    adapter cannot know which are without taking them."""

    changes: tuple[str, ...] = ()
    delivery_limit: int | None = None
    queue_type: str | None = None


@dataclass
class RawMessage:
    """One message as it sits in a queue, undecoded. ``raw`` is the exact stored value (Redis) or
    the payload plus properties the broker returned (RabbitMQ); decoding lives in
    ``messaging.decoding`` and never unpickles."""

    raw: bytes
    position: int
    queue: str
    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]
    content_type: str | None
    content_encoding: str | None
    redelivered: bool = False
    priority_key: str | None = None
    # Size of the message as stored; with ``truncated`` the broker returned only part of the body
    # (RabbitMQ's management API cuts payloads at the adapter's truncate limit).
    size_bytes: int | None = None
    truncated: bool = False


class _Declared:
    """A capability read through the class or an instance (``RedisBroker.browse_consumes`` as
    well as ``broker.browse_consumes``), so the declaration in ``capabilities`` is the only one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type[Broker]) -> Any:
        return getattr(owner.capabilities, self.name)


class Broker(abc.ABC):
    """A connection to one broker. Adapters state their loss and duplication guarantees and
    declare what they can do in :attr:`capabilities`; a broker is a context manager that closes
    it (``with open_broker(name) as broker:``)."""

    transport: str = ""
    #: What this transport can do (:class:`Capabilities`); callers ask it, never the name.
    capabilities: Capabilities = Capabilities()

    #: :attr:`Capabilities.browse_consumes` (a peek changes the broker), on the class and on
    #: each adapter.
    browse_consumes: bool = _Declared("browse_consumes")  # type: ignore[assignment]
    #: :attr:`Capabilities.max_browse_window` (the deepest ``offset + limit`` of one peek).
    max_browse_window: int = _Declared("max_browse_window")  # type: ignore[assignment]

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    @classmethod
    def kombu_connection_args(cls, config: BrokerConfig) -> tuple[str, dict[str, Any]]:
        """The URL and transport options a Kombu client (Celery's events, inspect, control)
        needs to reach this broker as its applications do: adapters whose URL carries options
        of Switchyard's own move them into the options."""
        return config.url, dict(config.options)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def default_vhost(self) -> str:
        """The vhost queues named without one (configured queues) belong to; "" where the
        transport has none."""
        return ""

    def reaches(self, vhost: str) -> bool:
        """Whether :meth:`peek`, :meth:`count` and moves on this connection act on the queues of
        ``vhost`` that :meth:`sample` lists. A sample may list more than the connection can reach
        (a RabbitMQ URL without a vhost lists every vhost, but its connection opens ``/``): acting
        on such a queue would act on the same-named queue of the opened vhost instead."""
        return vhost in ("", self.default_vhost)

    @abc.abstractmethod
    def ping(self) -> None:
        """Return if the broker answers; raise :class:`BrokerError` with the reason otherwise."""

    @abc.abstractmethod
    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        """Discover queues and measure them, in a handful of round trips whatever their number.

        ``known_queues`` (queues seen before) are measured even when discovery does not find
        them; where the broker cannot tell an empty queue from a deleted one (Redis), such a
        queue is reported only while it holds messages. Configured queues and
        ``watched_queues`` (targets Switchyard wrote to) are always reported where the broker
        cannot tell (Redis: an absent key is an empty queue, depth 0).
        Raises :class:`BrokerError` when the broker cannot be reached.
        """

    @abc.abstractmethod
    def peek(self, queue: str, offset: int = 0, limit: int = 50) -> tuple[int, list[RawMessage]]:
        """Return ``(count, messages)`` from the oldest end without consuming anything."""

    def peek_partition(
        self,
        queue: str,
        partition: int,
        *,
        from_offset: int | None = None,
        from_time: float | None = None,
        limit: int = 50,
    ) -> list[RawMessage]:
        """Up to ``limit`` records of one partition, without side effects: from ``from_offset``,
        else from the first at or after ``from_time`` (epoch seconds), else the newest; each
        ``position`` is the record's offset. Adapters declaring
        :attr:`Capabilities.browses_partitions` implement it (Kafka). Raises :class:`BrokerError`
        (:class:`QueueNotFound` for a partition that does not exist)."""
        raise Unsupported(f"{self.transport or 'this'} broker has no partitions to browse")

    def browse_effects(self, queue: str) -> BrowseEffects:
        """What a :meth:`peek` of ``queue`` would change (nothing, unless :attr:`browse_consumes`).
        Raises :class:`BrokerError` (:class:`QueueNotFound`) when the adapter must ask and cannot."""
        return BrowseEffects()

    def close(self) -> None:
        """Release connections. Safe to call more than once."""

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- operator actions (messaging.action_runner drives these) -------------------------------

    def open_move(self, plan: MovePlan) -> MoveSession:
        """Start moving (or, with ``plan.target`` None, deleting) the selected messages of
        ``plan.source``. The session processes at most ``plan.budget`` messages from the oldest
        end, in batches (:meth:`MoveSession.step`). Adapters state their loss and duplication
        guarantees; none may lose a message. Raises :class:`BrokerError`."""
        raise Unsupported(f"{self.transport or 'this'} adapter cannot move messages")

    def count(self, queue: str) -> int | None:
        """Messages ready in the queue now, or None when the adapter cannot tell cheaply."""
        return None

    def queue_exists(self, queue: str) -> bool | None:
        """True or False when the broker can tell, None when it cannot (Redis: an empty list and
        a missing queue look the same, so a known binding or a non-empty list counts)."""
        return None

    def stuck_in_flight(self, older_than_s: float, limit: int = 200) -> list[InFlight]:
        """Messages (Redis) or consumers (RabbitMQ: ``tag`` is the connection name, ``task_id``
        None) holding unacknowledged messages for longer than ``older_than_s``."""
        return []

    def restore_in_flight(self, tag: str) -> str | None:
        """Return one held message to its queue now; the queue, or None if it was settled
        meanwhile. Raises :class:`BrokerError` when the adapter cannot."""
        raise Unsupported(f"{self.transport or 'this'} adapter cannot restore in-flight messages")

    def close_connection(self, name: str) -> None:
        """Close a client connection so the broker requeues what it held (RabbitMQ)."""
        raise Unsupported(f"{self.transport or 'this'} adapter cannot close client connections")

    def topology(self, vhost: str | None = None, max_objects: int = 5000) -> Topology:
        """How messages are routed in ``vhost`` (the adapter's default when None): see
        :class:`messaging.brokers.topology.Topology`. Only reads. Adapters declaring
        :attr:`Capabilities.routing_topology` implement it; others raise :class:`Unsupported`."""
        raise Unsupported(f"{self.transport or 'this'} broker has no routing topology")


@dataclass
class InFlight:
    """A message held by a consumer. ``tag`` identifies it for :meth:`restore_in_flight`."""

    tag: str
    queue: str | None
    age_s: float | None
    task: str | None = None
    task_id: str | None = None
    consumer: str | None = None
    unacked: int | None = None

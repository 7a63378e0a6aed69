"""What a transport can do, declared by its adapter (as Kombu's transports declare what they
implement), so that code outside ``messaging/brokers/`` asks a broker what it can do, never which
one it is. docs/brokers.md tabulates the declarations of each transport."""

from __future__ import annotations

from dataclasses import dataclass

#: How messages a consumer held unacknowledged come back when it dies.
REDELIVER_ON_DISCONNECT = "on_disconnect"  # the broker requeues them when the connection drops
REDELIVER_AFTER_VISIBILITY_TIMEOUT = "after_visibility_timeout"  # a consumer restores them later
NO_REDELIVERY = "none"

#: What the in-flight view shows and acts on.
IN_FLIGHT_MESSAGES = "messages"  # each held message: listed with its age, restored one by one
IN_FLIGHT_CHANNELS = "channels"  # per consumer channel: unacked counts, its connection closed
IN_FLIGHT_NONE = "none"


@dataclass(frozen=True)
class Capabilities:
    """One transport's declared abilities and guarantees. The defaults are the cautious ones: an
    adapter declares what it does, and nothing is assumed of one that does not say."""

    #: :meth:`Broker.peek` changes the broker (RabbitMQ takes each message and requeues it; SQS
    #: receives): browsing is then an operator action behind a POST, never a viewer's GET.
    browse_consumes: bool = False
    #: The deepest ``offset + limit`` one peek may reach (a consuming browse holds every message
    #: up to it in memory, so such adapters declare a small window).
    max_browse_window: int = 100_000
    #: How unacknowledged messages come back after a consumer crash (``REDELIVER_*``).
    redelivery: str = NO_REDELIVERY
    #: The broker may hand back a message whose acknowledgement it had (acks lost in a socket
    #: or a node's journal when it crashed). Moves then remember what they moved
    #: (``MovePlan.record_moved``) so that a re-delivered copy is not moved twice.
    may_redeliver_acknowledged: bool = False
    #: Messages an action moves per step (the runner's batch, before a rate limit shrinks it).
    move_batch_size: int = 200
    #: The most messages an interrupted move can leave in both queues (None: unknown). Redis
    #: moves are batch-atomic (0); RabbitMQ pipelines two batches of confirms (2 x 500).
    move_duplicate_bound: int | None = None
    #: What the in-flight view shows (``IN_FLIGHT_*``).
    in_flight: str = IN_FLIGHT_NONE
    #: :meth:`Broker.restore_in_flight` returns one held message to its queue now.
    restores_in_flight: bool = False
    #: :meth:`Broker.close_connection` closes a client connection; the broker requeues its messages.
    closes_connections: bool = False
    #: Selected messages can be deleted one by one (a delete action with ids or a filter).
    deletes_messages: bool = False
    #: A queue can be emptied (a purge action).
    purges: bool = False
    #: Messages can carry a priority the broker delivers by.
    priorities: bool = False
    #: Consumers can share a stream through groups with their own offsets (Kafka, Redis streams).
    consumer_groups: bool = False
    #: :meth:`Broker.peek_partition` reads one partition from an offset, a time or its newest end.
    browses_partitions: bool = False
    #: A move session applies :attr:`MovePlan.rewrite` (edit-then-requeue of one message).
    edits_messages: bool = False
    #: Celery workers on this transport send events and answer remote control (broadcast). Kombu's
    #: SQS transport has no broadcast: the Workers and Tasks pages then say so instead of empty tables.
    worker_events: bool = True
    #: The broker refuses a second purge of a queue within this many seconds (SQS: 60).
    purge_interval_s: float | None = None
    #: :meth:`Broker.topology` reads how messages are routed (exchanges, bindings, dead-letter
    #: routes, consumers) for the routing map.
    routing_topology: bool = False

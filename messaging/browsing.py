"""Browsing a queue's messages, decoded for the operator.

Where the adapter's peek is a plain read (``Broker.browse_consumes`` False: Redis) anyone who may
see the queue may browse. Where it changes the broker (RabbitMQ takes each message and requeues
it: redelivered flag, order, and on quorum queues a delivery count that can drop the message)
browsing is an operator action: callers check the role, the request is a POST with CSRF or a
token, the operator is told what it changes (:func:`browse_effects`), a browse that may push a
message past a quorum queue's delivery limit runs only when that risk is accepted, and each one
is audited.

Every browse is bounded: ``limit`` by :data:`MAX_LIMIT`, ``offset + limit`` by the adapter's
``max_browse_window``, and one browse at a time per user (:class:`BrowseRefused` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

from messaging import audit, decoding
from messaging.brokers.base import Broker, BrowseEffects, RawMessage
from messaging.brokers.registry import adapter_class
from messaging.errors import DomainError, unaddressable
from messaging.models import Queue
from messaging.process_config import broker_config, broker_named

MAX_LIMIT = 200
#: How far a raw download looks for a message whose position moved.
FIND_WINDOW = 1000
#: A browse still holding its user's slot after this long is taken to have died with its process.
BROWSE_SLOT_S = 120
_local_slots = LocMemCache("switchyard-browse-slots", {})
BROWSE_WARNING = (
    "Browsing RabbitMQ takes each message and puts it back (get with requeue): the order may "
    "change, the messages are marked redelivered, and on quorum queues each browse counts toward "
    "the delivery limit, which can dead-letter or drop them. Browsing SQS receives each message and "
    "makes it visible again at once: each one's ApproximateReceiveCount grows by one, which counts "
    "toward a RedrivePolicy's maxReceiveCount."
)


class BrowseRefused(DomainError):
    """A browse that does not run as asked. ``status``: 400 (outside the window), 409 (a quorum
    queue's delivery-limit risk not accepted: ``code`` ``delivery_limit_risk``; or a vhost the
    broker's connection cannot reach), 429 (this user's previous browse still runs)."""

    def __init__(self, detail: str, status: int, code: str | None = None) -> None:
        super().__init__(detail, status)
        self.code = code


@dataclass
class BrowsePage:
    """What a browse found and what it did to the broker (``consumed``: messages were taken
    and requeued; ``taken`` of them; ``effects`` says what that changed)."""

    count: int
    messages: list[decoding.DecodedMessage]
    consumed: bool = False
    taken: int = 0
    effects: BrowseEffects = field(default_factory=BrowseEffects)

    def side_effects(self) -> dict[str, Any] | None:
        """The API's ``browse`` field: None for a plain read."""
        if not self.consumed:
            return None
        counts = [_delivery_count(m.headers) for m in self.messages]
        known = [c for c in counts if c is not None]
        return {
            "taken_and_requeued": self.taken,
            "changes": list(self.effects.changes),
            "queue_type": self.effects.queue_type,
            "delivery_limit": self.effects.delivery_limit,
            "highest_delivery_count": max(known) if known else None,
        }


def _adapter(queue: Queue) -> type[Broker]:
    return adapter_class(broker_config(queue.broker).scheme)


def browse_consumes(queue: Queue) -> bool:
    """True when looking at this queue's messages changes the broker (the adapter says so)."""
    return _adapter(queue).browse_consumes


def browse_is_free(queue: Queue) -> bool:
    return not browse_consumes(queue)


def browse_window(queue: Queue) -> int:
    """The deepest ``offset + limit`` a browse of this queue may reach."""
    return _adapter(queue).max_browse_window


def browse_effects(queue: Queue) -> BrowseEffects:
    """What a browse of ``queue`` would change, to show before the operator consents. Asks the
    broker only when its browse consumes. Raises BrokerError."""
    if not browse_consumes(queue):
        return BrowseEffects()
    with _reaching_broker(queue) as broker:
        return broker.browse_effects(queue.name)


def check_window(queue: Queue, offset: int, limit: int) -> None:
    """Raise :class:`BrowseRefused` (400) unless ``offset``/``limit`` fit this queue's window."""
    window = browse_window(queue)
    if offset < 0 or limit < 0 or limit > MAX_LIMIT:
        raise BrowseRefused(f"offset must be at least 0 and limit between 0 and {MAX_LIMIT}", 400)
    if offset + limit > window:
        raise BrowseRefused(
            f"offset + limit may be at most {window} on this broker (asked {offset + limit}): a browse "
            "takes every message up to the last one shown; use a requeue or move with a filter to "
            "reach messages further back",
            400,
        )


def browse(
    queue: Queue,
    offset: int,
    limit: int,
    can_read_bodies: bool,
    *,
    user: Any = None,
    accept_delivery_limit_risk: bool = False,
) -> BrowsePage:
    """The messages from ``offset`` (oldest first), decoded as the role may see them.

    The caller has checked that ``user`` may browse this queue (operators where the browse
    consumes). Raises :class:`BrowseRefused` (window, delivery-limit risk not accepted, another
    browse of this user still running), BrokerError. A consuming browse is audited.
    """

    check_window(queue, offset, limit)
    with one_browse_per_user(user):
        with _reaching_broker(queue) as broker:
            consumed = broker.browse_consumes and limit > 0  # limit 0 only counts
            effects = broker.browse_effects(queue.name) if consumed else BrowseEffects()
            if effects.delivery_limit is not None and not accept_delivery_limit_risk:
                raise BrowseRefused(
                    f"this queue drops or dead-letters a message delivered more than "
                    f"{effects.delivery_limit} times, and every browse delivers each message it shows: "
                    "a message near its limit would be lost by looking at it. Confirm that risk "
                    "(accept_delivery_limit_risk) to browse anyway.",
                    409,
                    code="delivery_limit_risk",
                )
            count, raws = broker.peek(queue.name, offset=offset, limit=limit)
        page = BrowsePage(
            count=count,
            messages=[decoding.decode(raw).for_role(can_read_bodies) for raw in raws],
            consumed=consumed,
            taken=offset + len(raws) if consumed else 0,
            effects=effects,
        )
        if consumed:
            _audit_browse(user, queue, offset, limit, page, accept_delivery_limit_risk)
    return page


def browse_partition(
    queue: Queue,
    partition: int,
    *,
    from_offset: int | None,
    from_time: float | None,
    limit: int,
    can_read_bodies: bool,
    user: Any = None,
) -> BrowsePage:
    """One partition's records (newest, from an offset or from a time), decoded as the role may
    see them; ``count`` is the queue's retained records. Only for adapters that declare
    ``browses_partitions`` (their peek is a plain read). Raises :class:`BrowseRefused` (400: no
    partitions, or a bad limit; 429), BrokerError."""
    if not _adapter(queue).capabilities.browses_partitions:
        raise BrowseRefused("this broker's queues have no partitions: browse without partition", 400)
    if not 0 <= limit <= MAX_LIMIT:
        raise BrowseRefused(f"limit must be between 0 and {MAX_LIMIT}", 400)
    with one_browse_per_user(user):
        with _reaching_broker(queue) as broker:
            raws = broker.peek_partition(
                queue.name, partition, from_offset=from_offset, from_time=from_time, limit=limit
            )
            count = broker.count(queue.name)
    return BrowsePage(
        count=count if count is not None else len(raws),
        messages=[decoding.decode(raw).for_role(can_read_bodies) for raw in raws],
    )


def _reaching_broker(queue: Queue) -> Broker:
    """The broker of ``queue``, open (the caller closes it: ``with _reaching_broker(q) as broker``);
    :class:`BrowseRefused` (409) when its connection cannot reach the queue's vhost (it would
    read, or on RabbitMQ take, another vhost's queue of that name)."""
    broker = broker_named(queue.broker)
    reason = unaddressable(broker, queue)
    if reason:
        broker.close()
        raise BrowseRefused(reason, 409)
    return broker


def find_raw(queue: Queue, message_id: str, position: int | None, *, user: Any = None) -> RawMessage | None:
    """The message with this id, looked for at ``position`` first, then among the oldest
    :data:`FIND_WINDOW`. None when it is gone. Where a browse consumes, at most two peeks (and
    audited as a browse); the caller has checked the role and the delivery-limit risk."""

    window = min(FIND_WINDOW, browse_window(queue))
    with one_browse_per_user(user):
        with _reaching_broker(queue) as broker:
            if broker.browse_consumes:
                return _find_consuming(broker, queue, message_id, position, window, user)
            if position is not None and 0 <= position < window:
                _, near = broker.peek(queue.name, offset=position, limit=1)
                for raw in near:
                    if _matches(raw, message_id):
                        return raw
            for offset in range(0, window, 100):
                _, page = broker.peek(queue.name, offset=offset, limit=100)
                for raw in page:
                    if _matches(raw, message_id):
                        return raw
                if len(page) < 100:
                    break
    return None


def _find_consuming(
    broker: Broker, queue: Queue, message_id: str, position: int | None, window: int, user: Any
) -> RawMessage | None:
    tries = [position + 1] if position is not None and 0 <= position < window else []
    tries.append(window)
    taken = 0
    try:
        for depth in tries:
            _, found = broker.peek(queue.name, offset=0, limit=depth)
            taken += len(found)
            for raw in found:
                if _matches(raw, message_id):
                    return raw
            if len(found) < depth:
                break
        return None
    finally:
        audit.record(
            user,
            "browse",
            broker=queue.broker,
            queue=queue.name,
            params={"raw_download": True, "taken_and_requeued": taken},
            outcome=f"took and requeued {taken} message(s) to find one for download",
        )


def _matches(raw: RawMessage, message_id: str) -> bool:
    return decoding.message_id(raw) == message_id or "sha1:" + decoding.digest(raw) == message_id


@contextmanager
def one_browse_per_user(user: Any) -> Iterator[None]:
    """One browse at a time per user (per console process with the default local-memory cache,
    across processes with a shared cache): a script or page cannot pile up broker-wide browses."""
    key = f"switchyard:browse-in-flight:{getattr(user, 'pk', None) or 'anonymous'}"
    slots = cache
    try:
        taken = slots.add(key, 1, timeout=BROWSE_SLOT_S)
    except RedisError:  # the shared cache is down: hold the slot in this process rather than fail
        slots = _local_slots
        taken = slots.add(key, 1, timeout=BROWSE_SLOT_S)
    if not taken:
        raise BrowseRefused("another browse of yours is still running; try again when it has finished", 429)
    try:
        yield
    finally:
        with suppress(RedisError):
            slots.delete(key)


def _audit_browse(user: Any, queue: Queue, offset: int, limit: int, page: BrowsePage, accepted: bool) -> None:
    effects = page.side_effects() or {}
    audit.record(
        user,
        "browse",
        broker=queue.broker,
        queue=queue.name,
        params={
            "offset": offset,
            "limit": limit,
            "taken_and_requeued": page.taken,
            "delivery_limit": page.effects.delivery_limit,
            "accepted_delivery_limit_risk": accepted,
        },
        outcome=(
            f"took and requeued {page.taken} message(s), now marked redelivered"
            + (
                f"; highest delivery count {effects['highest_delivery_count']}"
                if effects.get("highest_delivery_count") is not None
                else ""
            )
        ),
    )


def _delivery_count(headers: dict[str, Any]) -> int | None:
    value = headers.get("x-delivery-count")
    return value if isinstance(value, int) and not isinstance(value, bool) else None

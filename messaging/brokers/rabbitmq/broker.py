"""RabbitMQ adapter: the management HTTP API first, AMQP passive declares when it cannot answer.

URL ``amqp://user:pass@host:port/vhost``. With a vhost in the URL (``//`` or ``/%2F`` for ``/``)
only that vhost is sampled; without one (``amqp://host`` or ``amqp://host/``) every vhost the
user can see is, and AMQP connections (fallback, ping) open ``/`` as Kombu does. The management
URL is ``config.management_url`` or ``http://<host>:15672`` (``https://<host>:15671`` for ``amqps``)
with the AMQP credentials.

Guarantees:
- :meth:`sample` and :meth:`ping` only read: four or five GETs a round (``sampling.py``: queue
  totals without statistics, one page of queue statistics, consumers, policies; bindings when
  the queues change or every 30 s) plus an overview GET at most every ten minutes, or passive
  declares. Nothing is created, changed or consumed.
- :meth:`peek` is NOT free; see its docstring.
- Rates and the head timestamp come from the statistics lane, so they can be up to a minute old
  on a vhost of more than 500 queues (``sampling.py``); depth, unacked, consumers and dead-letter
  routing are read every round.
- Rates: RabbitMQ omits ``message_stats`` until a queue has seen traffic. When the server
  collects rates (``rates_mode`` is not ``none`` and stats are not disabled) a missing figure
  means nothing happened and reads 0.0; otherwise rates are None (unknown). ``consume_rate`` is
  ``deliver_get`` (deliveries to consumers, with or without ack, plus basic.get).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable
from typing import Any

from messaging.brokers.base import (
    Broker,
    BrokerConfig,
    BrokerError,
    BrokerSample,
    BrowseEffects,
    InFlight,
    QueueNotFound,
    RawMessage,
)
from messaging.brokers.capabilities import IN_FLIGHT_CHANNELS, REDELIVER_ON_DISCONNECT, Capabilities
from messaging.brokers.http import HttpClient, HttpError, path_segment
from messaging.brokers.moves import MovePlan, MoveSession
from messaging.brokers.rabbitmq.connection import check_connect, parse_amqp_url, passive_declares
from messaging.brokers.rabbitmq.moves import RabbitMQMoves
from messaging.brokers.rabbitmq.sampling import QueueSampler
from messaging.brokers.rabbitmq.topology import read_topology
from messaging.brokers.topology import Topology

PEEK_TRUNCATE_BYTES = 50_000
#: What one peek may hold of payloads in all (the management API answers every message taken,
#: skipped ones too): past it each payload is cut shorter, down to PEEK_MIN_TRUNCATE_BYTES.
PEEK_PAYLOAD_BUDGET_BYTES = 16 * 1024 * 1024
PEEK_MIN_TRUNCATE_BYTES = 4_096
#: RabbitMQ 4.0 gave quorum queues a delivery limit of 20 when none is set.
DEFAULT_QUORUM_DELIVERY_LIMIT_V4 = 20
BROWSE_CHANGES = (
    "takes each message up to the last one shown (basic.get) and requeues it: consumers cannot receive them meanwhile",
    "marks each of them redelivered (consumers see redelivered=true)",
    "may change their order",
)
STATS_MODE_TTL_S = 600.0
MOVE_BATCH_SIZE = 500


class RabbitMQBroker(Broker):
    """One RabbitMQ node or cluster, one vhost or all the user can see."""

    transport = "rabbitmq"
    capabilities = Capabilities(
        browse_consumes=True,
        max_browse_window=1_000,
        redelivery=REDELIVER_ON_DISCONNECT,
        # Acks still in the socket when a connection died, or not yet in a crashed node's journal.
        may_redeliver_acknowledged=True,
        # Pipelined: one batch is published while the one before is confirmed, so an interrupted
        # move can duplicate two batches (move_session.py): 500 keeps that at 1,000.
        move_batch_size=MOVE_BATCH_SIZE,
        move_duplicate_bound=2 * MOVE_BATCH_SIZE,
        in_flight=IN_FLIGHT_CHANNELS,
        closes_connections=True,
        deletes_messages=True,
        purges=True,
        priorities=True,  # queues declared with x-max-priority
        routing_topology=True,
        edits_messages=True,  # the move session publishes the rewritten message, confirm then ack
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self.address = parse_amqp_url(config.url)
        management_url = config.management_url or (
            f"https://{_netloc(self.address.host)}:15671"
            if self.address.ssl
            else f"http://{_netloc(self.address.host)}:15672"
        )
        auth = (self.address.user, self.address.password)
        self.http = HttpClient(management_url, auth=auth)
        self.moves = RabbitMQMoves(config, self.http)
        self.sampler = QueueSampler(self.http, HttpClient(management_url, auth=auth), self.address.vhost)
        self._stats_mode: tuple[float, bool, bool] | None = None

    # -- interface ---------------------------------------------------------------------------

    def ping(self) -> None:
        """The management API's overview, else an AMQP connection; BrokerError when neither."""
        try:
            self.http.get_json("/api/overview", params={"columns": "rabbitmq_version"})
            return
        except HttpError as exc:
            if not exc.unreachable:
                raise
            management = str(exc)
        try:
            check_connect(self.address, self.config.url)
        except BrokerError as exc:
            raise BrokerError(f"management API unreachable ({management}); {exc}") from None

    @property
    def default_vhost(self) -> str:
        return self.address.connect_vhost

    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        """Every queue of the vhost(s): depth (ready), unacked, consumers, rates, head timestamp,
        dead-letter arguments (queue arguments win over policy, as in RabbitMQ).

        When the management API is unreachable (refused, timeout, 5xx) the known and configured
        queues are passively declared instead: depth and consumers only, and ``warning`` says
        so. Only queues RabbitMQ has are reported (a known queue it lacks does not exist; the
        fallback's warning names it). Raises :class:`BrokerError` when neither answers, or the
        API refuses the request (e.g. 401, unknown vhost: permanent).
        """
        rates_known, stats_enabled = self._stats_collected()
        try:
            queues, links, warning = self.sampler.sample(rates_known, stats_enabled)
        except HttpError as exc:
            if not exc.unreachable:
                raise
            return self._sample_by_passive_declares([*known_queues, *watched_queues], str(exc))
        by_vhost = bindings_by_vhost(links)
        return BrokerSample(
            queues=queues,
            warning=warning,
            bindings=by_vhost.get(self.address.connect_vhost, {}),
            bindings_by_vhost=by_vhost,
        )

    def peek(
        self, queue: str, offset: int = 0, limit: int = 50, vhost: str | None = None
    ) -> tuple[int, list[RawMessage]]:
        """Up to ``limit`` messages after ``offset`` from the head, via the management API.

        NOT free (:attr:`browse_consumes`): RabbitMQ has no browse. ``offset + limit`` messages
        (at most :attr:`max_browse_window`) are taken (basic.get) and requeued
        (``ack_requeue_true``), so while it runs consumers do not see them, afterwards their
        order may change, ``redelivered`` becomes true, and on quorum queues each peek counts
        toward the delivery limit (a message can be dropped or dead-lettered by looking at it:
        see :meth:`browse_effects`). Otherwise nothing is lost or duplicated. Payloads are cut
        at 50,000 bytes, less when many are taken (``truncated``). ``count`` is the ready count
        at the first get, exact at that instant. ``vhost`` defaults to the URL's (``/`` when it
        names none). Raises :class:`QueueNotFound`, ValueError beyond the window.
        """
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        if offset + limit > self.max_browse_window:
            raise ValueError(f"offset + limit must not exceed {self.max_browse_window}")
        path = f"/api/queues/{path_segment(vhost or self.address.connect_vhost)}/"
        path += path_segment(queue)
        try:
            info = self.http.get_json(path, params={"columns": "messages_ready"})
            # RabbitMQ answers [] instead of an object while the queue has no such figure yet.
            info = info if isinstance(info, dict) else {}
            if limit == 0:
                return int(info.get("messages_ready") or 0), []
            body = {
                "count": offset + limit,
                "ackmode": "ack_requeue_true",
                "encoding": "base64",
                "truncate": _truncate_for(offset + limit),
            }
            got = self.http.post_json(path + "/get", body) or []
        except HttpError as exc:
            if exc.status == 404:
                raise QueueNotFound(queue) from None
            raise
        count = got[0]["message_count"] + 1 if got else int(info.get("messages_ready") or 0)
        return count, [raw_message(item, queue, position) for position, item in enumerate(got) if position >= offset]

    def browse_effects(self, queue: str, vhost: str | None = None) -> BrowseEffects:
        """What :meth:`peek` does to ``queue``: always the get-and-requeue changes; on a quorum
        queue also the delivery count, with the limit from the queue's ``x-delivery-limit`` or
        its policy's ``delivery-limit`` (the lower when both), else RabbitMQ 4's default of 20.
        Raises :class:`QueueNotFound`, :class:`BrokerError` when the management API cannot answer."""
        path = f"/api/queues/{path_segment(vhost or self.address.connect_vhost)}/{path_segment(queue)}"
        try:
            info = self.http.get_json(path, params={"columns": "type,arguments,effective_policy_definition"})
        except HttpError as exc:
            if exc.status == 404:
                raise QueueNotFound(queue) from None
            raise
        info = info if isinstance(info, dict) else {}
        queue_type = info.get("type") if isinstance(info.get("type"), str) else None
        if queue_type != "quorum":
            return BrowseEffects(changes=BROWSE_CHANGES, queue_type=queue_type)
        limits = [
            value
            for value in (
                _as_dict(info.get("arguments")).get("x-delivery-limit"),
                _as_dict(info.get("effective_policy_definition")).get("delivery-limit"),
            )
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ]
        limit = min(limits) if limits else self._default_delivery_limit()
        counted = "adds 1 to each one's delivery count (x-delivery-count)"
        if limit is not None:
            counted += f": a message returned more than {limit} times is dropped or dead-lettered by RabbitMQ"
        return BrowseEffects(changes=(*BROWSE_CHANGES, counted), delivery_limit=limit, queue_type=queue_type)

    def close(self) -> None:
        self.sampler.close()
        self.http.close()

    # -- operator actions (see ``moves.py``) -----------------------------------------------------

    def open_move(self, plan: MovePlan) -> MoveSession:
        return self.moves.open_move(plan)

    def count(self, queue: str) -> int | None:
        return self.moves.count(queue)

    def queue_exists(self, queue: str) -> bool | None:
        return self.moves.queue_exists(queue)

    def stuck_in_flight(self, older_than_s: float, limit: int = 200) -> list[InFlight]:
        return self.moves.stuck_in_flight(older_than_s, limit)

    def close_connection(self, name: str) -> None:
        self.moves.close_connection(name)

    def topology(self, vhost: str | None = None, max_objects: int = 5000) -> Topology:
        """Exchanges, bindings, queues, consumers and dead-letter routes (``topology.py``)."""
        return read_topology(self.http, vhost or self.address.connect_vhost, max_objects)

    # -- helpers -------------------------------------------------------------------------------

    def _sample_by_passive_declares(self, known_queues: Iterable[str], reason: str) -> BrokerSample:
        names = list(dict.fromkeys([*known_queues, *self.config.queues]))
        try:
            stats, missing = passive_declares(self.address, self.config.url, names)
        except BrokerError as exc:
            raise BrokerError(f"management API unreachable ({reason}); {exc}", permanent=exc.permanent) from None
        warning = (
            f"management API unreachable ({reason}); counts from AMQP passive declares of {len(names)} known queues"
        )
        if missing:
            warning += f" ({len(missing)} not found: {', '.join(missing[:5])})"
        return BrokerSample(queues=stats, warning=warning)

    def _default_delivery_limit(self) -> int | None:
        overview = self.http.get_json("/api/overview", params={"columns": "rabbitmq_version"}) or {}
        version = str(overview.get("rabbitmq_version") or "") if isinstance(overview, dict) else ""
        major = version.split(".", 1)[0]
        return DEFAULT_QUORUM_DELIVERY_LIMIT_V4 if major.isdigit() and int(major) >= 4 else None

    def _stats_collected(self) -> tuple[bool, bool]:
        """(rates collected, so a missing rate means 0.0; statistics collected at all, so the
        consumers listing is complete)."""
        now = time.monotonic()
        if self._stats_mode and now - self._stats_mode[0] < STATS_MODE_TTL_S:
            return self._stats_mode[1], self._stats_mode[2]
        try:
            overview = self.http.get_json("/api/overview", params={"columns": "rates_mode,disable_stats"})
        except HttpError:
            return False, True  # unknown for now; ask again next time
        enabled = not overview.get("disable_stats")
        self._stats_mode = (now, enabled and overview.get("rates_mode", "none") != "none", enabled)
        return self._stats_mode[1], self._stats_mode[2]


def bindings_by_vhost(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """``/api/bindings`` rows as vhost -> exchange -> [(routing_key, queue)], queues only."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for row in rows:
        if row.get("destination_type") != "queue":
            continue
        exchanges = out.setdefault(row.get("vhost", ""), {})
        exchanges.setdefault(row.get("source", ""), []).append((row.get("routing_key", ""), row["destination"]))
    return out


def raw_message(item: dict[str, Any], queue: str, position: int) -> RawMessage:
    """One answer of ``POST /api/queues/<vhost>/<name>/get`` as :class:`RawMessage`.

    ``raw`` is canonical JSON of what identifies the message (payload, properties, exchange,
    routing key), leaving out what a peek itself changes (``redelivered``, ``message_count``).
    Header values the management API writes as ``"undefined"`` (its rendering of AMQP void, what
    Celery's ``eta: None`` becomes) are None again, as an AMQP client would read them.
    """
    properties = dict(_as_dict(item.get("properties")))
    headers = _without_void(_as_dict(properties.pop("headers", None)))
    payload = item.get("payload") or ""
    if item.get("payload_encoding") == "base64":
        try:
            body = base64.b64decode(payload)
        except (binascii.Error, ValueError):
            body = payload.encode()
    else:
        body = payload.encode("utf-8", "surrogatepass")
    properties["delivery_info"] = {
        "exchange": item.get("exchange", ""),
        "routing_key": item.get("routing_key", ""),
    }
    identity = {k: item.get(k) for k in ("payload", "payload_encoding", "exchange", "routing_key")}
    identity["properties"] = item.get("properties")
    size = item.get("payload_bytes")
    return RawMessage(
        raw=json.dumps(identity, sort_keys=True, separators=(",", ":")).encode(),
        position=position,
        queue=queue,
        body=body,
        headers=headers,
        properties=properties,
        content_type=properties.get("content_type"),
        content_encoding=properties.get("content_encoding"),
        redelivered=bool(item.get("redelivered")),
        size_bytes=size,
        truncated=isinstance(size, int) and size > len(body),
    )


#: How the management API renders an AMQP void (None) header value. A header whose value is the
#: string "undefined" reads the same there and is taken for void too.
MANAGEMENT_VOID = "undefined"


def _without_void(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_void(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_void(v) for v in value]
    return None if value == MANAGEMENT_VOID else value


def _truncate_for(count: int) -> int:
    """Bytes kept of each payload when ``count`` messages are taken at once."""
    return max(PEEK_MIN_TRUNCATE_BYTES, min(PEEK_TRUNCATE_BYTES, PEEK_PAYLOAD_BUDGET_BYTES // max(count, 1)))


def _as_dict(value: Any) -> dict[str, Any]:
    # Erlang's empty proplist comes out of the API as [] rather than {}.
    return value if isinstance(value, dict) else {}


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host

"""One sample of a vhost's (or every vhost's) queues through the management API, in two lanes.

Listing queues *with* statistics makes the management plugin aggregate every queue's stats
(rates, message_stats, head timestamp) before it cuts the answer down to the asked columns: with
10,000 queues that is seconds of broker CPU, whatever ``columns`` says. So each round asks:

- every round, the cheap lane: ``GET /api/queues/<vhost>?disable_stats=true&enable_queue_totals=true``
  (depth, unacked, policy name, straight from the queues: no stats), the consumers
  (``/api/consumers``, one row per consumer) and the policies' definitions, so depth, unacked,
  consumers and dead-letter routing are fresh every round; type and arguments (a queue's own
  ``x-dead-letter-*``) when new queues appear or every SHAPES_TTL_S, without totals;
- one page (at most 500 queues, the API's largest page) of the listing with statistics: rates,
  head timestamp and the effective policy. The management API sorts and pages before it
  aggregates, so a page costs about a twentieth of the whole listing. The page taken is the one
  with the most queues whose depth, unacked or consumers changed since their figures were last
  read, unless a page has gone unread for STATS_MAX_AGE_S (then the oldest). The first round reads
  every queue's statistics at once.

So a rate or head timestamp is at most STATS_MAX_AGE_S plus a round old, fresher for queues that
move. Bindings are read again when the set of queues changes, else every BINDINGS_TTL_S.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from messaging.brokers.base import QueueStats
from messaging.brokers.http import HttpClient, HttpError, path_segment

TOTALS_PARAMS = {"disable_stats": "true", "enable_queue_totals": "true"}
TOTALS_COLUMNS = "name,policy,messages_ready,messages_unacknowledged"
#: A queue's type and arguments cannot change while it exists: read when new queues appear, or
#: every SHAPES_TTL_S for one deleted and declared again with others.
SHAPE_PARAMS = {"disable_stats": "true", "columns": "name,vhost,type,arguments"}
SHAPES_TTL_S = 60.0
STATS_COLUMNS = (
    "name,vhost,head_message_timestamp,effective_policy_definition,"
    "message_stats.publish_details.rate,message_stats.deliver_get_details.rate"
)
BINDING_COLUMNS = "source,vhost,destination,destination_type,routing_key"
PAGE_SIZE = 500  # the management API refuses larger pages
STATS_MAX_AGE_S = 60.0
BINDINGS_TTL_S = 30.0

Key = tuple[str, str]  # (vhost, queue name)


@dataclass
class StatsRead:
    """What the statistics lane last read of one queue, and the cheap figures it was read at."""

    at: float
    figures: tuple[Any, ...] | None  # None until the round that read it has its totals
    head: float | None
    policy: dict[str, Any]
    publish_rate: float | None
    deliver_rate: float | None


@dataclass
class Lanes:
    """One round's answers."""

    totals: list[dict[str, Any]]
    consumers: Counter[Key] | None
    policies: dict[Key, dict[str, Any]] | None


class QueueSampler:
    """Keeps the statistics lane's reads between rounds. ``vhost`` None: every vhost."""

    def __init__(self, http: HttpClient, side_http: HttpClient, vhost: str | None) -> None:
        self.http = http
        # The statistics page runs beside the totals on a session of its own.
        self.side_http = side_http
        self.vhost = vhost
        self.suffix = "" if vhost is None else "/" + path_segment(vhost)
        self.shapes: dict[Key, tuple[str | None, dict[str, Any]]] = {}
        self.shapes_at = float("-inf")
        self.stats: dict[Key, StatsRead] = {}
        self.last_figures: dict[Key, tuple[Any, ...]] = {}
        self.bindings: tuple[float, frozenset[Key], list[dict[str, Any]]] | None = None
        self.policies_allowed = True
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rabbitmq-stats")
        # A round the monitor gave up on may still be running when the next one starts: they take
        # turns rather than share the state above.
        self._turn = threading.Lock()

    def sample(
        self, rates_known: bool, stats_enabled: bool
    ) -> tuple[list[QueueStats], list[dict[str, Any]], str | None]:
        """(queues, binding rows, warning). Raises :class:`HttpError` as the management API
        answers, except that a statistics page it cannot answer in time only leaves those
        queues' rates and head timestamps as an earlier round read them (``warning`` says so)."""
        with self._turn:
            return self._sample(rates_known, stats_enabled)

    def _sample(
        self, rates_known: bool, stats_enabled: bool
    ) -> tuple[list[QueueStats], list[dict[str, Any]], str | None]:
        stats_job = self._pool.submit(self._read_stats, self._pick_page())
        try:
            lanes = Lanes(
                totals=self._totals(),
                consumers=self._consumers() if stats_enabled else None,
                policies=self._policies(),
            )
        finally:
            warning = _unreachable_reason(stats_job)
        self._read_shapes({(row["vhost"], row["name"]) for row in lanes.totals})
        self.last_figures = {}
        queues = [self._queue(row, lanes, rates_known) for row in lanes.totals]
        self.stats = {key: read for key, read in self.stats.items() if key in self.last_figures}
        if warning:
            warning = f"queue statistics page unanswered ({warning}): rates and head ages from earlier rounds"
        return queues, self._bindings({(q.vhost, q.name) for q in queues}), warning

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.side_http.close()

    # -- the statistics lane ----------------------------------------------------------------------

    def _pick_page(self) -> int:
        """The page (1-based, in the API's vhost-then-name order) to read: queues never read
        first, then any page unread for STATS_MAX_AGE_S, else the one where most queues moved."""
        known = sorted(self.last_figures, key=lambda k: (k[0].encode(), k[1].encode()))
        if len(known) <= PAGE_SIZE:
            return 1
        now = time.monotonic()
        oldest: list[float] = []
        moved: list[int] = []
        for start in range(0, len(known), PAGE_SIZE):
            reads = [self.stats.get(key) for key in known[start : start + PAGE_SIZE]]
            oldest.append(min(read.at if read else float("-inf") for read in reads))
            moved.append(
                sum(read is None or read.figures != self.last_figures[key] for key, read in zip(known[start:], reads))
            )
        stalest = min(range(len(oldest)), key=oldest.__getitem__)
        if oldest[stalest] < now - STATS_MAX_AGE_S or not any(moved):
            return stalest + 1
        return max(range(len(moved)), key=moved.__getitem__) + 1

    def _read_stats(self, page: int) -> None:
        params = {"columns": STATS_COLUMNS, "page": str(page), "page_size": str(PAGE_SIZE)}
        try:
            answer = self.side_http.get_json("/api/queues" + self.suffix, params=params) or []
        except HttpError as exc:
            if exc.status == 400 and page > 1:
                return  # queues were deleted since the page was picked: it is past the end now
            raise
        rows = answer.get("items", []) if isinstance(answer, dict) else answer
        now = time.monotonic()
        for row in rows:
            key = (row.get("vhost", ""), row["name"])
            stats = _as_dict(row.get("message_stats"))
            self.stats[key] = StatsRead(
                at=now,
                figures=None,
                head=_number(row.get("head_message_timestamp")),
                policy=_as_dict(row.get("effective_policy_definition")),
                publish_rate=_number(_as_dict(stats.get("publish_details")).get("rate")),
                deliver_rate=_number(_as_dict(stats.get("deliver_get_details")).get("rate")),
            )

    # -- the cheap lane ---------------------------------------------------------------------------

    def _totals(self) -> list[dict[str, Any]]:
        columns = TOTALS_COLUMNS if self.vhost is not None else TOTALS_COLUMNS + ",vhost"
        rows = self.http.get_json("/api/queues" + self.suffix, params={**TOTALS_PARAMS, "columns": columns}) or []
        for row in rows:
            row.setdefault("vhost", self.vhost or "")
        return rows

    def _read_shapes(self, keys: set[Key]) -> None:
        now = time.monotonic()
        if now - self.shapes_at < SHAPES_TTL_S and keys <= self.shapes.keys():
            return
        rows = self.http.get_json("/api/queues" + self.suffix, params=SHAPE_PARAMS) or []
        self.shapes = {
            (row.get("vhost", ""), row["name"]): (row.get("type"), _as_dict(row.get("arguments"))) for row in rows
        }
        self.shapes_at = now

    def _consumers(self) -> Counter[Key]:
        rows = self.http.get_json("/api/consumers" + self.suffix, params={"columns": "queue.name,queue.vhost"}) or []
        return Counter(
            (_as_dict(row.get("queue")).get("vhost", ""), _as_dict(row.get("queue")).get("name", "")) for row in rows
        )

    def _policies(self) -> dict[Key, dict[str, Any]] | None:
        """Policy definitions by (vhost, name); None when the user may not read them (only
        policymakers may), and then the statistics lane's effective policy is used."""
        if not self.policies_allowed:
            return None
        try:
            rows = self.http.get_json("/api/policies" + self.suffix, params={"columns": "vhost,name,definition"}) or []
        except HttpError as exc:
            if exc.status not in (401, 403):
                raise
            self.policies_allowed = False
            return None
        return {(row.get("vhost", ""), row.get("name", "")): _as_dict(row.get("definition")) for row in rows}

    def _bindings(self, names: set[Key]) -> list[dict[str, Any]]:
        now = time.monotonic()
        if self.bindings and self.bindings[1] == names and now - self.bindings[0] < BINDINGS_TTL_S:
            return self.bindings[2]
        rows = self.http.get_json("/api/bindings" + self.suffix, params={"columns": BINDING_COLUMNS}) or []
        self.bindings = (now, frozenset(names), rows)
        return rows

    def _queue(self, row: dict[str, Any], lanes: Lanes, rates_known: bool) -> QueueStats:
        key = (row.get("vhost", ""), row["name"])
        consumers = lanes.consumers.get(key, 0) if lanes.consumers is not None else None
        figures = (row.get("messages_ready"), row.get("messages_unacknowledged"), consumers)
        self.last_figures[key] = figures
        read = self.stats.get(key)
        if read is not None and read.figures is None:
            read.figures = figures
        if lanes.policies is not None:
            policy = lanes.policies.get((key[0], row.get("policy") or ""), {}) if row.get("policy") else {}
        else:
            policy = read.policy if read else {}
        queue_type, arguments = self.shapes.get(key, (None, {}))
        return QueueStats(
            name=row["name"],
            vhost=key[0],
            depth=figures[0],
            unacked=figures[1],
            consumers=consumers,
            publish_rate=_rate(read.publish_rate if read else None, read is not None and rates_known),
            consume_rate=_rate(read.deliver_rate if read else None, read is not None and rates_known),
            head_published_at=read.head if read else None,
            dead_letter_exchange=_first_str(
                arguments.get("x-dead-letter-exchange"), policy.get("dead-letter-exchange")
            ),
            dead_letter_routing_key=_first_str(
                arguments.get("x-dead-letter-routing-key"), policy.get("dead-letter-routing-key")
            ),
            queue_type=queue_type,
            arguments=arguments,
        )


def _unreachable_reason(job: Future[None]) -> str | None:
    """Waits for the statistics page: None once read, the reason when it got no usable answer."""
    try:
        job.result()
    except HttpError as exc:
        if not exc.unreachable:
            raise
        return str(exc)
    return None


def _rate(value: float | None, known: bool) -> float | None:
    """RabbitMQ leaves a rate out until the queue has seen traffic: then it is 0.0, if known."""
    if not known:
        return None
    return value if value is not None else 0.0


def _as_dict(value: Any) -> dict[str, Any]:
    # Erlang's empty proplist comes out of the API as [] rather than {}.
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first_str(*values: Any) -> str | None:
    return next((v for v in values if isinstance(v, str)), None)

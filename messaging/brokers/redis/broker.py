"""Redis adapter, reading Kombu's Redis layout (kombu/transport/redis.py, Kombu 5.x).

Layout:
- a queue is a list named by the queue (after ``global_keyprefix``); publishers LPUSH, consumers
  BRPOP, so the oldest message is at index -1;
- priorities live in sub-queues ``name + sep + str(step)`` for ``priority_steps`` (default
  ``[0, 3, 6, 9]``, step 0 being the bare name). Kombu files a message of priority p under the
  largest step <= p and consumers read the steps in ascending order (BRPOP lists step 0 of every
  queue first, ``_get`` loops the steps), so on Redis priority 0 comes out first. The "next out"
  message is therefore the oldest message of the lowest non-empty step, whatever the
  ``queue_order_strategy`` (that option orders queues, not sub-queues);
- bindings are sets ``_kombu.binding.<exchange>`` of ``routing_key + sep + pattern + sep + queue``;
- in-flight messages are the hash ``unacked`` (delivery tag -> JSON ``[message, exchange,
  routing_key]``) with the zset ``unacked_index``.

Guarantees: :meth:`sample`, :meth:`peek` and :meth:`ping` only read (SCAN, SMEMBERS, two read-only
Lua scripts, PING): they never change, move or consume a message. Nothing is unpickled.
:meth:`sample` costs ``1 + keyspace/scan_count`` SCAN calls, one SMEMBERS pipeline and one
pipeline of script calls (one per ``script_chunk_queues`` queues, so no single script stalls Redis)
however many queues there are, plus one SCRIPT LOAD after a Redis restart. Each chunk is an atomic
read; chunks are consecutive, not simultaneous.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Iterable
from typing import Any

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from messaging.brokers.base import (
    Broker,
    BrokerConfig,
    BrokerError,
    BrokerSample,
    InFlight,
    QueueStats,
    RawMessage,
)
from messaging.brokers.capabilities import IN_FLIGHT_MESSAGES, REDELIVER_AFTER_VISIBILITY_TIMEOUT, Capabilities
from messaging.brokers.envelope import decode_envelope
from messaging.brokers.kombu_routes import Routes
from messaging.brokers.moves import MovePlan, MoveSession
from messaging.brokers.redis import lua, write_lua
from messaging.brokers.redis.errors import RedisErrors
from messaging.brokers.redis.layout import (
    BINDING_PREFIX,
    DLQ_SUFFIX,
    PUBLISHED_AT_HEADER,  # noqa: F401 (re-exported)
    attribute_unacked,
    bound_names,
    glob_escape,
    in_flight_origin,
    parse_binding_tables,
    split_url_options,
    text_of,
)
from messaging.brokers.redis.moves import RedisMoveSession, age_of, restored_value
from messaging.brokers.redis.sample_keys import PackedCommands, SubQueueKeys, send_packed
from messaging.brokers.urls import redact_url, scrub_secret


class RedisBroker(Broker):
    """One Redis server (one database) used as a Kombu/Celery broker.

    Options (``config.options``, or the URL query for ``global_keyprefix``): ``global_keyprefix``,
    ``sep``, ``priority_steps``, ``unacked_key``, ``socket_timeout`` (s, default 5),
    ``scan_count`` (default 10,000), ``unacked_attribution_limit`` (default 10,000),
    ``script_chunk_queues`` (default 1,000).
    """

    transport = "redis"
    capabilities = Capabilities(
        browse_consumes=False,  # LRANGE in a read-only script
        max_browse_window=100_000,
        # Kombu's restore_visible puts a dead consumer's messages back after visibility_timeout.
        redelivery=REDELIVER_AFTER_VISIBILITY_TIMEOUT,
        # A move step is one server-side chunk (at most 8 MB) for bulk moves, or per-message
        # scripts of at most 2,000 messages; each is atomic, so nothing is ever duplicated.
        move_batch_size=10_000,
        move_duplicate_bound=0,
        in_flight=IN_FLIGHT_MESSAGES,
        restores_in_flight=True,
        deletes_messages=True,
        purges=True,
        priorities=True,  # Kombu's priority_steps sub-queues
        edits_messages=True,  # the per-message move script pushes the rewritten value
    )

    @classmethod
    def kombu_connection_args(cls, config: BrokerConfig) -> tuple[str, dict[str, Any]]:
        """redis-py refuses unknown URL query keys: ``global_keyprefix`` from the URL becomes the
        transport option Kombu reads (the configured options win, as for the adapter)."""
        url, url_options = split_url_options(config.url)
        return url, {**url_options, **config.options}

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        url, options = self.kombu_connection_args(config)
        self.prefix: str = options.get("global_keyprefix", "") or ""
        self.sep: str = options.get("sep", "\x06\x16")
        self.steps: list[int] = sorted(int(s) for s in options.get("priority_steps", [0, 3, 6, 9]))
        self.unacked_key: str = options.get("unacked_key", "unacked")
        self.unacked_index_key: str = options.get("unacked_index_key", "unacked_index")
        self.scan_count = int(options.get("scan_count", 10_000))
        self.attribution_limit = int(options.get("unacked_attribution_limit", 10_000))
        self.chunk_size = max(1, int(options.get("script_chunk_queues", 1000)))
        self._sample_keys = SubQueueKeys(self.prefix, self.sep, self.steps)
        self._sample_calls = PackedCommands()
        self._binding_calls = PackedCommands()
        self._last_bindings: tuple[Any, dict[str, list[tuple[str, str, str]]]] = (None, {})
        try:
            self.client = redis_py.Redis.from_url(
                url,
                socket_connect_timeout=2.0,
                socket_timeout=float(options.get("socket_timeout", 5.0)),
                # No silent retries: a down broker must be reported within the timeouts.
                retry=Retry(NoBackoff(), 0),
                health_check_interval=30,
                client_name="switchyard",
            )
        except ValueError as exc:
            raise BrokerError(self._reason(exc), permanent=True) from None
        self._sample_sha = self.client.register_script(lua.SAMPLE).sha
        self._peek_script = self.client.register_script(lua.PEEK)
        self._bindings_sha = self.client.register_script(lua.BINDINGS).sha
        self._move_script = self.client.register_script(write_lua.MOVE)
        self._bulk_move_script = self.client.register_script(write_lua.BULK_MOVE)
        self._restore_script = self.client.register_script(write_lua.RESTORE_UNACKED)

    # -- interface ---------------------------------------------------------------------------

    def ping(self) -> None:
        """PING with a 2 s connect and read timeout; raises a transient :class:`BrokerError`."""
        pool = self.client.connection_pool
        with self._errors("ping"):
            conn = pool.get_connection()
            try:
                conn.send_command("PING")
                conn.read_response(timeout=2.0)
            finally:
                pool.release(conn)

    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        """Depth, head-of-line and in-flight figures of every known or bound queue.

        Depth sums the priority sub-queues; a queue without a key has depth 0 (Kombu deletes an
        empty list, so that is a real zero). Configured, bound and watched queues are always
        reported, and so is a remembered ``<queue>.dlq`` of one of them (emptied or purged, it
        lost its key, not its purpose); any other remembered queue only while it holds messages.
        ``head_digest`` is the sha1 of the next message out; ``head_published_at`` the oldest
        ``x-switchyard-published-at`` among sub-queue heads.
        In-flight messages are attributed to queues through exchange, routing key and bindings
        when there are at most ``unacked_attribution_limit`` of them; otherwise per-queue
        ``unacked`` is None and only ``unacked_total`` is set. ``consumers`` and rates are None:
        Redis cannot know them.
        """
        with self._errors("sample"):
            tables = self._binding_tables()
            bound = bound_names(tables)
            watched = list(watched_queues)
            names = list(dict.fromkeys([*known_queues, *self.config.queues, *watched, *bound]))
            # Configured, bound and watched queues exist even when empty; a queue only remembered
            # from an earlier sample (and a candidate DLQ) is reported only while its list holds
            # messages, so queues whose binding went away do not linger at "0" forever.
            known = set(self.config.queues) | set(bound) | set(watched)
            known |= {n for n in names if n.endswith(DLQ_SUFFIX) and n[: -len(DLQ_SUFFIX)] in known}
            # One set for the whole list: built per name, it made this line quadratic (3 s of
            # a 10,000-queue sample).
            listed = set(names)
            candidates = [n + DLQ_SUFFIX for n in names if n + DLQ_SUFFIX not in listed]
            measured = names + candidates
            per_queue, unacked_total, groups = self._measure(measured)
        stats = []
        for i, name in enumerate(measured):
            depth, digest, published = per_queue[3 * i : 3 * i + 3]
            if name not in known and depth == 0:
                continue
            stats.append(
                QueueStats(
                    name=name,
                    depth=None if depth < 0 else depth,
                    head_digest=digest.decode() if digest else None,
                    head_published_at=float(published) if published else None,
                )
            )
        # Routes are indexed only when there are in-flight messages to place.
        warning = attribute_unacked(stats, groups, Routes(tables) if groups else None)
        return BrokerSample(
            queues=stats,
            bindings={ex: [(rk, q) for rk, _, q in rows] for ex, rows in tables.items()},
            unacked_total=unacked_total if isinstance(unacked_total, int) else None,
            warning=warning,
        )

    def peek(self, queue: str, offset: int = 0, limit: int = 50) -> tuple[int, list[RawMessage]]:
        """``(count, messages)`` oldest first, in the order consumers would receive them.

        One atomic read-only script (LLEN + LRANGE): nothing is consumed, order and redelivery
        flags are untouched. ``RawMessage.raw`` is the exact stored value (for an exact LREM
        later) and ``priority_key`` the full Redis key it sits in. A queue that does not exist
        and an empty one look the same on Redis: ``(0, [])``.
        """
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        sub_queues = self._sub_queues(queue)
        with self._errors("peek"):
            reply = self._peek_script(keys=[self._key(k) for k in sub_queues], args=[offset, limit])
        messages = []
        for n, i in enumerate(range(1, len(reply), 2)):
            raw = reply[i + 1]
            envelope = decode_envelope(raw)
            messages.append(
                RawMessage(
                    raw=raw,
                    position=offset + n,
                    queue=queue,
                    body=envelope.body,
                    headers=envelope.headers,
                    properties=envelope.properties,
                    content_type=envelope.content_type,
                    content_encoding=envelope.content_encoding,
                    redelivered=envelope.redelivered,
                    priority_key=self.prefix + sub_queues[reply[i] - 1],
                    size_bytes=len(raw),
                )
            )
        return reply[0], messages

    def close(self) -> None:
        self.client.close()

    # -- operator actions ----------------------------------------------------------------------

    def open_move(self, plan: MovePlan) -> MoveSession:
        """A batch-atomic move or delete; guarantees in :mod:`messaging.brokers.redis.moves`."""
        return RedisMoveSession(self, plan)

    def count(self, queue: str) -> int | None:
        """Messages waiting in the queue (all priority sub-queues), exactly, now."""
        return self.peek(queue, 0, 0)[0]

    def queue_exists(self, queue: str) -> bool | None:
        """True when the queue holds messages or a Kombu binding names it; else None (an empty
        Redis queue has no key, so absence proves nothing)."""
        with self._errors("look up queue"):
            if any(self.client.exists(self._key(k)) for k in self._sub_queues(queue)):
                return True
            tables = self._binding_tables()
        if any(q == queue for rows in tables.values() for _, _, q in rows):
            return True
        return None

    def stuck_in_flight(self, older_than_s: float, limit: int = 200) -> list[InFlight]:
        """Entries of Kombu's ``unacked`` hash delivered more than ``older_than_s`` ago (by their
        ``unacked_index`` score), oldest first, with the queue a restore would return them to."""
        cutoff = time.time() - older_than_s
        with self._errors("list in-flight messages"):
            rows = self.client.zrangebyscore(
                self._key(self.unacked_index_key), "-inf", cutoff, start=0, num=limit, withscores=True
            )
            values = self.client.hmget(self._key(self.unacked_key), [tag for tag, _ in rows]) if rows else []
            routes = Routes(self._binding_tables())
        found = []
        for (tag, score), value in zip(rows, values):
            if value is None:
                continue
            queue, task, task_id = in_flight_origin(value, routes)
            found.append(InFlight(tag=text_of(tag), queue=queue, age_s=age_of(score), task=task, task_id=task_id))
        return found

    def restore_in_flight(self, tag: str) -> str | None:
        """Put one unacked message back at the consuming end of its queue, atomically as Kombu's
        ``restore_by_tag`` does (HDEL + ZREM + RPUSH in one script, only if the entry is still
        the one read). Returns the queue, or None when it was acked or restored meanwhile.
        Raises :class:`BrokerError` when the entry cannot be routed to one queue."""
        with self._errors("restore in-flight message"):
            value = self.client.hget(self._key(self.unacked_key), tag)
            if value is None:
                return None
            tables = self._binding_tables()
            queue, _, _ = in_flight_origin(value, Routes(tables))
            try:
                payload = json.loads(value)
            except ValueError:
                payload = None
            pushed = restored_value(payload)
            if queue is None or pushed is None:
                raise BrokerError(f"in-flight message {tag!r} cannot be routed to one queue", permanent=True)
            key = self._key(self._q_for_priority(queue, payload[0]))
            keys = [self._key(self.unacked_key), self._key(self.unacked_index_key), key]
            done = self._restore_script(keys=keys, args=[tag, value, pushed])
        return queue if done else None

    def _q_for_priority(self, queue: str, message: dict[str, Any]) -> str:
        """Kombu's ``_q_for_pri``: the sub-queue of the message's priority step (priority 0 when
        it has none Kombu could read, as Kombu's ``default_priority``)."""
        step = self.priority_step(message.get("properties"))
        return queue + self.step_suffix(self._kombu_step(0) if step is None else step)

    def priority_step(self, properties: Any) -> int | None:
        """The priority step Kombu files a message with these properties under (Kombu's
        ``priority()``: the largest step <= its priority, clamped to 0-255), or None when it
        carries no priority Kombu could read (a move then keeps the step the message sits in)."""
        try:
            priority = max(0, min(int(properties["priority"]), 255))
        except (TypeError, ValueError, KeyError):
            return None
        return self._kombu_step(priority)

    def _kombu_step(self, priority: int) -> int:
        # Kombu's formula as is: with steps that lack 0, a priority below the first step wraps
        # to the last step (where Kombu's own publish puts it).
        return self.steps[bisect.bisect(self.steps, priority) - 1]

    def step_suffix(self, step: int) -> str:
        """What Kombu appends to a queue's name for its sub-queue of ``step`` (nothing for 0)."""
        return f"{self.sep}{step}" if step else ""

    # -- layout --------------------------------------------------------------------------------

    def _sub_queues(self, queue: str) -> list[str]:
        """The queue's keys (without prefix) in the order consumers read them."""
        return [f"{queue}{self.sep}{step}" if step else queue for step in self.steps]

    def _key(self, name: str) -> bytes:
        return (self.prefix + name).encode("utf-8", "surrogateescape")

    def _binding_tables(self) -> dict[str, list[tuple[str, str, str]]]:
        """Exchange -> [(routing_key, pattern, queue)] from every ``_kombu.binding.*`` set."""
        match = glob_escape(self.prefix + BINDING_PREFIX) + "*"
        keys: list[bytes] = []
        cursor = 0
        while True:
            cursor, batch = self.client.scan(cursor, match=match, count=self.scan_count)
            keys.extend(batch)
            if not cursor:
                break
        if not keys:
            return {}
        chunks = [keys[i : i + self.chunk_size] for i in range(0, len(keys), self.chunk_size)]
        for attempt in (1, 2):
            packed, count = self._binding_calls.packed(
                self.client,
                (self._bindings_sha, tuple(keys)),
                lambda: [("EVALSHA", self._bindings_sha, len(chunk), *chunk) for chunk in chunks],
            )
            replies = send_packed(self.client, packed, count)
            if attempt == 1 and any(isinstance(r, redis_py.exceptions.NoScriptError) for r in replies):
                self._bindings_sha = self.client.script_load(lua.BINDINGS)  # Redis restarted
                continue
            break
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        members = [rows for reply in replies for rows in reply]
        # The same sets as last time (the usual case) need no parsing again.
        if self._last_bindings[0] != (keys, members):
            tables = parse_binding_tables(keys, members, len(self._key(BINDING_PREFIX)), self.sep)
            self._last_bindings = ((keys, members), tables)
        return dict(self._last_bindings[1])

    def _measure(self, names: list[str]) -> tuple[list[Any], Any, Any]:
        """Run the sample script over ``names`` in chunks, all in one pipelined round trip.

        Chunks keep each script short (Redis serves nobody else while a script runs); the first
        call also reads the ``unacked`` hash. After a Redis restart the script is loaded and
        the pipeline sent once more. The packed calls are reused while ``names`` stay the same.
        """
        unacked, limit = self._key(self.unacked_key), self.attribution_limit
        for attempt in (1, 2):
            packed, count = self._sample_calls.packed(
                self.client,
                (self._sample_sha, tuple(names)),
                lambda: self._sample_keys.script_calls(self._sample_sha, names, self.chunk_size, unacked, limit),
            )
            replies = send_packed(self.client, packed, count)
            if attempt == 1 and any(isinstance(r, redis_py.exceptions.NoScriptError) for r in replies):
                self._sample_sha = self.client.script_load(lua.SAMPLE)
                continue
            break
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        per_queue = [value for reply in replies for value in reply[0]]
        return per_queue, replies[0][1], replies[0][2]

    # -- errors --------------------------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return scrub_secret(f"{redact_url(self.config.url)}: {text}", self.config.url)

    def _errors(self, doing: str) -> RedisErrors:
        return RedisErrors(self, doing)

"""Moving and deleting messages on Redis (Kombu layout) for operator actions.

Guarantees (the BullMQ way, not Sidekiq's remove-then-push):
- no loss: each batch is one Lua script that removes every selected message from its source list
  and pushes its (rewritten) value to the target in the same atomic step;
- no duplication: a message is removed by its exact stored value (LREM count -1, from the oldest
  end) and pushed only if that removal took one, so a message consumed meanwhile is skipped
  (counted as ``missing``), never copied;
- exact resumption: the batch's counters live in a progress hash on the same Redis, updated by the
  same script, so after a crash the next runner continues from the true totals. The hash holds the
  claim token; a runner whose claim was taken over is refused by the script (fencing).
- "all" means the ``budget`` oldest messages: new arrivals are pushed to the other end and are
  never reached. Messages that a consumer takes while a filtered scan is running shift positions,
  so a few unselected-then-consumed messages can make the scan skip some: skipped, never lost.

Bulk moves. A requeue or move of every message (the plan's :class:`BulkMove`: no ids, no filter,
not a dry run, the same provenance headers for each) to a known target other than the source
runs inside Redis, one ``BULK_MOVE`` script per chunk of at most the runner's batch and
``BULK_BYTES``: the script pops the oldest messages of each priority sub-queue in consumer order,
splices the headers into each value's text and pushes it to the target's sub-queue for the
message's priority (where Kombu would file it), and advances the progress hash, all in one atomic
step. Nothing travels to the client and back. It gives the same bytes and the same target as the
per-message path (``write_lua.BULK_MOVE`` says how it decides without decoding); the first
message it does not recognise (not Kombu's layout, an added header already there, a dead-letter
origin that may differ from the target, a priority the text does not settle) ends
the chunk and stays first in line, and one per-message batch follows. Bulk moves stop for good
once a message was left in place at the oldest end (the script only takes from that end).
- loss: none. A message leaves the source only in the script that pushes it to the target; with
  AOF the script's writes are logged as one transaction, so a Redis crash keeps or drops a chunk
  whole (with ``appendfsync everysec`` the last second of chunks may be dropped: the messages are
  then in the source again and the counters agree).
- duplicates: none, not even after a crash between chunks (of the console or of Redis). The
  client never holds a message it still has to delete, and the counters move in the same script,
  so a resumed run knows exactly how many of the budget were moved.
- budget: a chunk takes at most ``budget - scanned``, from the oldest end; arrivals are pushed at
  the other end. A consumer taking messages from the source meanwhile makes the move reach that
  many newer ones, as the per-message path does.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from messaging.brokers.base import BrokerError, RawMessage
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession
from messaging.brokers.redis.splice import absence_probes, members_text, rewritten_value, with_headers

if TYPE_CHECKING:
    from messaging.brokers.redis.broker import RedisBroker

PROGRESS_TTL_S = 7 * 86400
#: A batch stops growing past this many bytes of message values (10 MB messages exist).
BATCH_BYTES = 16 * 1024 * 1024
#: The per-message path looks at most this many messages per script (its LREM scans past the
#: messages a filter left in place, so a script's time grows with batch x kept messages).
CLIENT_BATCH = 2000
#: After a bulk chunk stopped at a message it could not take, the per-message batch that follows
#: starts this small (doubling while such messages keep coming), so bulk resumes soon after.
ODD_BATCH = 100
#: A bulk chunk stops once it has pushed this many bytes: each script blocks Redis for its other
#: clients, and its time grows with the bytes it copies (tens of milliseconds at this size).
BULK_BYTES = 8 * 1024 * 1024


class RedisMoveSession(MoveSession):
    def __init__(self, broker: RedisBroker, plan: MovePlan) -> None:
        if not plan.deleting and plan.target == plan.source and plan.target_of is None:
            raise BrokerError("source and target are the same queue", permanent=True)
        self.broker, self.plan = broker, plan
        self.progress = MoveProgress()
        self._peek_count = 0
        self._odd_run = 0
        if not plan.dry_run:
            if not plan.progress_key or not plan.owner:
                raise BrokerError("a move needs a progress key and an owner", permanent=True)
            self._key = broker._key(plan.progress_key)
            with broker._errors("claim progress"):
                pipe = broker.client.pipeline(transaction=True)
                pipe.hset(self._key, "owner", plan.owner)
                pipe.expire(self._key, PROGRESS_TTL_S)
                pipe.hgetall(self._key)
                stored = pipe.execute()[-1]
            self.progress = MoveProgress(
                scanned=int(stored.get(b"scanned", 0)),
                moved=int(stored.get(b"moved", 0)),
                missing=int(stored.get(b"missing", 0)),
                unroutable=int(stored.get(b"unroutable", 0)),
            )

    def step(self, batch_size: int) -> MoveProgress:
        """Look at up to ``batch_size`` more messages: one bulk chunk when it applies (so the
        caller's progress row follows the progress hash chunk by chunk), else per-message
        batches of at most ``CLIENT_BATCH`` (each one Lua script)."""
        p = self.progress
        start = p.scanned
        while not self._finished() and p.scanned - start < batch_size:
            # Never past the budget: the messages counted at confirmation, not later arrivals.
            left = min(batch_size - (p.scanned - start), self.plan.budget - p.scanned)
            target = self._bulk_target()
            if target is not None:
                if self._bulk(target, left) != "other":
                    self._finished()
                    break
                # The oldest message needs the per-message path: a short batch, then bulk again
                # (longer batches while the odd messages keep coming).
                self._odd_run = min(CLIENT_BATCH, max(2 * self._odd_run, ODD_BATCH))
                left = min(left, self._odd_run)
            self._client_batch(min(left, CLIENT_BATCH))
        return p

    def _finished(self) -> bool:
        p, plan = self.progress, self.plan
        if p.scanned >= plan.budget or (plan.max_moves is not None and p.moved >= plan.max_moves):
            p.finished = True
        return p.finished

    def _client_batch(self, limit: int) -> None:
        """One per-message batch: peek, decide per message in Python, one MOVE script."""
        p, plan = self.progress, self.plan
        want = max(1, min(limit, plan.budget - p.scanned, self._peek_count or limit))
        # Messages looked at and left in place still sit at the oldest end: skip past them.
        kept_before = p.scanned - p.moved - p.missing
        _, messages = self.broker.peek(plan.source, offset=kept_before, limit=want)
        if not messages:
            p.finished = True
            return
        size = sum(len(m.raw) for m in messages)
        # Shrink the next batch when messages are large, grow it back when they are small.
        self._peek_count = max(1, min(CLIENT_BATCH, int(len(messages) * BATCH_BYTES / max(size, 1))))
        selected = [m for m in messages if plan.selector(m)]
        if plan.dry_run:
            p.scanned += len(messages)
            routable = [m for m in selected if plan.deleting or plan.destination(m) not in (None, plan.source)]
            p.moved += len(routable)
            p.unroutable += len(selected) - len(routable)
        else:
            self._apply(selected, len(messages))

    def _apply(self, selected: list[RawMessage], scanned: int) -> None:
        broker, plan = self.broker, self.plan
        keys: list[Any] = [self._key]
        pairs: list[Any] = []
        unroutable = 0
        for message in selected:
            # The sub-queue (priority step) the message sits in; the target gets the same step.
            sub_queue = (message.priority_key or broker.prefix + plan.source)[len(broker.prefix) :]
            source_key = broker._key(sub_queue)
            if plan.deleting:
                keys += [source_key, source_key]
                pairs += [message.raw, b""]
                continue
            target = plan.destination(message)
            if target is None or target == plan.source:
                unroutable += 1
                continue
            # Filed by its priority, as Kombu's publish and restore do; a message without one
            # Kombu could read keeps the step it sits in.
            step = broker.priority_step(message.properties)
            suffix = sub_queue[len(plan.source) :] if step is None else broker.step_suffix(step)
            keys += [source_key, broker._key(target + suffix)]
            added = plan.transform(message) if plan.transform else None
            if plan.rewrite is not None:
                pairs += [message.raw, rewritten_value(message.raw, plan.rewrite(message), added)]
                continue
            pairs += [message.raw, with_headers(message.raw, added, bool(message.headers)) if added else message.raw]
        mode = "delete" if plan.deleting else "move"
        self._run(broker._move_script, keys, [plan.owner, scanned, mode, PROGRESS_TTL_S, unroutable, *pairs])

    def _bulk_target(self) -> str | None:
        """The target when the next chunk can be a bulk move (see the module docstring), else None."""
        plan, p = self.plan, self.progress
        if plan.bulk is None or plan.dry_run or plan.deleting or plan.max_moves is not None:
            return None
        if plan.target is None or plan.target == plan.source or p.scanned - p.moved - p.missing:
            return None
        return plan.target

    def _bulk(self, target: str, want: int) -> str:
        """One ``BULK_MOVE`` script: up to ``want`` messages; why it stopped."""
        broker, plan, bulk = self.broker, self.plan, self.plan.bulk
        assert bulk is not None
        sub_queues = broker._sub_queues(plan.source)
        keys = [self._key, *(broker._key(k) for k in sub_queues)]
        keys += [broker._key(target + k[len(plan.source) :]) for k in sub_queues]
        # With by_origin the script checks each message's origin is the target or absent: the
        # target is then the per-message path's answer either way (origin, else the fallback).
        origin = json.dumps(target) if bulk.by_origin else ""
        steps = ",".join(str(step) for step in broker.steps)
        args = [plan.owner, want, BULK_BYTES, PROGRESS_TTL_S, members_text(bulk.headers), origin, steps]
        args.append(bulk.poison_deaths)
        reply = self._run(broker._bulk_move_script, keys, [*args, *absence_probes(bulk.headers)])
        stop = reply[5].decode()
        if stop == "empty":
            self.progress.finished = True
        elif int(reply[4]):
            self._odd_run = 0
        return stop

    def _run(self, script: Any, keys: list[Any], args: list[Any]) -> list[Any]:
        """Run a move script; its first four values are the new progress totals."""
        with self.broker._errors("move"):
            try:
                reply = script(keys=keys, args=args)
            except Exception as exc:  # a fenced runner must stop, not retry
                if "SWITCHYARD_FENCED" in str(exc):
                    raise BrokerError("another runner took over this action", permanent=True) from None
                raise
        p = self.progress
        p.scanned, p.moved, p.missing, p.unroutable = (int(t) for t in reply[:4])
        return reply

    def close(self) -> None:
        return None


def restored_value(payload: Any) -> bytes | None:
    """Kombu's unacked entry ``[message, exchange, routing_key]`` -> the value its restore pushes
    (``redelivered`` set in headers and delivery_info, as ``_do_restore_message`` does)."""
    if not isinstance(payload, list) or len(payload) != 3 or not isinstance(payload[0], dict):
        return None
    message = payload[0]
    headers = message.get("headers")
    delivery_info = (message.get("properties") or {}).get("delivery_info")
    if isinstance(headers, dict) and isinstance(delivery_info, dict):
        headers["redelivered"] = True
        delivery_info["redelivered"] = True
    return json.dumps(message).encode()


def age_of(score: float | None) -> float | None:
    return None if score is None else max(0.0, time.time() - score)

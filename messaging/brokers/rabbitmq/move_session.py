"""One move (or delete) of messages on RabbitMQ, batch by batch, as the shovel's ``on-confirm``.

Opened by ``RabbitMQMoves.open_move`` (``moves.py``). Guarantees:

- no loss: messages are consumed with manual acknowledgement, published to the target with
  publisher confirms, and acknowledged at the source only after the broker confirmed the whole
  batch and ``plan.record_moved`` stored their identities (:func:`move_identity`) durably. A
  nacked or returned (unroutable) publish leaves the source message in place;
- re-deliveries: RabbitMQ can hand back a message whose source ack it had: the ack of a batch
  still in the socket when the connection died, or acks a SIGKILLed node had not yet written to
  disk (a classic queue writes them to its journal in bulk: a crash can bring back thousands,
  flagged ``redelivered`` like every message recovered after an unclean stop). A redelivered
  message whose identity an earlier run recorded (``plan.moved_before``; each recorded copy
  matches once per run) is acknowledged without being published again and counted in
  ``already_moved``, not against the budget. The caller drops the identities once the action
  ends for good: a node killed within seconds of that end can still hand back the last acks'
  messages (the journal is written when the queue goes idle; 5 s after the last ack a SIGKILL
  brought none back), and a new action would move them again;
- duplication: only messages published to the target whose identities were not yet recorded
  when the run died can be published twice. Batches are pipelined (one is published while the
  broker confirms the one before; see :meth:`RabbitMQMoveSession._move`), so that is at most two
  batches: the one being settled and the one published after it. ``plan.on_in_doubt`` is told
  both sizes before publishing and ``record_moved`` sets the count to what is left in doubt in the
  same transaction, so the caller counts exactly what may have doubled. A run stopped between
  batches (cancelled, its process stopping) settles its last batch first (:meth:`settle`):
  nothing is left in doubt;
- byte-identical copies (same body, headers but the broker's per-delivery ones, properties) have
  one identity, so they cannot be told apart: if an earlier run moved one copy and a later run
  meets its twin flagged redelivered (any earlier delivery or a node restart sets the flag), the
  twin is taken for the moved copy's re-delivery and acknowledged: the pair ends as one copy at
  the target, counted in ``already_moved``. Messages that differ in anything (a Celery task id, a
  ``message_id``, an ``x-death`` count or time) never match;
- unselected messages are held unacknowledged while the scan goes on and returned at the end
  (closing the channel requeues them, at their original position on classic queues), so the
  scan never sees a message twice and never goes past the ``budget`` messages present at
  confirmation: each batch is a consumer whose prefetch is what is left of the budget, at most.
  The next batch's consumer starts while the target confirms the current one; if the action then
  stops between batches (cancelled, its process stopping), they go back unprocessed, redelivered;
- the target is never re-declared: an existing queue is checked with a passive declare, so its
  arguments, type and flags (dead-lettering, priority, quorum, TTL, auto-delete) stay the
  application's. A missing target is created only with ``plan.create_target``, as
  :data:`CREATED_TARGET` (the session says so in ``target_created``); otherwise the session does
  not open and nothing is taken from the source;
- a dry run consumes nothing for good: every message goes back when the session closes (but,
  like browsing, marks messages redelivered and counts toward a quorum queue's delivery limit).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import amqp

from messaging.brokers.base import BrokerError, QueueNotFound, RawMessage
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession
from messaging.brokers.rabbitmq.confirms import PublisherConfirms
from messaging.brokers.rabbitmq.move_messages import move_identity, raw_message, republished, rewrite

if TYPE_CHECKING:
    from messaging.brokers.rabbitmq.moves import RabbitMQMoves

CONFIRM_TIMEOUT_S = 30.0
IDLE_ROUNDS = 3
# What ``create_target`` creates. The type is explicit so that a vhost whose default queue type
# is quorum gets what the action says; an application that later declares the queue without
# arguments matches it.
CREATED_TARGET_ARGUMENTS = {"x-queue-type": "classic"}
CREATED_TARGET = (
    "a durable classic queue (not auto-delete; no dead-lettering, TTL, length limit or priority "
    "arguments; the vhost's policies apply)"
)


@dataclass
class _Unsettled:
    """A batch published to its target, not yet confirmed and acknowledged at the source."""

    taken: list[tuple[amqp.Message, str | None, RawMessage]]
    seen: list[amqp.Message]
    identities: dict[int, str]
    sequences: list[int]


class RabbitMQMoveSession(MoveSession):
    def __init__(self, moves: RabbitMQMoves, plan: MovePlan) -> None:
        self.moves, self.plan = moves, plan
        earlier = plan.resume_from or MoveProgress()
        # Messages looked at but not taken went back when the last run's channel closed: only
        # those moved count against the budget.
        self.progress = MoveProgress(
            scanned=earlier.moved,
            moved=earlier.moved,
            missing=earlier.missing,
            duplicated=earlier.duplicated,
            already_moved=earlier.already_moved,
        )
        self.buffer: list[amqp.Message] = []
        self.held = 0
        self.idle_rounds = 0
        self._consumer: tuple[str, int] | None = None  # (tag, prefetch) of the batch consuming
        self._prefetch = 0
        self._consumers = 0
        self._matched: Counter[str] = Counter()
        self.confirms = PublisherConfirms(CONFIRM_TIMEOUT_S)
        self._unsettled: _Unsettled | None = None
        self.conn = moves.connect(f"switchyard-action {plan.progress_key}")
        try:
            self.channel = self.conn.channel()
            if not self._exists(plan.source):
                raise QueueNotFound(plan.source)
            if plan.target and not plan.deleting:
                self._check_target(plan.target)
            if not plan.dry_run and not plan.deleting:
                self.confirms.listen(self.channel)
        except BrokerError:
            self.close()
            raise
        except (OSError, amqp.exceptions.AMQPError) as exc:
            self.close()
            raise moves.error("open a move", exc) from None

    # -- source and target ---------------------------------------------------------------------

    def _exists(self, queue: str) -> bool:
        """A passive declare: it changes nothing, so it holds whatever the queue's arguments (dead
        lettering, priority, type, TTL) and flags; a declare that differs in any of them is refused
        with PRECONDITION_FAILED. A missing queue closes the channel: a fresh one replaces it."""
        try:
            self.channel.queue_declare(queue, passive=True)
        except amqp.exceptions.NotFound:
            self.channel = self.conn.channel()
            return False
        return True

    def _check_target(self, target: str) -> None:
        """An existing target is used as it is. A missing one is created only with
        ``plan.create_target`` (a dry run says it would be), as :data:`CREATED_TARGET` describes;
        otherwise the session does not open, before anything is taken from the source."""
        if self._exists(target):
            return
        if not self.plan.create_target:
            raise BrokerError(
                f"target queue {target!r} does not exist: nothing was taken from the source "
                "(send create_target: true to create it)",
                permanent=True,
            )
        if self.plan.dry_run:
            self.target_created = f"would create {target!r} as {CREATED_TARGET} (dry run: not created)"
            return
        self.channel.queue_declare(target, durable=True, auto_delete=False, arguments=CREATED_TARGET_ARGUMENTS)
        self.target_created = f"created {target!r} as {CREATED_TARGET}"

    def step(self, batch_size: int) -> MoveProgress:
        try:
            return self._step(batch_size)
        except (TimeoutError, OSError, amqp.exceptions.AMQPError) as exc:
            raise self.moves.error("move", exc) from None

    # -- consuming -----------------------------------------------------------------------------

    def _consume(self, want: int) -> None:
        """Start the consumer of the next batch: its prefetch (fixed when it starts) is ``want``,
        and nothing of it is acknowledged before :meth:`_take` cancels it, so it delivers at most
        ``want`` messages."""
        if self._prefetch != want:
            self.channel.basic_qos(0, want, False)
            self._prefetch = want
        self._consumers += 1
        # No consume-ok wait (a round trip per batch): a refusal closes the channel, which the
        # next read raises.
        tag = f"switchyard-move-{self._consumers}"
        self.channel.basic_consume(self.plan.source, tag, callback=self.buffer.append, no_ack=False, nowait=True)
        self._consumer = (tag, want)

    def _take(self, want: int) -> list[amqp.Message]:
        """Up to ``want`` messages (those of a consumer started ahead, if one is), its consumer
        cancelled after. Held messages stay unacknowledged and are never delivered to us again."""
        if self._consumer is None:
            self._consume(want)
        tag, prefetch = self._consumer
        deadline = time.monotonic() + 1.0
        try:
            while len(self.buffer) < prefetch and time.monotonic() < deadline:
                try:
                    self.conn.drain_events(timeout=0.2)
                except TimeoutError:
                    if self.buffer:
                        break
        finally:
            self._consumer = None
            if len(self.buffer) >= prefetch:
                # It has delivered all it can (none of it acknowledged): no cancel-ok to wait for.
                self.channel.basic_cancel(tag, nowait=True)
                self.channel.callbacks.pop(tag, None)
            else:
                # Deliveries may still be on their way: the cancel-ok comes after the last one.
                self.channel.basic_cancel(tag)
        batch, self.buffer = self.buffer, []
        return batch

    def _recognise(self, batch: list[amqp.Message]) -> tuple[list[amqp.Message], list[amqp.Message], dict[int, str]]:
        """The batch split into messages to process and copies already moved by an earlier run
        (redelivered, their identity recorded and not yet matched in this run), and the
        identities computed (by delivery tag)."""
        plan = self.plan
        identities: dict[int, str] = {}
        if plan.dry_run or plan.moved_before is None:
            return batch, [], identities
        redelivered = [m for m in batch if m.delivery_info.get("redelivered")]
        if not redelivered:
            return batch, [], identities
        for message in redelivered:
            identities[message.delivery_tag] = move_identity(message)
        recorded = plan.moved_before(sorted(set(identities.values())))
        fresh, seen = [], []
        for message in batch:
            identity = identities.get(message.delivery_tag)
            if identity is not None and recorded.get(identity, 0) > self._matched[identity]:
                self._matched[identity] += 1
                seen.append(message)
            else:
                fresh.append(message)
        return fresh, seen, identities

    # -- one batch -----------------------------------------------------------------------------

    def _step(self, batch_size: int) -> MoveProgress:
        p, plan = self.progress, self.plan
        remaining = plan.budget - p.scanned
        if remaining <= 0 or (plan.max_moves is not None and p.moved >= plan.max_moves):
            self._settle_unsettled()
            p.finished = True
            return p
        batch = self._take(min(batch_size, remaining))
        if not batch:
            self._settle_unsettled()
            self.idle_rounds += 1
            if self.idle_rounds >= IDLE_ROUNDS:
                p.finished = True
            return p
        self.idle_rounds = 0
        batch, seen, identities = self._recognise(batch)
        p.already_moved += len(seen)
        taken: list[tuple[amqp.Message, str | None, RawMessage]] = []
        for message in batch:
            p.scanned += 1
            raw = raw_message(message, plan.source, p.scanned)
            if not plan.selector(raw):
                self.held += 1
                continue
            target = None if plan.deleting else plan.destination(raw)
            if not plan.deleting and (target is None or target == plan.source):
                p.unroutable += 1
                self.held += 1
                continue
            taken.append((message, target, raw))
        if plan.dry_run:
            p.moved += len(taken)
            self.held += len(taken)
        elif plan.deleting:
            self._record([m for m, _, _ in taken], identities)
            self._ack([m for m, _, _ in taken] + seen)
        else:
            self._move(taken, seen, identities, batch_size)
        if p.scanned >= plan.budget or (plan.max_moves is not None and p.moved >= plan.max_moves):
            self._settle_unsettled()
            p.finished = True
        return p

    def settle(self) -> MoveProgress | None:
        if self._unsettled is None:
            return None
        try:
            self._settle_unsettled()
        except (TimeoutError, OSError, amqp.exceptions.AMQPError) as exc:
            raise self.moves.error("move", exc) from None
        return self.progress

    def _move(
        self,
        taken: list[tuple[amqp.Message, str | None, RawMessage]],
        seen: list[amqp.Message],
        identities: dict[int, str],
        batch_size: int,
    ) -> None:
        """Publish ``taken``, then settle the batch published before it: the broker confirms one
        batch while the next is published, so the confirm wait (an fsync of the target queue) is
        not paid per batch. The batch just published stays unsettled until the next step (or
        :meth:`settle`): with the one before it, two batches are in doubt while it is published."""
        plan = self.plan
        previous = self._unsettled
        if not taken:
            self._settle_unsettled()  # before ``seen``: a multiple ack of theirs would cover it
            self._ack(seen, still_in_doubt=0)
            return
        in_flight = len(previous.taken) if previous else 0
        if plan.on_in_doubt:
            plan.on_in_doubt(in_flight + len(taken))
        sequences = []
        with self.conn.corked():
            for message, target, raw in taken:
                if plan.record_moved is not None and message.delivery_tag not in identities:
                    identities[message.delivery_tag] = move_identity(message)  # of the message as it came
                added = plan.transform(raw) if plan.transform else None
                if plan.rewrite is not None:
                    rewrite(message, plan.rewrite(raw))
                self.channel.basic_publish(republished(message, added), exchange="", routing_key=target, mandatory=True)
                sequences.append(self.confirms.next_sequence())
        self._unsettled = _Unsettled(taken, seen, identities, sequences)
        # The broker delivers the next batch while the earlier ones are confirmed.
        self._consume_ahead(batch_size, len(taken) + in_flight)
        if previous is not None:
            self._settle_batch(previous, still_in_doubt=len(taken))
        if plan.max_moves is not None:
            # A selection of ids stops at a count of moved messages: keep that count exact.
            self._settle_unsettled()

    def _settle_unsettled(self) -> None:
        if self._unsettled is not None:
            self._settle_batch(self._unsettled, still_in_doubt=0)

    def _settle_batch(self, batch: _Unsettled, still_in_doubt: int) -> None:
        """Wait for ``batch``'s confirms, record what the target took and acknowledge it at the
        source; a refused publish leaves its source message in place. ``still_in_doubt``: the
        messages of a later batch published meanwhile."""
        p = self.progress
        self.confirms.wait(self.conn, batch.sequences)
        if self._unsettled is batch:
            self._unsettled = None
        confirmed = []
        for (message, _, _), seq in zip(batch.taken, batch.sequences):
            if seq in self.confirms.refused:
                p.missing += 1
                self.held += 1
            else:
                confirmed.append(message)
        self._record(confirmed, batch.identities, still_in_doubt)
        self._ack(confirmed + batch.seen, still_in_doubt)

    def _consume_ahead(self, batch_size: int, taking: int) -> None:
        """Start the next batch's consumer while the target confirms this one, when the action
        will want one (within the budget, ids left to find)."""
        p, plan = self.progress, self.plan
        want = min(batch_size, plan.budget - p.scanned)
        if want > 0 and (plan.max_moves is None or p.moved + taking < plan.max_moves):
            self._consume(want)

    def _record(self, messages: list[amqp.Message], identities: dict[int, str], still_in_doubt: int = 0) -> None:
        """Store the identities of ``messages`` (moved, or to delete) before their source acks:
        from then on a copy re-delivered at the source is recognised, and the batch is no longer
        in doubt, and counts as moved (the recorder counts it durably too). Without a recorder the
        batch stays in doubt until the acks have settled."""
        self.progress.moved += len(messages)
        if self.plan.record_moved is not None:
            identified = [identities.get(m.delivery_tag) or move_identity(m) for m in messages]
            self.plan.record_moved(identified, in_doubt=still_in_doubt)

    def _ack(self, messages: list[amqp.Message], still_in_doubt: int = 0) -> None:
        if not messages:
            return
        if self.held:
            # Held messages sit among the delivery tags: acknowledge one by one, never them.
            for message in messages:
                self.channel.basic_ack(message.delivery_tag)
        else:
            # Nothing held: every unacknowledged delivery up to the last of these is one of them
            # (the next batch's deliveries come after it).
            self.channel.basic_ack(max(m.delivery_tag for m in messages), multiple=True)
        if self.plan.record_moved is None:
            self._settle()
            if self.plan.on_in_doubt and not self.plan.deleting:
                self.plan.on_in_doubt(still_in_doubt)

    def _settle(self) -> None:
        """A synchronous round trip: every ack sent before it has reached the broker."""
        self.channel.basic_qos(0, self._prefetch or 1, False)

    def close(self) -> None:
        # Closing the channel returns every held (unacknowledged) message to the queue.
        _quietly(self.conn.close)


def _quietly(close: Any) -> None:
    try:
        close()
    except Exception:  # noqa: S110 - closing a dead connection has nothing to report
        pass

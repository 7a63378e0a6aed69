"""One move, delete or purge of SQS messages, ten at a time (SQS's batch limit).

Guarantees:

- no loss: each batch is received with a visibility timeout (:data:`MOVE_VISIBILITY_S` unless the
  broker's ``move_visibility_timeout_s`` option says otherwise), sent with SendMessageBatch, and
  only the messages SQS accepted at the target are then deleted from the source by receipt
  handle. A refused send leaves its message in the source;
- duplication: a run that dies between a batch's send and its delete leaves that batch in both
  queues once its visibility timeout ends, and the next run moves it again: at most one batch
  (ten) per interruption, told to the caller (``plan.on_in_doubt``) before the send and counted in
  ``duplicated``. To a FIFO target the resent batch carries the same deduplication ids, so SQS
  takes it once if the resend comes within five minutes. A delete that fails after a send (the
  receipt handle expired) is counted in ``duplicated`` at once;
- overlap (opt-in: the broker option ``move_overlap_deletes``; off, every call waits for the one
  before): from a standard queue the delete of batch N runs in the background while batch N+1 is
  received; batch N+1 is sent only once that delete has returned, so at most one batch is ever
  sent and not yet deleted (the bound above stays ten). The receive overlaps only while batch N's
  visibility timeout cannot end before its delete returns or fails (``client.CALL_LIMIT_S``):
  else batch N could be visible again, received with batch N+1 and sent twice. A step may return with that delete still
  running: its batch stays reported in doubt, and the next step or :meth:`settle` finishes it. A
  FIFO source is moved one call after the other (SQS hands out no later message of a group while
  one is held: a receive overlapping the delete could find the queue "empty");
- FIFO: messages keep their MessageGroupId and MessageDeduplicationId (see
  ``messages.deduplication_id``) and are sent in the order received, so order within a group holds;
- unselected messages stay invisible while the scan goes on (so it never sees one twice) and are
  made visible again when the session closes; a dry run takes nothing. Every message received
  counts once more in ``ApproximateReceiveCount`` (on a queue with a RedrivePolicy, a scan can
  push a message over ``maxReceiveCount``);
- a resumed run (an earlier run's progress in ``plan.resume_from``) that finds nothing visible
  waits, up to the visibility timeout from then, for messages the dead run still held to come back,
  and ends only after one more empty receive begun once none is held (one can turn visible while a
  receive is out, which moto's long poll does not return; see :meth:`_nothing_left_elsewhere`). The
  budget counts distinct messages: each one counted in ``duplicated`` may still be in the source
  and is looked at again without using up the budget (else a run resumed after a crash with a
  batch in doubt would stop that many messages short).
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from messaging.brokers.base import BrokerError, RawMessage
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession
from messaging.brokers.sqs.client import CALL_LIMIT_S, broker_error, is_purge_in_progress
from messaging.brokers.sqs.messages import raw_message, send_entry

if TYPE_CHECKING:
    from messaging.brokers.sqs.broker import SQSBroker

BATCH = 10
#: Messages one runner step looks at, in calls of at most BATCH: the runner writes the action's
#: progress once per step, so a step of several calls saves database round trips. At most one
#: batch is ever in doubt (sent, not yet deleted), also while a delete overlaps the next receive.
STEP = 50
MOVE_VISIBILITY_S = 120
#: What a move reads of each message besides its body and message attributes: FIFO ids to keep,
#: the send time (age filters, deduplication) and the receive count (shown, filtered on).
MOVE_ATTRIBUTES = ["MessageGroupId", "MessageDeduplicationId", "SentTimestamp", "ApproximateReceiveCount"]
IDLE_ROUNDS = 2
IDLE_WAIT_S = 1


class RunningDelete(NamedTuple):
    future: Future[dict[str, Any]]
    count: int
    after_send: bool
    #: When the batch's receive was asked for: its visibility timeout runs from then at the earliest.
    received_at: float


class SQSMoveSession(MoveSession):
    def __init__(self, broker: SQSBroker, plan: MovePlan) -> None:
        self.broker, self.plan, self.client = broker, plan, broker.client
        earlier = plan.resume_from or MoveProgress()
        self.progress = MoveProgress(
            scanned=earlier.moved, moved=earlier.moved, missing=earlier.missing, duplicated=earlier.duplicated
        )
        self.resumed = earlier.moved > 0 or earlier.missing > 0
        self.visibility = int(broker.config.options.get("move_visibility_timeout_s") or MOVE_VISIBILITY_S)
        self.held: list[str] = []
        self.in_doubt_reported = 0
        self.idle_rounds = 0
        self.idle_since = 0.0
        #: An idle resumed run's last read of the source found nothing held elsewhere.
        self.found_clear = False
        self.source_url = broker.queue_url(plan.source)
        # Deletes run here, one at a time, while the next batch is received; None: one call after
        # the other (the default, and always from a FIFO source).
        overlap = bool(broker.config.options.get("move_overlap_deletes")) and not plan.source.endswith(".fifo")
        self.deleter = ThreadPoolExecutor(1, "sqs-delete") if overlap else None
        self.deleting_now: RunningDelete | None = None
        self.received_at = 0.0
        self.target_urls: dict[str, str] = {}
        if plan.target and not plan.deleting:
            self.target_urls[plan.target] = self._target_url(plan.target)

    def _target_url(self, target: str) -> str:
        """An existing target is used as it is; a missing one is created only with
        ``plan.create_target`` (FIFO when its name ends in ``.fifo``, as SQS requires)."""
        url = self.broker.find_queue_url(target)
        if url is not None:
            return url
        if not self.plan.create_target:
            raise BrokerError(
                f"target queue {target!r} does not exist: nothing was taken from the source "
                "(send create_target: true to create it)",
                permanent=True,
            )
        fifo = target.endswith(".fifo")
        described = "a FIFO queue" if fifo else "a standard queue"
        described += " with SQS's default attributes (no RedrivePolicy)"
        if self.plan.dry_run:
            self.target_created = f"would create {target!r} as {described} (dry run: not created)"
            return ""
        url = self.broker.create_queue(target, fifo)
        self.target_created = f"created {target!r} as {described}"
        return url

    # -- one batch -----------------------------------------------------------------------------

    def step(self, batch_size: int) -> MoveProgress:
        try:
            if self.plan.purge and not self.plan.dry_run:
                return self._purge()
            return self._steps(batch_size)
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("move", exc, self.plan.source) from None

    def _steps(self, batch_size: int) -> MoveProgress:
        """Calls of at most BATCH messages until ``batch_size`` were looked at, the move is over or
        the source gave nothing. An exception keeps the batch it interrupted reported in doubt; so
        does a delete still running when the step returns (the next step or :meth:`settle` ends it)."""
        p = self.progress
        goal = p.scanned + batch_size
        while True:
            before = p.scanned
            self._step(min(goal - p.scanned, BATCH))
            if p.finished or p.scanned == before or p.scanned >= goal:
                break
        if p.finished:
            self._collect()
        running = self.deleting_now
        self._report_in_doubt(running.count if running is not None and running.after_send else 0)
        return p

    def _report_in_doubt(self, count: int) -> None:
        """Tell the runner how many sent messages may still be in the source too; written only
        when it changes (between a step's batches it stays at the batch size: an upper bound)."""
        if self.plan.on_in_doubt and count != self.in_doubt_reported:
            self.plan.on_in_doubt(count)
            self.in_doubt_reported = count

    def _step(self, batch_size: int) -> MoveProgress:
        p, plan = self.progress, self.plan
        # A duplicated message was sent once but may still be in the source: looked at again, it
        # must not use up the budget the messages never moved yet need.
        remaining = plan.budget - (p.scanned - p.duplicated)
        if remaining <= 0 or self._all_named_taken():
            p.finished = True
            return p
        if not self._receive_may_overlap_delete():
            self._collect()
        messages = self._receive(min(batch_size, remaining))
        self._collect()
        if not messages:
            if not self.idle_rounds:
                self.idle_since = time.monotonic()
            self.idle_rounds += 1
            if self.idle_rounds >= IDLE_ROUNDS and self._nothing_left_elsewhere():
                p.finished = True
            return p
        self.idle_rounds = 0
        self.found_clear = False
        taken: dict[str, list[tuple[dict[str, Any], RawMessage]]] = defaultdict(list)
        for message in messages:
            p.scanned += 1
            raw = raw_message(message, plan.source, p.scanned)
            target = None if plan.deleting else plan.destination(raw)
            if not plan.selector(raw):
                self.held.append(message["ReceiptHandle"])
            elif not plan.deleting and (target is None or target == plan.source):
                p.unroutable += 1
                self.held.append(message["ReceiptHandle"])
            elif plan.dry_run:
                p.moved += 1
                self.held.append(message["ReceiptHandle"])
            else:
                taken[target or ""].append((message, raw))
        for target, batch in taken.items():
            if plan.deleting:
                self._delete([m for m, _ in batch], after_send=False)
            else:
                self._move(target, batch)
        if p.scanned - p.duplicated >= plan.budget or self._all_named_taken():
            p.finished = True
        return p

    def _all_named_taken(self) -> bool:
        """As many taken as ids were named (a delete still running counts: it takes its batch)."""
        if self.plan.max_moves is None:
            return False
        running = self.deleting_now.count if self.deleting_now is not None else 0
        return self.progress.moved + running >= self.plan.max_moves

    def _receive_may_overlap_delete(self) -> bool:
        """Whether the next receive may run while batch N's delete does: only while batch N's
        visibility timeout (running since before its receive) outlasts the longest that delete can
        still take (it returns or fails within CALL_LIMIT_S)."""
        running = self.deleting_now
        return running is None or time.monotonic() - running.received_at + CALL_LIMIT_S < self.visibility

    def _receive(self, count: int) -> list[dict[str, Any]]:
        self.received_at = time.monotonic()
        answer = self.client.receive_message(
            QueueUrl=self.source_url,
            MaxNumberOfMessages=count,
            VisibilityTimeout=self.visibility,
            WaitTimeSeconds=IDLE_WAIT_S if self.idle_rounds else 0,
            AttributeNames=MOVE_ATTRIBUTES,
            MessageAttributeNames=["All"],
        )
        return answer.get("Messages") or []

    def _nothing_left_elsewhere(self) -> bool:
        """A resumed run ends only after an empty receive that began once the source said nothing
        was held elsewhere: a held message can turn visible while a receive is out (moto's long
        poll does not return it), so the read that finds none held can come after that receive
        missed it. A run that found nothing held by another (not resumed) ends at once."""
        if self._held_elsewhere():
            self.found_clear = False
            return False
        if not self.resumed or self.found_clear:
            return True
        self.found_clear = True
        return False

    def _held_elsewhere(self) -> bool:
        """A resumed run that finds nothing visible waits (up to the visibility timeout from then)
        while the source has more invisible messages than this session holds: those the run that
        died held come back within it, and so do those of a receive whose answer was lost (a
        timed-out attempt retried), however long the run has been going."""
        if not self.resumed or time.monotonic() - self.idle_since > self.visibility + 5:
            return False
        found = self.broker.attributes_of(self.plan.source)
        invisible = int(found.get("ApproximateNumberOfMessagesNotVisible") or 0)
        return invisible > len(self.held)

    def _move(self, target: str, batch: list[tuple[dict[str, Any], RawMessage]]) -> None:
        p, plan = self.progress, self.plan
        url = self.target_urls.get(target) or self._target_url(target)
        self.target_urls[target] = url
        fifo = target.endswith(".fifo")
        now = time.time()
        entries = [
            send_entry(message, str(i), plan.transform(raw) if plan.transform else None, fifo, plan.progress_key, now)
            for i, (message, raw) in enumerate(batch)
        ]
        self._collect()
        self._report_in_doubt(len(batch))
        answer = self.client.send_message_batch(QueueUrl=url, Entries=entries)
        sent = {entry["Id"] for entry in answer.get("Successful") or []}
        for i, (message, _) in enumerate(batch):
            if str(i) not in sent:
                p.missing += 1
                self.held.append(message["ReceiptHandle"])
        self._delete([m for i, (m, _) in enumerate(batch) if str(i) in sent], after_send=True)

    def _delete(self, messages: list[dict[str, Any]], after_send: bool) -> None:
        """Delete by receipt handle, counted when SQS answers (:meth:`_collect`). From a standard
        queue the call runs in the background, overlapping the next receive; one at a time."""
        self._collect()
        if not messages:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        call = partial(self.client.delete_message_batch, QueueUrl=self.source_url, Entries=entries)
        if self.deleter is None:
            self._count_deleted(call(), len(messages), after_send)
        else:
            self.deleting_now = RunningDelete(self.deleter.submit(call), len(messages), after_send, self.received_at)

    def _collect(self) -> None:
        """Wait for the delete still running, if any, and count it. Its error is raised here."""
        if self.deleting_now is None:
            return
        running, self.deleting_now = self.deleting_now, None
        self._count_deleted(running.future.result(), running.count, running.after_send)

    def _count_deleted(self, answer: dict[str, Any], count: int, after_send: bool) -> None:
        """A failed delete after a send leaves a copy in both queues (counted as duplicated); a
        failed delete of a message to delete leaves it where it is (missing: it was not taken)."""
        failed = len(answer.get("Failed") or [])
        if after_send:
            self.progress.duplicated += failed
            self.progress.moved += count
        else:
            self.progress.missing += failed
            self.progress.moved += count - failed

    def _purge(self) -> MoveProgress:
        """PurgeQueue: every message goes (those in flight too), counted as the ``budget`` present
        at confirmation. SQS allows one purge per queue every 60 s."""
        p = self.progress
        try:
            self.client.purge_queue(QueueUrl=self.source_url)
        except ClientError as exc:
            if is_purge_in_progress(exc):
                raise BrokerError(
                    f"SQS refused to purge {self.plan.source!r}: it allows one PurgeQueue per queue every "
                    "60 seconds and one started less than 60 seconds ago; retry in a minute",
                    permanent=True,
                ) from None
            raise
        p.scanned = p.moved = self.plan.budget
        p.finished = True
        return p

    # -- the end -------------------------------------------------------------------------------

    def settle(self) -> MoveProgress | None:
        """Finish the delete still running, if any, before the runner stops between steps."""
        if self.deleting_now is None:
            return None
        try:
            self._collect()
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("move", exc, self.plan.source) from None
        self._report_in_doubt(0)
        return self.progress

    def close(self) -> None:
        """Wait for a delete still running (after a failed run its batch stays reported in doubt),
        then make every held (unselected) message visible again at once."""
        if self.deleter is not None:
            self.deleter.shutdown(wait=True)
        held, self.held = self.held, []
        self.broker.make_visible(self.plan.source, held)

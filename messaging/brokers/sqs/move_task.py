"""SQS's own redrive (StartMessageMoveTask), the fast path of "requeue all to where they came
from", used where the endpoint offers it (AWS does; moto 5.2 answers 500): detected at run time by
trying, never assumed. Where it is refused the caller falls back to ``move_session.py``.

Guarantees are SQS's: messages go back to the queues they were dead-lettered from, no message is
lost, and SQS moves every message the DLQ holds while the task runs (not only those counted at
confirmation); provenance headers are not added (SQS moves messages unchanged). Progress is
``ApproximateNumberOfMessagesMoved``; a cancelled action cancels the task.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.brokers.base import BrokerError
from messaging.brokers.moves import MovePlan, MoveProgress, MoveSession
from messaging.brokers.sqs.client import broker_error, error_code

if TYPE_CHECKING:
    from messaging.brokers.sqs.broker import SQSBroker

#: How long an endpoint that refused a move task is not asked again.
REFUSED_TTL_S = 600.0
POLL_S = 1.0
UNKNOWN_OPERATION_CODES = frozenset({"UnsupportedOperation", "InvalidAction", "UnknownOperationException"})
_refused: dict[str, float] = {}
_refused_lock = threading.Lock()


def wanted(plan: MovePlan) -> bool:
    """The plan is "requeue everything to its origin": what SQS's own redrive does. SQS's task
    cannot leave poison behind, so it is not asked while the plan must (``poison_deaths``)."""
    bulk = plan.bulk
    return bool(
        bulk is not None
        and bulk.by_origin
        and not bulk.poison_deaths
        and not plan.dry_run
        and not plan.deleting
        and not plan.purge
    )


def start(broker: SQSBroker, plan: MovePlan) -> MoveSession | None:
    """A session running SQS's move task for ``plan``, or None when the endpoint does not offer
    one (refused, unsupported, an internal error): the caller then moves messages itself."""
    endpoint = broker.settings.endpoint_url or broker.settings.region
    with _refused_lock:
        if time.monotonic() - _refused.get(endpoint, -REFUSED_TTL_S) < REFUSED_TTL_S:
            return None
    arn = broker.attributes_of(plan.source).get("QueueArn")
    if not arn:
        return None
    try:
        handle = broker.client.start_message_move_task(SourceArn=arn)["TaskHandle"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        if _endpoint_lacks_it(exc):
            with _refused_lock:
                _refused[endpoint] = time.monotonic()
        return None
    return SQSMoveTaskSession(broker, plan, arn, handle)


def _endpoint_lacks_it(exc: BaseException) -> bool:
    """The endpoint has no move tasks at all (an internal error, an unknown operation), as opposed
    to refusing this queue (not a DLQ, no permission): only the former is remembered."""
    if not isinstance(exc, ClientError):
        return isinstance(exc, BotoCoreError)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return (isinstance(status, int) and status >= 500) or error_code(exc) in UNKNOWN_OPERATION_CODES


class SQSMoveTaskSession(MoveSession):
    def __init__(self, broker: SQSBroker, plan: MovePlan, arn: str, handle: str) -> None:
        self.broker, self.plan, self.arn, self.handle = broker, plan, arn, handle
        earlier = plan.resume_from or MoveProgress()
        self.base = earlier.moved
        self.progress = MoveProgress(scanned=earlier.moved, moved=earlier.moved, missing=earlier.missing)
        self.done = False

    def step(self, batch_size: int) -> MoveProgress:
        task = self._task()
        moved = int(task.get("ApproximateNumberOfMessagesMoved") or 0)
        self.progress.moved = self.progress.scanned = self.base + moved
        status = task.get("Status")
        if status == "FAILED":
            raise BrokerError(f"SQS's move task failed: {task.get('FailureReason') or 'no reason given'}")
        if status in ("COMPLETED", "CANCELLED"):
            self.done = self.progress.finished = True
        else:
            time.sleep(POLL_S)
        return self.progress

    def _task(self) -> dict[str, Any]:
        try:
            tasks = self.broker.client.list_message_move_tasks(SourceArn=self.arn, MaxResults=10).get("Results") or []
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("list message move tasks", exc, self.plan.source) from None
        return next((t for t in tasks if t.get("TaskHandle") == self.handle), tasks[0] if tasks else {})

    def close(self) -> None:
        """A task still running when the action stops (cancelled, interrupted) is cancelled."""
        if self.done:
            return
        try:
            self.broker.client.cancel_message_move_task(TaskHandle=self.handle)
        except (ClientError, BotoCoreError):
            pass

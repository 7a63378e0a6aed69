"""Amazon SQS adapter: queues of one account and region, their dead-letter queues, browsing by
receive-and-release, and moves by send-then-delete.

Configuration (``[brokers.NAME]``): ``url = "sqs://"``, ``region``, optional ``endpoint_url``
(LocalStack, ElasticMQ, moto) and ``queue_name_prefix`` (only queues whose names start with it
are listed, as in Kombu's SQS transport); see ``client.settings_for``. Credentials: the standard
AWS chain only.

Guarantees:
- :meth:`sample`, :meth:`ping`, :meth:`count` and :meth:`browse_effects` only read.
- :meth:`peek` is NOT free: SQS has no browse; see its docstring.
- moves, deletes and purges: ``move_session.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.brokers.base import (
    Broker,
    BrokerConfig,
    BrokerSample,
    BrowseEffects,
    QueueNotFound,
    RawMessage,
)
from messaging.brokers.capabilities import REDELIVER_AFTER_VISIBILITY_TIMEOUT, Capabilities
from messaging.brokers.moves import MovePlan, MoveSession
from messaging.brokers.sqs import move_task
from messaging.brokers.sqs.client import broker_error, is_missing, queue_name_of_arn, settings_for, shared_client
from messaging.brokers.sqs.messages import raw_message
from messaging.brokers.sqs.move_session import BATCH, STEP, SQSMoveSession
from messaging.brokers.sqs.sampling import attributes, max_receive_count, redrive_policy, take_sample

#: How long a browse holds the messages it shows before making them visible again at once: the
#: most they stay hidden from consumers if the console dies in between.
BROWSE_VISIBILITY_S = 30
BROWSE_WINDOW = 100
BROWSE_CHANGES = (
    "receives each message up to the last one shown and makes it visible again at once: consumers "
    "cannot receive them for that moment",
    "adds 1 to each one's ApproximateReceiveCount",
    "shows them in the order SQS hands them out (a standard queue keeps no order; a FIFO queue "
    "shows at most the next messages of each message group)",
)


class SQSBroker(Broker):
    """One SQS account and region (or an endpoint that speaks its API)."""

    transport = "sqs"
    capabilities = Capabilities(
        browse_consumes=True,
        max_browse_window=BROWSE_WINDOW,
        redelivery=REDELIVER_AFTER_VISIBILITY_TIMEOUT,
        move_batch_size=STEP,
        # Send, then delete by receipt handle: a crash between them leaves one batch in both queues.
        move_duplicate_bound=BATCH,
        deletes_messages=True,
        purges=True,
        purge_interval_s=60.0,
        # Kombu's SQS transport has no broadcast: Celery workers on it send no events and take no
        # remote control.
        worker_events=False,
    )

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self.settings = settings_for(config)
        self.client = shared_client(self.settings)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- queue addresses -----------------------------------------------------------------------

    def _remember(self, name: str, url: str) -> None:
        with self._lock:
            self._urls[name] = url

    def find_queue_url(self, name: str) -> str | None:
        """The queue's URL, or None when it does not exist. Raises BrokerError."""
        with self._lock:
            known = self._urls.get(name)
        if known:
            return known
        try:
            url = self.client.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise broker_error("get queue url", exc) from None
        except BotoCoreError as exc:
            raise broker_error("get queue url", exc) from None
        self._remember(name, url)
        return url

    def queue_url(self, name: str) -> str:
        url = self.find_queue_url(name)
        if url is None:
            raise QueueNotFound(name)
        return url

    def attributes_of(self, name: str) -> dict[str, str]:
        """All attributes of the queue. Raises :class:`QueueNotFound`, BrokerError."""
        try:
            found = attributes(self.client, self.queue_url(name))
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("get queue attributes", exc, name) from None
        if found is None:
            with self._lock:
                self._urls.pop(name, None)
            raise QueueNotFound(name)
        return found

    def create_queue(self, name: str, fifo: bool) -> str:
        try:
            url = self.client.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("create queue", exc) from None
        self._remember(name, url)
        return url

    def make_visible(self, name: str, receipt_handles: list[str]) -> None:
        """Visibility 0 for each handle at once (ten per call). Best effort: a handle that failed
        comes back by itself when its visibility timeout ends."""
        if not receipt_handles:
            return
        url = self.find_queue_url(name)
        for start in range(0, len(receipt_handles), BATCH):
            chunk = receipt_handles[start : start + BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)]
            try:
                self.client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            except (ClientError, BotoCoreError):
                continue

    # -- interface -----------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self.client.list_queues(MaxResults=1, **self._prefix())
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("ping", exc) from None

    def _prefix(self) -> dict[str, str]:
        prefix = self.settings.queue_name_prefix
        return {"QueueNamePrefix": prefix} if prefix else {}

    def sample(self, known_queues: Iterable[str] = (), watched_queues: Iterable[str] = ()) -> BrokerSample:
        """Every queue under the prefix, plus configured, known and watched ones that still exist
        (see ``sampling.py`` for the figures). Raises BrokerError when SQS cannot be reached."""
        prefix = self.settings.queue_name_prefix
        wanted = list(dict.fromkeys([*self.config.queues, *known_queues, *watched_queues]))
        with self._lock:
            extra = [self._urls[name] for name in wanted if name in self._urls]
            # Outside the prefix the listing cannot find them: their URLs are asked for once.
            unknown = [name for name in wanted if name not in self._urls and not name.startswith(prefix)]
        extra += [url for url in (self.find_queue_url(name) for name in unknown) if url]
        return take_sample(self.client, prefix, extra, self._remember)

    def peek(self, queue: str, offset: int = 0, limit: int = 50) -> tuple[int, list[RawMessage]]:
        """Up to ``limit`` messages after ``offset``, as SQS hands them out.

        NOT free (:attr:`browse_consumes`): ``offset + limit`` messages (at most
        :attr:`max_browse_window`) are received with a visibility timeout of
        :data:`BROWSE_VISIBILITY_S` and made visible again at once (ChangeMessageVisibility 0),
        so each one's ApproximateReceiveCount goes up by one (see :meth:`browse_effects`). A
        standard queue has no order: two browses may show different messages. ``count`` is
        ApproximateNumberOfMessages before the browse. Nothing is lost or duplicated.
        Raises :class:`QueueNotFound`, ValueError beyond the window, BrokerError."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        if offset + limit > self.max_browse_window:
            raise ValueError(f"offset + limit must not exceed {self.max_browse_window}")
        count = int(self.attributes_of(queue).get("ApproximateNumberOfMessages") or 0)
        if limit == 0:
            return count, []
        url = self.queue_url(queue)
        received: list[dict[str, Any]] = []
        try:
            while len(received) < offset + limit:
                answer = self.client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(BATCH, offset + limit - len(received)),
                    VisibilityTimeout=BROWSE_VISIBILITY_S,
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                got = answer.get("Messages") or []
                if not got:
                    break
                received.extend(got)
        except (ClientError, BotoCoreError) as exc:
            raise broker_error("browse", exc, queue) from None
        finally:
            self.make_visible(queue, [m["ReceiptHandle"] for m in received])
        shown = [raw_message(m, queue, position) for position, m in enumerate(received) if position >= offset]
        return count, shown

    def browse_effects(self, queue: str) -> BrowseEffects:
        """What :meth:`peek` does to ``queue``; on a queue with a RedrivePolicy, its
        ``maxReceiveCount`` is the delivery limit: a message browsed past it goes to the DLQ at its
        next receive. Raises :class:`QueueNotFound`, BrokerError."""
        found = self.attributes_of(queue)
        queue_type = "fifo" if found.get("FifoQueue") == "true" else "standard"
        limit = max_receive_count(found)
        if limit is None:
            return BrowseEffects(changes=BROWSE_CHANGES, queue_type=queue_type)
        target = redrive_policy(found).get("deadLetterTargetArn")
        dlq = queue_name_of_arn(target) if isinstance(target, str) else "its dead-letter queue"
        counted = (
            f"this queue's RedrivePolicy moves a message received more than {limit} times to "
            f"{dlq!r}: a message browsed up to that count goes there at its next receive"
        )
        return BrowseEffects(changes=(*BROWSE_CHANGES, counted), delivery_limit=limit, queue_type=queue_type)

    # -- operator actions ----------------------------------------------------------------------

    def open_move(self, plan: MovePlan) -> MoveSession:
        """SQS's own move task for "requeue all to the origin" where the endpoint offers one
        (``move_task.py``), else messages moved here (``move_session.py``)."""
        if move_task.wanted(plan):
            session = move_task.start(self, plan)
            if session is not None:
                return session
        return SQSMoveSession(self, plan)

    def count(self, queue: str) -> int | None:
        """ApproximateNumberOfMessages (ready) now."""
        return int(self.attributes_of(queue).get("ApproximateNumberOfMessages") or 0)

    def queue_exists(self, queue: str) -> bool | None:
        return self.find_queue_url(queue) is not None

    def close(self) -> None:
        """Nothing to release: the client is the process's (``client.shared_client``)."""

"""One sample of an SQS account and region: ListQueues (paginated, by prefix), then one
GetQueueAttributes per queue on a bounded thread pool, then ListDeadLetterSourceQueues for each
queue some RedrivePolicy names, so the DLQ mapping holds both ways.

Figures: ``depth`` = ApproximateNumberOfMessages (ready), ``unacked`` =
ApproximateNumberOfMessagesNotVisible (in flight), delayed, FIFO or standard, visibility timeout,
retention and maxReceiveCount in ``arguments``. SQS does not say how old its oldest message is
(that is CloudWatch's ApproximateAgeOfOldestMessage, not read here) nor how many consumers poll:
both stay None, never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.brokers.base import BrokerSample, QueueStats
from messaging.brokers.sqs.client import broker_error, is_missing, queue_name_of, queue_name_of_arn

#: GetQueueAttributes calls in flight at once.
SAMPLE_CONCURRENCY = 16
LIST_PAGE = 1000


def list_queue_urls(client: Any, prefix: str) -> list[str]:
    """Every queue URL whose name starts with ``prefix``, all pages."""
    urls: list[str] = []
    kwargs: dict[str, Any] = {"MaxResults": LIST_PAGE}
    if prefix:
        kwargs["QueueNamePrefix"] = prefix
    while True:
        answer = client.list_queues(**kwargs)
        urls.extend(answer.get("QueueUrls") or [])
        token = answer.get("NextToken")
        if not token:
            return urls
        kwargs["NextToken"] = token


def attributes(client: Any, url: str) -> dict[str, str] | None:
    """All attributes of one queue; None when it no longer exists (deleted since the listing)."""
    try:
        return client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes") or {}
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def dead_letter_sources(client: Any, url: str) -> list[str]:
    """URLs of the queues whose RedrivePolicy sends to the queue at ``url`` (all pages)."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"QueueUrl": url, "MaxResults": LIST_PAGE}
    while True:
        answer = client.list_dead_letter_source_queues(**kwargs)
        names.extend(answer.get("queueUrls") or [])
        token = answer.get("NextToken")
        if not token:
            return names
        kwargs["NextToken"] = token


def take_sample(
    client: Any, prefix: str, extra_urls: Iterable[str], remember: Callable[[str, str], None]
) -> BrokerSample:
    """Measure every listed queue and ``extra_urls`` (known or configured ones outside the
    listing). ``remember(name, url)`` is told each queue's URL. Raises BrokerError."""
    try:
        urls = list(dict.fromkeys([*list_queue_urls(client, prefix), *extra_urls]))
        measured = _measure(client, urls)
        # Sources outside the listing (another prefix) are measured too, so their DLQ links.
        by_name = {queue_name_of(url): url for url, found in measured.items() if found is not None}
        targets = sorted({_target(found) for found in measured.values() if found} - {None})
        dlq_urls = [by_name[name] for name in targets if name in by_name]
        with ThreadPoolExecutor(max_workers=max(1, min(SAMPLE_CONCURRENCY, len(dlq_urls)))) as pool:
            sources = [u for found in pool.map(lambda url: dead_letter_sources(client, url), dlq_urls) for u in found]
        measured.update(_measure(client, [u for u in dict.fromkeys(sources) if u not in measured]))
    except (ClientError, BotoCoreError) as exc:
        raise broker_error("sample", exc) from None
    queues = []
    for url, found in measured.items():
        if found is None:
            continue
        remember(queue_name_of(url), url)
        queues.append(queue_stats(queue_name_of(url), found))
    return BrokerSample(queues=queues)


def _measure(client: Any, urls: list[str]) -> dict[str, dict[str, str] | None]:
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=min(SAMPLE_CONCURRENCY, len(urls))) as pool:
        return dict(zip(urls, pool.map(lambda url: attributes(client, url), urls)))


def _target(found: dict[str, str]) -> str | None:
    policy = redrive_policy(found)
    arn = policy.get("deadLetterTargetArn")
    return queue_name_of_arn(arn) if isinstance(arn, str) and arn else None


def redrive_policy(found: dict[str, str]) -> dict[str, Any]:
    try:
        policy = json.loads(found.get("RedrivePolicy") or "{}")
    except ValueError:
        return {}
    return policy if isinstance(policy, dict) else {}


def max_receive_count(found: dict[str, str]) -> int | None:
    value = redrive_policy(found).get("maxReceiveCount")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def queue_stats(name: str, found: dict[str, str]) -> QueueStats:
    """One queue's attributes as :class:`QueueStats`."""
    fifo = found.get("FifoQueue") == "true" or name.endswith(".fifo")
    return QueueStats(
        name=name,
        depth=_int(found.get("ApproximateNumberOfMessages")),
        unacked=_int(found.get("ApproximateNumberOfMessagesNotVisible")),
        consumers=None,
        dead_letter_queue=_target(found),
        queue_type="fifo" if fifo else "standard",
        details=details(found, fifo),
        arguments={
            "delayed": _int(found.get("ApproximateNumberOfMessagesDelayed")),
            "visibility_timeout_s": _int(found.get("VisibilityTimeout")),
            "retention_s": _int(found.get("MessageRetentionPeriod")),
            "max_receive_count": max_receive_count(found),
            "content_based_deduplication": found.get("ContentBasedDeduplication") == "true" if fifo else None,
        },
    )


#: What the queue page says where an SQS figure is unknown.
OLDEST_AGE_UNKNOWN = (
    "unknown: SQS reports it only as a CloudWatch metric (ApproximateAgeOfOldestMessage), which "
    "Switchyard does not read"
)


def details(found: dict[str, str], fifo: bool) -> dict[str, Any]:
    """The queue page's facts about one queue, in the operator's words."""
    limit = max_receive_count(found)
    target = redrive_policy(found).get("deadLetterTargetArn")
    facts: dict[str, Any] = {
        "type": "FIFO" if fifo else "standard",
        "delayed messages": _int(found.get("ApproximateNumberOfMessagesDelayed")),
        "visibility timeout": _seconds(found.get("VisibilityTimeout")),
        "retention": _seconds(found.get("MessageRetentionPeriod")),
        "delivery delay": _seconds(found.get("DelaySeconds")),
        "maxReceiveCount": limit if limit is not None else "no RedrivePolicy",
        "dead-letter queue": queue_name_of_arn(target) if isinstance(target, str) and target else None,
        "oldest message age": OLDEST_AGE_UNKNOWN,
        "counts": "approximate (SQS's ApproximateNumberOf... attributes)",
    }
    if fifo:
        facts["content-based deduplication"] = "on" if found.get("ContentBasedDeduplication") == "true" else "off"
    return facts


def _seconds(value: Any) -> str | None:
    seconds = _int(value)
    if seconds is None:
        return None
    if seconds >= 86400 and seconds % 3600 == 0:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h".replace(" 0 h", "")
    return f"{seconds} s"


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None

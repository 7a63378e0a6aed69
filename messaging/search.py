"""Searching a queue (a DLQ, mostly) by any decoded field, server-side, with a bounded scan.

The filter is the actions' (:mod:`messaging.actions.selection`): what a search finds, a requeue,
move, delete or export given the same filter takes. :func:`scan` reads the queue from the oldest
end through the adapter's :meth:`~messaging.brokers.base.Broker.peek`, never consuming for good:

- where reading is free (``browse_consumes`` False: Redis), in pages of :data:`PAGE` messages, at
  most ``limit`` in all; a consumer taking messages meanwhile shifts the pages, so a few messages
  may be skipped (never shown twice in one page, never changed);
- where reading takes and requeues (RabbitMQ), in one requeue-safe peek of at most the adapter's
  ``max_browse_window`` messages, exactly like a browse: the operator's consent, the quorum
  delivery-limit rule and the browse audit apply (:mod:`messaging.browsing`).

:class:`ScanReport` says what was looked at ("scanned N of M") and why a scan stopped short.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

from messaging import audit, browsing, decoding
from messaging.actions.selection import selector_for
from messaging.brokers.base import Broker, RawMessage
from messaging.errors import unaddressable
from messaging.models import Queue
from messaging.process_config import broker_named

#: Messages per peek where reading is free.
PAGE = 500
#: Default and most messages one search scans.
DEFAULT_SCAN = 10_000
MAX_SCAN = 100_000


@dataclass
class ScanReport:
    """What a scan looked at: ``scanned`` of ``total`` (the queue's count at the first read),
    ``matched``; ``truncated`` with the ``reason`` when it stopped before the queue's end;
    ``consumed`` when reading took and requeued messages (``taken_and_requeued`` of them)."""

    scanned: int = 0
    total: int | None = None
    matched: int = 0
    truncated: bool = False
    reason: str = ""
    consumed: bool = False
    taken_and_requeued: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "said": self.said()}

    def said(self) -> str:
        text = f"scanned {self.scanned} of {self.total if self.total is not None else '?'}, {self.matched} matched"
        return f"{text} ({self.reason})" if self.truncated and self.reason else text


class _Open:
    """The broker of a queue, opened for a scan; refused (409) when it cannot reach the queue."""

    def __init__(self, queue: Queue) -> None:
        self.broker: Broker = broker_named(queue.broker)
        reason = unaddressable(self.broker, queue)
        if reason:
            self.broker.close()
            raise browsing.BrowseRefused(reason, 409)

    def __enter__(self) -> Broker:
        return self.broker

    def __exit__(self, *exc_info: object) -> None:
        self.broker.close()


def scan(
    queue: Queue,
    limit: int,
    report: ScanReport,
    *,
    user: Any = None,
    accept_delivery_limit_risk: bool = False,
) -> Iterator[RawMessage]:
    """The messages of ``queue`` from the oldest end, at most ``limit`` (see the module docstring);
    ``report`` is filled as they come. The caller has checked the role (operators where reading
    consumes). Raises :class:`~messaging.browsing.BrowseRefused` and BrokerError before the
    first message."""
    if browsing.browse_consumes(queue):
        yield from _scan_consuming(queue, limit, report, user, accept_delivery_limit_risk)
        return
    with _Open(queue) as broker:
        offset = 0
        while offset < limit:
            want = min(PAGE, limit - offset)
            count, page = broker.peek(queue.name, offset=offset, limit=want)
            if report.total is None:
                report.total = count
            for raw in page:
                report.scanned += 1
                yield raw
            offset += len(page)
            if len(page) < want:
                break
    if report.total is not None and report.scanned < report.total:
        report.truncated = True
        report.reason = f"stopped after {limit} messages"


def _scan_consuming(queue: Queue, limit: int, report: ScanReport, user: Any, accept_risk: bool) -> Iterator[RawMessage]:
    window = browsing.browse_window(queue)
    take = min(limit, window)
    with ExitStack() as stack:
        stack.enter_context(browsing.one_browse_per_user(user))
        broker = stack.enter_context(_Open(queue))
        effects = broker.browse_effects(queue.name)
        if effects.delivery_limit is not None and not accept_risk:
            raise browsing.BrowseRefused(
                f"reading this quorum queue takes and requeues each message, and it drops or "
                f"dead-letters a message returned more than {effects.delivery_limit} times: confirm "
                "that risk (accept_delivery_limit_risk) to read anyway",
                409,
                code="delivery_limit_risk",
            )
        count, raws = broker.peek(queue.name, offset=0, limit=take)
    report.total, report.consumed, report.taken_and_requeued = count, True, len(raws)
    audit.record(
        user,
        "browse",
        broker=queue.broker,
        queue=queue.name,
        params={"search_or_export": True, "taken_and_requeued": len(raws)},
        outcome=f"took and requeued {len(raws)} message(s), now marked redelivered",
    )
    if count > len(raws):
        report.truncated = True
        report.reason = (
            f"reading this broker takes and requeues messages: at most {take} from the head "
            f"(browse window {window}) are read"
        )
    for raw in raws:
        report.scanned += 1
        yield raw


def search(
    queue: Queue,
    selection: dict[str, Any],
    limit: int,
    reads_bodies: bool,
    *,
    user: Any = None,
    accept_delivery_limit_risk: bool = False,
) -> Iterator[dict[str, Any]]:
    """The matching messages, decoded as the role may see them (``{"message": {...}}`` each, as
    found), then one ``{"summary": ScanReport}``. ``selection``: a checked selection
    (:func:`~messaging.actions.selection.parse_selection`). The first ``next()`` raises what
    :func:`scan` raises."""
    report = ScanReport()
    matches = selector_for(selection)
    for raw in scan(queue, limit, report, user=user, accept_delivery_limit_risk=accept_delivery_limit_risk):
        if matches(raw):
            report.matched += 1
            yield {"message": decoding.decode(raw).for_role(reads_bodies).as_dict()}
    yield {"summary": report.as_dict()}

"""What one broker sample says about each queue, for :mod:`messaging.sample_recorder`: which
queues are stored and under which names, the row's figures from the lag history, when a history
point is written, and which queues are dead-letter queues of which. No database access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.brokers.dlq import resolve_by_vhost
from messaging.lag import LagFigures, QueueHistory
from messaging.models import Queue
from messaging.queue_names import QueueRole, queue_role, storable_name

# A raw history point is written when a figure changed, else only this rarely (a keep-alive, so a
# quiet queue's latest point is never older than the raw window): the history queries carry the
# last point forward (messaging.history.chart_points), so an unchanged queue costs no row per round.
HISTORY_KEEPALIVE_S = 3600.0


MEASURED_FIELDS = ("depth", "unacked", "consumers", "publish_rate", "consume_rate", "oldest_age_s", "time_to_drain_s")


def forget_figures(queue: Queue) -> None:
    """What was measured is no longer known (broker down, queue gone): null, never zero."""
    for name in MEASURED_FIELDS:
        setattr(queue, name, None)
    queue.trend = ""
    queue.oldest_age_exact = False
    queue.status = ""
    queue.partitions = None


def storable_queues(sample: BrokerSample) -> tuple[set[tuple[str, str]], set[tuple[str, str]], str | None]:
    """Prepare ``sample.queues`` for storing, in place: drop Switchyard's own and transient
    queues, escape names a database cannot hold (dropping one that then collides with another).
    Returns the (vhost, name) keys of system queues, those of escaped names, and the broker's
    warning."""
    kept: list[QueueStats] = []
    keys: set[tuple[str, str]] = set()
    system: set[tuple[str, str]] = set()
    escaped = collided = 0
    escaped_keys: set[tuple[str, str]] = set()
    for stats in sample.queues:
        role = queue_role(stats.name)
        if role in (QueueRole.OWN, QueueRole.TRANSIENT):
            continue
        name, was_escaped = storable_name(stats.name)
        if was_escaped:
            escaped += 1
            stats.name = name
        key = (stats.vhost, name)
        if key in keys:
            collided += 1
            continue
        keys.add(key)
        if was_escaped:
            escaped_keys.add(key)
        if role is QueueRole.SYSTEM:
            system.add(key)
        kept.append(stats)
    sample.queues = kept
    notes = [sample.warning] if sample.warning else []
    if escaped:
        notes.append(
            f"{escaped} queue name(s) cannot be stored as they are (not UTF-8, NUL or too long): shown escaped"
        )
    if collided:
        notes.append(f"{collided} queue(s) skipped: the escaped name is another queue's")
    return system, escaped_keys, "; ".join(notes) or None


def history_from_row(queue: Queue, now_epoch: float) -> QueueHistory:
    """The lag memory a monitor starts with for a queue another monitor (or this process before a
    restart) sampled: the head message and since when it was seen there, so the lower bound of
    ``oldest_age_s`` carries on across a failover or restart instead of dropping to zero (which
    would also resolve "oldest message too old" alerts). An unchanged head digest means the same
    message: Redis digests the whole value, delivery tag included. Rates are not seeded: the
    consumed counts they need start with this process."""
    history = QueueHistory()
    if queue.head_digest and queue.head_first_seen_at is not None and queue.head_first_seen_at <= now_epoch:
        history.head_digest = queue.head_digest
        history.head_first_seen_at = queue.head_first_seen_at
    return history


def apply_figures(queue: Queue, stats: QueueStats, consumers: int | None, figures: LagFigures, now: datetime) -> None:
    queue.depth = stats.depth
    queue.unacked = stats.unacked
    queue.consumers = consumers
    queue.publish_rate = round_figure(figures.publish_rate)
    queue.consume_rate = round_figure(figures.consume_rate)
    queue.oldest_age_s = round_figure(figures.oldest_age_s)
    queue.oldest_age_exact = figures.oldest_age_exact
    queue.time_to_drain_s = round_figure(figures.time_to_drain_s)
    queue.trend = figures.trend
    queue.sampled_at = now
    queue.present = True
    queue.last_seen_at = now
    queue.queue_type = stats.queue_type or ""
    queue.details = stats.details or None


def round_figure(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class HistoryPoint(NamedTuple):
    """A raw history point to store (a ``QueueSample`` row with ``span_s`` 0), in column order."""

    queue_id: int
    at: datetime
    depth: int | None
    depth_max: int | None
    unacked: int | None
    consumers: int | None
    publish_rate: float | None
    consume_rate: float | None
    oldest_age_s: float | None


def history_row(last_written: dict[int, tuple[float, tuple]], queue: Queue, now_epoch: float) -> HistoryPoint | None:
    """A history point for ``queue`` when a figure changed since the last one written (``last_written``:
    queue id -> (epoch, figures), updated here), or at least every HISTORY_KEEPALIVE_S; else None."""
    figures = (queue.depth, queue.unacked, queue.consumers)
    last = last_written.get(queue.id)
    if last is not None and last[1] == figures and now_epoch - last[0] < HISTORY_KEEPALIVE_S:
        return None
    last_written[queue.id] = (now_epoch, figures)
    return HistoryPoint(
        queue.id,
        datetime.fromtimestamp(now_epoch, tz=UTC),
        queue.depth,
        queue.depth,
        queue.unacked,
        queue.consumers,
        queue.publish_rate,
        queue.consume_rate,
        queue.oldest_age_s,
    )


DLQ_SUFFIXES = (".dlq", ".dead", "_dlq")


def is_dlq_by_name(name: str) -> bool:
    return name.endswith(DLQ_SUFFIXES) or name.startswith("dlq.")


def dead_letter_map(config: BrokerConfig, sample: BrokerSample) -> dict[tuple[str, str], str]:
    """(vhost, source queue) -> DLQ name."""
    return {
        (vhost, source): dlq
        for vhost, mapping in resolve_by_vhost(sample, config.dead_letter_queues).items()
        for source, dlq in mapping.items()
    }

"""Turning one broker sample into database rows and stream events.

Called by the monitor once per broker per round, in a worker thread. Keeps the broker's queue rows
in memory between rounds so a round over 1,000 queues costs a few bulk statements, not 1,000.
What one sample says about one queue (figures, history points, dead-letter links, storable
names) is :mod:`messaging.queue_sampling`'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.brokers.registry import transport_name
from messaging.brokers.urls import redact_url
from messaging.figure_writes import store_changed_figures, store_history_points
from messaging.lag import Observation, QueueHistory, observe
from messaging.models import BrokerState, Queue
from messaging.queue_names import storable_name
from messaging.queue_sampling import (
    HistoryPoint,
    apply_figures,
    dead_letter_map,
    forget_figures,
    history_from_row,
    history_row,
    is_dlq_by_name,
    storable_queues,
)
from messaging.queue_shape import queue_fields
from messaging.stream import make_event


@dataclass
class BrokerMemory:
    """What the monitor keeps about one broker's queues between rounds (bounded by queue count)."""

    queues: dict[tuple[str, str], Queue] = field(default_factory=dict)
    histories: dict[tuple[str, str], QueueHistory] = field(default_factory=dict)
    last_written: dict[int, tuple[float, tuple]] = field(default_factory=dict)
    last_stored: dict[int, tuple] = field(default_factory=dict)
    #: Each queue's ``queue.sample`` event as last built: an unchanged queue's next one is a copy
    #: with the new sample time (see :func:`current_events`).
    last_events: dict[int, dict[str, Any]] = field(default_factory=dict)
    loaded: bool = False

    def known_queue_names(self) -> list[str]:
        return [name for (_vhost, name) in self.queues]

    def forget_writes(self) -> None:
        """A round's transaction rolled back (database locked, connection lost): what this memory
        believes is stored may not be (rows it created, figures and history it marked written).
        Reload the rows next round and write every figure again. The lag histories (keyed by
        queue name, fed by the broker, not the database) are kept, so rates survive."""
        self.queues.clear()
        self.last_written.clear()
        self.last_stored.clear()
        self.last_events.clear()
        self.loaded = False


def queue_event(queue: Queue, broker_status: str = "up") -> dict[str, Any]:
    """The ``queue.sample`` event of ``queue``: :func:`messaging.queue_shape.queue_fields`, the
    DLQ's id, the broker's status and the sample time in epoch seconds."""
    return make_event(
        "queues",
        "queue.sample",
        {
            **queue_fields(queue),
            "dlq_id": str(queue.dlq_id) if queue.dlq_id else None,
            "broker_status": broker_status,
            "sampled_at": queue.sampled_at.timestamp() if queue.sampled_at else None,
        },
        key=f"queue:{queue.pk}",
    )


def broker_event(state: BrokerState) -> dict[str, Any]:
    return make_event(
        "queues",
        "broker.status",
        {
            "name": state.name,
            "transport": state.transport,
            "status": state.status,
            "error": state.error or None,
            "warning": state.warning or None,
            "checked_at": state.checked_at.timestamp() if state.checked_at else None,
        },
        key=f"broker:{state.name}",
    )


def load_memory(memory: BrokerMemory, broker: str) -> None:
    if memory.loaded:
        return
    for queue in Queue.objects.filter(broker=broker).select_related("dlq"):
        memory.queues[(queue.vhost, queue.name)] = queue
    memory.loaded = True


def watched_queue_names(broker: str) -> list[str]:
    """Queues the monitor samples even when discovery cannot find them (move targets)."""
    return list(Queue.objects.filter(broker=broker, watched=True).values_list("name", flat=True))


def watch_queue(broker: str, vhost: str, name: str) -> None:
    """Watch this queue from now on (persisted): Switchyard is about to write to it. A row made
    here reads absent until the monitor has sampled it."""
    name, _ = storable_name(name)
    queue, created = Queue.objects.get_or_create(
        broker=broker, vhost=vhost, name=name, defaults={"watched": True, "present": False}
    )
    if not created and not queue.watched:
        Queue.objects.filter(pk=queue.pk).update(watched=True)


def record_broker_state(
    config: BrokerConfig,
    *,
    error: str | None,
    warning: str | None,
    duration_s: float | None,
    round_error: str = "",
) -> BrokerState:
    """Store the broker's state after a round. ``round_error`` says the round failed inside
    Switchyard (the figures could not be stored), which the health endpoint reports."""
    now = timezone.now()
    status = BrokerState.DOWN if error else BrokerState.UP
    state, _ = BrokerState.objects.get_or_create(
        name=config.name,
        defaults={
            "transport": transport_name(config.scheme),
            "redacted_url": redact_url(config.url),
            "status_since": now,
        },
    )
    if state.status != status:
        state.status_since = now
    state.status = status
    state.transport = transport_name(config.scheme)
    state.redacted_url = redact_url(config.url)
    state.error = error or ""
    state.warning = warning or ""
    state.checked_at = now
    if not error:
        state.last_sampled_at = now
    state.sample_duration_s = duration_s
    state.configured = True
    state.round_error = round_error
    state.save()
    return state


def record_down(
    config: BrokerConfig,
    memory: BrokerMemory,
    error: str,
    vhost: str = "",
    round_failed: bool = False,
) -> list[dict[str, Any]]:
    """The broker could not be sampled (or, with ``round_failed``, its sample could not be
    stored): every figure becomes unknown (null), history keeps its gap. Configured queues are
    listed even if the broker never answered (rows made in ``vhost``), their figures null."""
    with transaction.atomic():
        state = record_broker_state(
            config, error=error, warning=None, duration_s=None, round_error=error if round_failed else ""
        )
        load_memory(memory, config.name)
        _ensure_configured_rows(config, memory, vhost)
        changed = []
        for queue in memory.queues.values():
            if queue.depth is None and queue.unacked is None and queue.trend == "":
                continue
            forget_figures(queue)
            changed.append(queue)
        store_changed_figures(memory.last_stored, changed)
    return [broker_event(state)] + [queue_event(q, "down") for q in changed]


def _ensure_configured_rows(config: BrokerConfig, memory: BrokerMemory, vhost: str) -> None:
    names = {storable_name(name)[0] for name in config.queues}
    remembered = {name for (_vhost, name) in memory.queues}
    missing = sorted(names - remembered)
    if not missing:
        return
    Queue.objects.bulk_create(
        [Queue(broker=config.name, vhost=vhost, name=name) for name in missing], ignore_conflicts=True
    )
    for queue in Queue.objects.filter(broker=config.name, vhost=vhost, name__in=missing):
        memory.queues.setdefault((queue.vhost, queue.name), queue)


@dataclass
class SampleOutcome:
    """``published``: what browsers need (the broker's state and the queues whose figures changed);
    ``all_events``: every queue's current figures, for listeners that judge state over time."""

    published: list[dict[str, Any]]
    all_events: list[dict[str, Any]]


def record_sample(
    config: BrokerConfig,
    memory: BrokerMemory,
    sample: BrokerSample,
    duration_s: float,
    consumed_counts: dict[str, int] | None = None,
    consumer_counts: dict[str, int] | None = None,
    taken_at: float | None = None,
) -> SampleOutcome:
    """Store one successful sample; returns the events to publish and every queue's figures.
    ``taken_at`` (epoch seconds) is when the broker was asked, which stamps the figures, their
    history point and rates; not when the round got to the database, which waits behind other
    writes: under load, history points stamped at write time came closer than one interval apart.

    Switchyard's own plumbing and inspection reply queues get no row; other clients' Celery
    plumbing is stored as system queues, and its row deleted once the broker no longer has it
    (auto-deleted). A name no database can hold is stored escaped (:func:`storable_name`) and
    counted in the broker's warning: one odd name never fails the round."""
    now = timezone.now() if taken_at is None else datetime.fromtimestamp(taken_at, tz=UTC)
    now_epoch = now.timestamp()
    system_names, escaped_names, warning = storable_queues(sample)
    with transaction.atomic():
        state = record_broker_state(config, error=None, warning=warning, duration_s=duration_s)
        load_memory(memory, config.name)
        _add_new_rows(config, memory, sample, (system_names, escaped_names), now)
        dlq_of = dead_letter_map(config, sample)
        dlq_names = {(vhost, dlq) for (vhost, _source), dlq in dlq_of.items()}
        updated: list[Queue] = []
        history_rows: list[HistoryPoint] = []
        for stats in sample.queues:
            queue = memory.queues[(stats.vhost, stats.name)]
            # Known before the figures: a dead-letter queue's trend is read differently.
            queue.is_dlq = (stats.vhost, stats.name) in dlq_names or is_dlq_by_name(stats.name)
            _observe(memory, queue, stats, now, consumed_counts, consumer_counts)
            dlq_name = dlq_of.get((stats.vhost, stats.name))
            dlq = memory.queues.get((stats.vhost, dlq_name)) if dlq_name else None
            if (dlq.id if dlq is not None else None) != queue.dlq_id:
                queue.dlq = dlq  # Django's descriptor costs ~10 us a call: 10,000 queues a round
            updated.append(queue)
            row = history_row(memory.last_written, queue, now_epoch)
            if row is not None:
                history_rows.append(row)
        updated += _retire_unseen(memory, {(stats.vhost, stats.name) for stats in sample.queues})
        changed = store_changed_figures(memory.last_stored, updated)
        store_history_points(history_rows)
    changed_ids = {q.id for q in changed}
    events = current_events(memory.last_events, updated, changed_ids)
    published = [broker_event(state)] + [e for e, q in zip(events, updated) if q.id in changed_ids]
    return SampleOutcome(published=published, all_events=[published[0]] + events)


def current_events(
    last_events: dict[int, dict[str, Any]], queues: list[Queue], changed_ids: set[int]
) -> list[dict[str, Any]]:
    """Every queue's ``queue.sample`` event after a round (``last_events`` updated). A queue whose
    stored figures did not change gets a copy of its last event with its sample time and a new
    ``ts``: the other fields follow from its stored figures and identity, and building 10,000
    events afresh was a large part of a round in which nothing changed."""
    events = []
    for queue in queues:
        last = last_events.get(queue.id)
        if last is None or queue.id in changed_ids:
            event = last_events[queue.id] = queue_event(queue)
        else:
            sampled_at = queue.sampled_at.timestamp() if queue.sampled_at else None
            event = last_events[queue.id] = {
                **last,
                "data": {**last["data"], "sampled_at": sampled_at},
                "ts": time.time(),
            }
        events.append(event)
    return events


def _add_new_rows(
    config: BrokerConfig,
    memory: BrokerMemory,
    sample: BrokerSample,
    marked: tuple[set[tuple[str, str]], set[tuple[str, str]]],
    now: datetime,
) -> None:
    """Create the rows of queues seen for the first time (in one statement) and remember them.
    ``marked``: the (vhost, name) keys of system queues and of escaped names."""
    system_names, escaped_names = marked
    new_rows = [
        Queue(
            broker=config.name,
            vhost=stats.vhost,
            name=stats.name,
            last_seen_at=now,
            is_system=(stats.vhost, stats.name) in system_names or stats.system,
            name_escaped=(stats.vhost, stats.name) in escaped_names,
            kind=stats.kind,
            topic=stats.topic or "",
            group=stats.group or "",
        )
        for stats in sample.queues
        if (stats.vhost, stats.name) not in memory.queues
    ]
    if not new_rows:
        return
    Queue.objects.bulk_create(new_rows, ignore_conflicts=True)
    keys = {(q.vhost, q.name) for q in new_rows}
    for queue in Queue.objects.filter(broker=config.name, name__in=[k[1] for k in keys]):
        memory.queues.setdefault((queue.vhost, queue.name), queue)


def _observe(
    memory: BrokerMemory,
    queue: Queue,
    stats: QueueStats,
    now: datetime,
    consumed_counts: dict[str, int] | None,
    consumer_counts: dict[str, int] | None,
) -> None:
    """Fold one queue's sample into its lag history and set the row's figures from it."""
    key = (stats.vhost, stats.name)
    now_epoch = now.timestamp()
    consumers = stats.consumers
    if consumers is None and consumer_counts is not None:
        consumers = consumer_counts.get(stats.name, 0)
    consumed = consumed_counts.get(stats.name, 0) if consumed_counts is not None else None
    history = memory.histories.get(key)
    if history is None:
        history = memory.histories[key] = history_from_row(queue, now_epoch)
    figures = observe(
        history,
        Observation(
            at=now_epoch,
            depth=stats.depth,
            unacked=stats.unacked,
            broker_publish_rate=stats.publish_rate,
            broker_consume_rate=stats.consume_rate,
            head_published_at=stats.head_published_at,
            head_digest=stats.head_digest,
            consumed_since_last=consumed,
            dead_letter=queue.is_dlq,
        ),
    )
    apply_figures(queue, stats, consumers, figures, now)
    queue.status = stats.status or ""
    queue.partitions = stats.partitions
    queue.head_digest = history.head_digest or ""
    queue.head_first_seen_at = history.head_first_seen_at


def _retire_unseen(memory: BrokerMemory, seen_keys: set[tuple[str, str]]) -> list[Queue]:
    """Queues this sample did not see: other clients' plumbing is deleted (auto-deleted queues),
    any other queue is marked absent with unknown figures. Returns the rows marked absent."""
    absent: list[Queue] = []
    vanished_plumbing = []
    for key, queue in memory.queues.items():
        if key in seen_keys:
            continue
        if queue.is_system and not queue.watched:
            vanished_plumbing.append(key)
        elif queue.present:
            queue.present = False
            forget_figures(queue)
            absent.append(queue)
            memory.histories.pop(key, None)
    if vanished_plumbing:
        Queue.objects.filter(pk__in=[memory.queues[key].pk for key in vanished_plumbing]).delete()
        for key in vanished_plumbing:
            queue = memory.queues.pop(key)
            memory.histories.pop(key, None)
            memory.last_stored.pop(queue.pk, None)
            memory.last_written.pop(queue.pk, None)
            memory.last_events.pop(queue.pk, None)
    return absent

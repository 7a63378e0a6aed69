"""Folding Celery events into task and worker state: pure functions, no I/O.

Events may come in any order (a ``task-sent`` from a client can arrive after the worker's
``task-received``), may repeat (retries reuse the task id) and may be hostile (anyone who can
publish to the event exchange can send anything). :func:`normalize` rejects what is not an event;
:func:`fold_task` and :func:`fold_worker` never raise on a normalized event.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from celery.utils.time import utcoffset

# Celery's event type -> task state (celery.events.state.TASK_EVENT_TO_STATE).
TASK_EVENT_STATES = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-retried": "RETRY",
    "task-revoked": "REVOKED",
    "task-rejected": "REJECTED",
}
WORKER_EVENTS = frozenset({"worker-online", "worker-heartbeat", "worker-offline"})
# At equal timestamps the later stage of a task's life wins.
STATE_RANK = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "RETRY": 3, "SUCCESS": 4, "FAILURE": 4, "REVOKED": 4}
STATE_RANK["REJECTED"] = 4
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})

MAX_TEXT = 64 * 1024  # args, kwargs, result, traceback are cut here (Celery itself cuts reprs at 1 KiB)
MAX_SHORT = 255
MAX_TIMELINE = 50
# An event that reaches us later than this after it was sent counts as late (clock skew included).
LATE_AFTER_S = 5.0
DEFAULT_HEARTBEAT_FREQ_S = 2.0
# A worker is offline when no event came for this many heartbeat intervals.
OFFLINE_AFTER_INTERVALS = 2.5


class MalformedEvent(ValueError):
    pass


def _number(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else (bools, strings, inf/nan, ints beyond
    a float's range)."""
    kind = type(value)
    if kind is float:
        return value if -math.inf < value < math.inf else None  # nan compares false
    if kind is bool or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def storable(value: str) -> str:
    """``value`` as every database can store it, in text and in JSON: NUL characters (PostgreSQL
    refuses them) and lone UTF-16 surrogates (which no UTF-8 encoder writes, so SQLite refuses them
    too) become U+FFFD. A publisher can put either in an event (JSON ``"\u0000"``, ``"\ud800"``);
    left in, one such field failed the writer's whole batch."""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16 with surrogatepass, pairs stay characters and lone halves become U+FFFD.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Any event field as a storable string of at most ``limit`` characters (reprs come as strings
    already)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, default=repr)
        except (TypeError, ValueError):
            value = repr(value)
    return storable(value[:limit])


def local_utcoffset() -> int:
    """This host's offset from UTC in whole hours, as Celery computes it (``utcoffset``)."""
    return utcoffset()


def normalize(body: Any, local_received: float | None = None, here: int | None = None) -> dict[str, Any]:
    """Check one event and give it a trustworthy ``timestamp`` (the sender's clock moved to ours by
    its ``utcoffset``, else the time we got it) and ``local_received``. ``here`` is this host's
    :func:`local_utcoffset` (looked up when not given: a batch looks it up once). Raises
    MalformedEvent."""
    if not isinstance(body, dict):
        raise MalformedEvent("not an object")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise MalformedEvent("no type")
    received = local_received if local_received is not None else _number(body.get("local_received")) or time.time()
    event = dict(body)
    event["local_received"] = received
    timestamp = _number(body.get("timestamp"))
    if timestamp is not None:
        offset = _number(body.get("utcoffset"))
        if offset is not None and -24 <= offset <= 24:
            # celery.utils.time.adjust_timestamp, with the local offset looked up once per batch
            timestamp -= (offset - (utcoffset() if here is None else here)) * 3600
    event["timestamp"] = timestamp if timestamp is not None and timestamp > 0 else received
    if kind[:5] == "task-":
        uuid = body.get("uuid")
        if not isinstance(uuid, str) or not uuid or len(uuid) > MAX_SHORT:
            raise MalformedEvent("task event without a task id")
        event["uuid"] = storable(uuid)
    elif kind[:7] == "worker-":
        hostname = body.get("hostname")
        if not isinstance(hostname, str) or not hostname or len(hostname) > MAX_SHORT:
            raise MalformedEvent("worker event without a hostname")
    hostname = body.get("hostname")
    if isinstance(hostname, str):
        event["hostname"] = storable(hostname)
    return event


def is_late(event: dict[str, Any]) -> bool:
    return event["local_received"] - event["timestamp"] > LATE_AFTER_S


@dataclass(slots=True)
class TaskState:
    task_id: str
    broker: str
    created_at: float
    name: str = ""
    state: str = ""
    state_at: float = 0.0
    queue: str = ""
    worker: str = ""
    args: str = ""
    kwargs: str = ""
    result: str = ""
    exception: str = ""
    traceback: str = ""
    retries: int = 0
    eta: str = ""
    expires: str = ""
    root_id: str = ""
    parent_id: str = ""
    sent_at: float | None = None
    received_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    runtime_s: float | None = None
    updated_at: float = 0.0
    last_event: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    duplicate_deliveries: int = 0
    # False while only events seen since the monitor started are folded in and the database may
    # know more (a task evicted from memory, or seen before a restart): the writer merges.
    complete: bool = False

    @property
    def wait_s(self) -> float | None:
        """Time in the queue: started minus sent, else minus received. Clients stamp ``task-sent``
        after publishing, so a task picked up at once can read as started before it was sent:
        then received is used (same host as started). Unknown for ETA/countdown tasks, which wait
        on purpose, and when clocks disagree (negative)."""
        if self.started_at is None or self.eta:
            return None
        for base in (self.sent_at, self.received_at):
            if base is not None and self.started_at >= base:
                return round(self.started_at - base, 6)
        return None


def supersedes(new: str, at: float, current: str, current_at: float) -> bool:
    """Whether a task entering state ``new`` at ``at`` replaces ``current``. Clients send
    ``task-sent`` after publishing, so it can arrive, and be stamped, after the task finished: it
    never replaces a later stage. A finished task stays finished. Otherwise the later stage wins,
    and a retried task (RETRY, then RECEIVED again) follows the clock."""
    if not current:
        return True
    if new == "PENDING":
        return current == "PENDING"
    if current in READY_STATES:
        return new in READY_STATES and at > current_at
    return STATE_RANK[new] > STATE_RANK.get(current, -1) or at > current_at


def _timeline_entry(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    get = event.get
    entry: dict[str, Any] = {"type": kind[5:], "at": event["timestamp"]}
    hostname = get("hostname")
    if isinstance(hostname, str):
        entry["hostname"] = hostname[:MAX_SHORT]
    for key in _TIMELINE_NUMBERS:
        if key in event:
            number = _number(event[key])
            if number is not None:
                entry[key] = number
    exception = get("exception")
    if exception:
        entry["exception"] = text(exception, 500)
    if kind == "task-received" and get("eta"):
        # The journey shows a retry's countdown as the eta of the delivery that follows it.
        entry["eta"] = text(get("eta"), 64)
    if kind == "task-revoked":
        entry["terminated"] = bool(get("terminated"))
        entry["expired"] = bool(get("expired"))
    return entry


_TIMELINE_NUMBERS = ("retries", "runtime", "clock")


def fold_task(state: TaskState | None, event: dict[str, Any], broker: str) -> TaskState:
    """Apply one normalized ``task-*`` event of a known type. Returns the (possibly new) state."""
    kind = event["type"]
    at = event["timestamp"]
    if state is None:
        state = TaskState(task_id=event["uuid"], broker=broker, created_at=at)
    elif at < state.created_at:
        state.created_at = at
    received = event["local_received"]
    if received > state.updated_at:
        state.updated_at = received
    new_state = TASK_EVENT_STATES[kind]
    if supersedes(new_state, at, state.state, state.state_at):
        state.state, state.state_at = new_state, at
    state.last_event = kind
    _fold_fields(state, kind, event)
    _fold_moment(state, kind, at, event)
    events = state.events
    events.append(_timeline_entry(kind, event))
    if len(events) > MAX_TIMELINE:
        events.sort(key=lambda e: e.get("at", 0))
        del events[: len(events) - MAX_TIMELINE]
    return state


def _fold_fields(state: TaskState, kind: str, event: dict[str, Any]) -> None:
    """What any task event may carry: worker, name, retries, arguments, references."""
    get = event.get
    hostname = get("hostname")
    if kind != "task-sent" and isinstance(hostname, str):
        state.worker = hostname[:MAX_SHORT]
    name = get("name")
    if name:
        state.name = text(name, MAX_SHORT)
    if "retries" in event:
        retries = _number(event["retries"])
        if retries is not None:
            state.retries = max(int(retries), 0)
    args, kwargs = get("args"), get("kwargs")
    if args is not None:
        state.args = text(args)
    if kwargs is not None:
        state.kwargs = text(kwargs)
    for key, limit in _REFERENCES:
        value = get(key)
        if value:
            setattr(state, key, text(value, limit))
    if state.parent_id == state.task_id:
        # Celery's retry re-sends the task under its own id with itself as the parent: a retry,
        # not a child of itself (the timeline shows the retries).
        state.parent_id = ""


def _fold_moment(state: TaskState, kind: str, at: float, event: dict[str, Any]) -> None:
    """What this kind of event says: when the task was sent, received, started or finished, and
    its queue, runtime, result or exception."""
    get = event.get
    if kind == "task-sent":
        state.sent_at = at
        queue = get("queue") or get("routing_key")
        if queue:
            state.queue = text(queue, MAX_SHORT)
    elif kind == "task-received":
        state.received_at = at
    elif kind == "task-started":
        state.started_at = at
    elif kind == "task-succeeded" or kind == "task-failed":
        state.finished_at = at
        runtime = _number(get("runtime"))
        if runtime is None and state.started_at is not None and at >= state.started_at:
            runtime = at - state.started_at
        state.runtime_s = round(runtime, 6) if runtime is not None and runtime >= 0 else None
        if kind == "task-succeeded":
            state.result = text(get("result"))
            state.exception = state.traceback = ""
        else:
            state.exception = text(get("exception"))
            state.traceback = text(get("traceback"))
    elif kind == "task-retried":
        state.exception = text(get("exception"))
        state.traceback = text(get("traceback"))
    elif kind == "task-revoked" or kind == "task-rejected":
        state.finished_at = at


# Fields copied as text when present, and their length limits.
_REFERENCES = (("eta", 64), ("expires", 64), ("root_id", MAX_SHORT), ("parent_id", MAX_SHORT))


def merge_stored(state: TaskState, stored: TaskState) -> TaskState:
    """Fill what ``state`` (folded from recent events only) lacks from the stored record."""
    for name in TaskState.__slots__:
        if name in ("events", "complete", "state", "state_at", "task_id", "broker"):
            continue
        mine = getattr(state, name)
        if mine in ("", None, 0) and getattr(stored, name) not in ("", None, 0):
            setattr(state, name, getattr(stored, name))
    state.created_at = min(state.created_at, stored.created_at)
    if stored.state and supersedes(stored.state, stored.state_at, state.state, state.state_at):
        state.state, state.state_at = stored.state, stored.state_at
    seen = {(e.get("type"), e.get("at")) for e in state.events}
    timeline = [e for e in stored.events if (e.get("type"), e.get("at")) not in seen] + state.events
    timeline.sort(key=lambda e: e.get("at", 0) if isinstance(e, dict) else 0)
    state.events = timeline[-MAX_TIMELINE:]
    state.complete = True
    return state


@dataclass(slots=True)
class WorkerState:
    hostname: str
    broker: str
    status: str = "online"
    status_since: float = 0.0
    last_heartbeat: float | None = None
    last_seen_local: float = 0.0
    freq: float = DEFAULT_HEARTBEAT_FREQ_S
    pid: int | None = None
    sw_ident: str = ""
    sw_ver: str = ""
    sw_sys: str = ""
    loadavg: list[float] | None = None
    active: int | None = None
    processed: int | None = None
    heartbeats_missed: int = 0

    def expired(self, now_local: float) -> bool:
        return self.status == "online" and now_local - self.last_seen_local > self.freq * OFFLINE_AFTER_INTERVALS


def fold_worker(state: WorkerState | None, event: dict[str, Any], broker: str) -> tuple[WorkerState, str | None]:
    """Apply one ``worker-*`` event. Returns the state and the status change (``"online"``,
    ``"offline"``) it caused, if any. Counts heartbeats that should have come and did not."""
    kind, now = event["type"], event["local_received"]
    if state is None:
        state = WorkerState(hostname=event["hostname"], broker=broker, status="offline")
    previous_status = state.status
    freq = _number(event.get("freq"))
    if freq is not None and 0.1 <= freq <= 3600:
        state.freq = freq
    if kind == "worker-heartbeat" and previous_status == "online" and state.last_seen_local:
        gap = now - state.last_seen_local
        if gap > state.freq * 1.9:
            state.heartbeats_missed += max(int(gap / state.freq + 0.5) - 1, 0)
    pid = _number(event.get("pid"))
    if pid is not None:
        state.pid = int(pid)
    for key in ("sw_ident", "sw_ver", "sw_sys"):
        if event.get(key):
            setattr(state, key, text(event[key], 64))
    for key in ("active", "processed"):
        number = _number(event.get(key))
        if number is not None:
            setattr(state, key, int(number))
    loadavg = event.get("loadavg")
    if isinstance(loadavg, list) and all(_number(v) is not None for v in loadavg[:3]):
        state.loadavg = [float(v) for v in loadavg[:3]]
    state.last_seen_local = now
    if kind == "worker-offline":
        state.status = "offline"
    else:
        state.status = "online"
        state.last_heartbeat = event["timestamp"]
    changed = state.status if state.status != previous_status else None
    if changed:
        state.status_since = now
    return state, changed

"""Assembling a task's journey from the rows Switchyard keeps. Pure: no database, no clock.

Inputs are plain dicts (see :mod:`messaging.journeys.queries`): the task's row with its Celery event
timeline, the marks actions left (:mod:`messaging.journeys.marks`), the audit entries naming the
task, and the rows of its family (same ``root_id``). The result is the shape of docs/api.md
("Journeys"): steps in time order, each ``{at, kind, place, by, detail}``, the parent and the tree
of children. Nothing is invented: where Switchyard did not see how the task got from one step to the
next, a ``gap`` step says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from messaging.celery.ingest import MAX_TIMELINE
from messaging.duplicates import DELIVERY_ENDS

#: Celery timeline entry types and the journey kinds they become.
EVENT_KINDS = {
    "sent": "sent",
    "received": "received",
    "started": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "retried": "retried",
    "rejected": "rejected",
    "revoked": "revoked",
}
#: Steps that bring a task's message back after a delivery ended (besides a retry's own send).
RETURNS = frozenset({"requeued", "moved"})
#: At equal times, the earlier stage of a delivery comes first.
ORDER = {
    "gap": 0, "sent": 1, "dead_lettered": 2, "requeued": 3, "moved": 3, "received": 4, "started": 5,
    "retried": 6, "failed": 6, "rejected": 7, "succeeded": 7, "revoked": 7, "revoke_requested": 8, "browsed": 3,
}  # fmt: skip
MAX_TREE = 500


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    try:
        return datetime.fromtimestamp(at, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def event_steps(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps Celery's events report, ``at`` in epoch seconds (made ISO at the end)."""
    steps = []
    for entry in task.get("events") or []:
        if not isinstance(entry, dict) or entry.get("type") not in EVENT_KINDS:
            continue
        at = entry.get("at")
        if not isinstance(at, int | float):
            continue
        kind = EVENT_KINDS[entry["type"]]
        detail: dict[str, Any] = {}
        for key in ("retries", "runtime", "exception", "eta", "terminated", "expired"):
            if key in entry:
                detail[key] = entry[key]
        place = (task.get("queue") or "") if kind in ("sent", "received") else ""
        steps.append(
            {"at": float(at), "kind": kind, "place": place, "by": entry.get("hostname") or "", "detail": detail}
        )
    return steps


def mark_steps(marks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    steps, seen = [], set()
    for mark in marks:
        key = (mark["kind"], mark["at"], mark.get("place") or "")
        if key in seen:  # the same death record, read again by a later action
            continue
        seen.add(key)
        detail = dict(mark.get("detail") or {})
        steps.append(
            {
                "at": mark["at"],
                "kind": mark["kind"],
                "place": mark.get("place") or "",
                "by": mark.get("by") or "",
                "detail": detail,
            }
        )
    return steps


def audit_steps(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operator commands naming the task (``task.revoke``)."""
    steps = []
    for entry in entries:
        if entry.get("action") == "task.revoke":
            params = entry.get("params") or {}
            steps.append(
                {
                    "at": entry["at"],
                    "kind": "revoke_requested",
                    "place": entry.get("broker") or "",
                    "by": entry.get("user") or "",
                    "detail": {
                        "terminate": bool(params.get("terminate")),
                        "audit": entry.get("id"),
                        "outcome": entry.get("outcome") or "",
                    },
                }
            )
    return steps


def ordered(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(steps, key=lambda s: (s["at"], ORDER.get(s["kind"], 9)))


def with_retry_eta(steps: list[dict[str, Any]]) -> None:
    """A retry's countdown shows as the eta of the delivery that followed it."""
    for index, step in enumerate(steps):
        if step["kind"] != "retried":
            continue
        following = next((s for s in steps[index + 1 :] if s["kind"] == "received"), None)
        if following is not None and following["detail"].get("eta"):
            step["detail"]["eta"] = following["detail"]["eta"]


def flag_duplicates(steps: list[dict[str, Any]]) -> None:
    """Mark received/started steps that are duplicate deliveries (messaging.duplicates's rule)."""
    seen: set[str] = set()
    for step in steps:
        kind = step["kind"]
        if kind in ("received", "started"):
            if kind in seen:
                step["detail"]["duplicate"] = True
            seen.add(kind)
        elif kind in DELIVERY_ENDS:
            seen.clear()


def gaps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gap steps where the story has a hole: no ``sent`` for the first delivery, and a task
    delivered again after its delivery ended (failed, rejected, revoked) with nothing Switchyard
    saw bringing it back."""
    found = []
    first = next((s for s in steps if s["kind"] in ("received", "started")), None)
    if first is not None and _original_send(steps) is None:
        found.append(_gap(first["at"], "sent", "not observed: the publisher sends no task-sent events"))
    ended = None
    for step in steps:
        kind = step["kind"]
        if kind in ("failed", "rejected", "revoked"):
            ended = step
        elif kind in RETURNS or kind == "retried" or kind == "sent":
            ended = None
        elif kind == "received" and ended is not None:
            found.append(_gap(step["at"], "returned", "not observed: how the task came back after it ended"))
            ended = None
    return found


def _original_send(steps: list[dict[str, Any]]) -> int | None:
    """The index of the ``sent`` step of the first delivery: the first one before that delivery
    ended (a retry's own send comes with or after its ``retried``); None when there is none."""
    first = next((i for i, s in enumerate(steps) if s["kind"] in ("received", "started")), None)
    if first is None:
        return None
    end_at = next((s["at"] for s in steps[first:] if s["kind"] in DELIVERY_ENDS), float("inf"))
    return next((i for i, s in enumerate(steps) if s["kind"] == "sent" and s["at"] < end_at), None)


def rejections_in_failures(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``rejected`` within a second of a ``failed`` is that failure's message being rejected
    (``acks_late`` without ack on failure: the broker may dead-letter it): one step, not two."""
    for rejected in [s for s in steps if s["kind"] == "rejected"]:
        failed = next((s for s in steps if s["kind"] == "failed" and abs(s["at"] - rejected["at"]) <= 1.0), None)
        if failed is not None:
            steps.remove(rejected)
            failed["detail"]["rejected"] = True
    return steps


def deaths_after_their_end(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``dead_lettered`` step placed after the failure that caused it: RabbitMQ stamps ``x-death``
    in whole seconds, so the death can read up to a second before the ``task-failed`` event."""
    for death in [s for s in steps if s["kind"] == "dead_lettered"]:
        ends = [s for s in steps if s["kind"] in ("failed", "rejected") and death["at"] < s["at"] <= death["at"] + 1.0]
        if ends:
            steps.remove(death)
            steps.insert(steps.index(ends[-1]) + 1, death)
    return steps


def send_first(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first delivery's ``sent`` placed before it: clients stamp ``task-sent`` after
    publishing, so a worker quick to take the task can show it received first. Its time is kept."""
    original = _original_send(steps)
    first = next((i for i, s in enumerate(steps) if s["kind"] in ("received", "started")), None)
    if original is None or first is None or original < first:
        return steps
    sent = steps.pop(original)
    sent["detail"]["note"] = "stamped after publishing: a worker took the task before the stamp"
    steps.insert(first, sent)
    return steps


def _gap(at: float, missing: str, why: str) -> dict[str, Any]:
    return {"at": at, "kind": "gap", "place": "", "by": "", "detail": {"missing": missing, "note": why}}


def summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": row["task_id"], "name": row.get("name") or "", "state": row.get("state") or ""}


def tree(task_id: str, family: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The children of ``task_id`` among ``family``, each with its own children (a chain reads as
    a path, a group or chord as siblings), at most :data:`MAX_TREE` nodes; cycles are cut."""
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for row in family:
        parent = row.get("parent_id") or ""
        if parent and parent != row["task_id"]:
            by_parent.setdefault(parent, []).append(row)
    placed: set[str] = {task_id}

    def children(of: str) -> list[dict[str, Any]]:
        nodes = []
        for row in sorted(by_parent.get(of, []), key=lambda r: r.get("created_at") or 0):
            if row["task_id"] in placed or len(placed) >= MAX_TREE:
                continue
            placed.add(row["task_id"])
            nodes.append({**summary(row), "children": children(row["task_id"])})
        return nodes

    return children(task_id)


def assemble(
    task: dict[str, Any],
    marks: Iterable[dict[str, Any]] = (),
    audit_entries: Iterable[dict[str, Any]] = (),
    family: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The journey of ``task`` (times in ``task['events']``, marks and audit entries as epoch
    seconds; ``family``: rows sharing its root, itself and its parent included)."""
    steps = event_steps(task) + mark_steps(marks) + audit_steps(audit_entries)
    steps = ordered(steps)
    capped = len(task.get("events") or []) >= MAX_TIMELINE
    if capped and steps:
        # The task row keeps its newest events only: what came before is not known here.
        steps.insert(0, _gap(steps[0]["at"], "earlier events", f"not kept: a task keeps its newest {MAX_TIMELINE}"))
    with_retry_eta(steps)
    flag_duplicates(steps)
    holes = [g for g in gaps(steps) if not (capped and g["detail"]["missing"] == "sent")]
    steps = send_first(deaths_after_their_end(rejections_in_failures(ordered(steps + holes))))
    for step in steps:
        step["at"] = iso(step["at"])
    family = list(family)
    parent_id = task.get("parent_id") or ""
    parent_row = next((r for r in family if r["task_id"] == parent_id), None) if parent_id else None
    return {
        "task_id": task["task_id"],
        "name": task.get("name") or "",
        "state": task.get("state") or "",
        "broker": task.get("broker") or "",
        "root_id": task.get("root_id") or None,
        "duplicate_deliveries": task.get("duplicate_deliveries") or 0,
        "steps": steps,
        "parent": (summary(parent_row) if parent_row else {"task_id": parent_id, "name": "", "state": "not seen"})
        if parent_id
        else None,
        "children": tree(task["task_id"], family),
        "saga": saga(task, family),
    }


def saga(task: dict[str, Any], family: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The whole family from its root down (``current`` marks this task), when it has a root
    other than itself; None otherwise."""
    root_id = task.get("root_id") or ""
    if not root_id or root_id == task["task_id"] and not family:
        return None
    rows = [*family, task]
    root = next((r for r in rows if r["task_id"] == root_id), None)
    node = summary(root) if root else {"task_id": root_id, "name": "", "state": "not seen"}
    return {**node, "children": tree(root_id, rows)}

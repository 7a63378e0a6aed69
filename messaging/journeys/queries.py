"""Fetching the rows a journey is assembled from (thin: the joining is ``assembly``'s)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from messaging.journeys.assembly import MAX_TREE, assemble
from messaging.models import AuditEntry, JourneyMark, TaskRecord

TASK_FIELDS = (
    "task_id", "name", "state", "broker", "queue", "worker", "root_id", "parent_id", "events",
    "duplicate_deliveries", "created_at",
)  # fmt: skip
FAMILY_FIELDS = ("task_id", "name", "state", "root_id", "parent_id", "created_at")
MAX_MARKS = 500
MAX_AUDIT = 100


def _epoch(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = row.get(key)
    return {**row, key: value.timestamp() if value is not None else None}


def journey(task_id: str) -> dict[str, Any] | None:
    """The journey of the task with this id (docs/api.md, "Journeys"); None when neither a task
    row nor a mark knows the id."""
    task = TaskRecord.objects.filter(task_id=task_id).values(*TASK_FIELDS).first()
    marks = [
        _epoch(m, "at")
        for m in JourneyMark.objects.filter(task_id=task_id)
        .order_by("at", "id")
        .values("kind", "at", "place", "by", "detail")[:MAX_MARKS]
    ]
    if task is None and not marks:
        return None
    if task is None:
        task = {"task_id": task_id, "name": "", "state": "", "events": []}
    audit_entries = [
        {**_epoch(e, "at"), "user": e["username"]}
        for e in AuditEntry.objects.filter(action="task.revoke", params__task_id=task_id)
        .order_by("at")
        .values("id", "at", "username", "action", "broker", "params", "outcome")[:MAX_AUDIT]
    ]
    return assemble(_epoch(task, "created_at"), marks, audit_entries, family(task))


def family(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the task's family: its children first (at most MAX_TREE), its parent, then the rest
    sharing its root (chains, groups, chords), at most MAX_TREE of those."""
    task_id, root, parent = task["task_id"], task.get("root_id") or "", task.get("parent_id") or ""
    found: dict[str, dict[str, Any]] = {}
    queries = [TaskRecord.objects.filter(parent_id=task_id)]
    if parent:
        queries.append(TaskRecord.objects.filter(task_id=parent))
    if root:
        queries.append(TaskRecord.objects.filter(Q(root_id=root) | Q(task_id=root)))
    for rows in queries:
        for row in rows.exclude(task_id=task_id).values(*FAMILY_FIELDS)[:MAX_TREE]:
            found.setdefault(row["task_id"], _epoch(row, "created_at"))
    return list(found.values())

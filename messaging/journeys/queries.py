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
    """Rows sharing the task's root (its parent, children and their children), and its parent and
    children by id where the root is unknown; at most MAX_TREE."""
    task_id, root, parent = task["task_id"], task.get("root_id") or "", task.get("parent_id") or ""
    related = Q(parent_id=task_id)
    if root:
        related |= Q(root_id=root) | Q(task_id=root)
    if parent:
        related |= Q(task_id=parent)
    rows = list(TaskRecord.objects.filter(related).exclude(task_id=task_id).values(*FAMILY_FIELDS)[:MAX_TREE])
    if parent and not any(r["task_id"] == parent for r in rows):
        # A family larger than the cap must not lose the parent (a group of thousands, say).
        rows += list(TaskRecord.objects.filter(task_id=parent).values(*FAMILY_FIELDS))
    return [_epoch(r, "created_at") for r in rows]

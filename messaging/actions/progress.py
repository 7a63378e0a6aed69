"""An action as the API, the pages and the stream show it: one shape, one progress text.

:func:`action_dict` is the action's JSON (docs/api.md, "Operator actions"); its ``summary`` is the
progress line the queue page and ``actions.js`` show as is. :func:`outcome_text` is the audit's
account of how an action ended; both are built from the same clauses.
"""

from __future__ import annotations

from typing import Any

from messaging.models import Action
from messaging.stream import make_event, publish

_DONE_VERB = {"requeue": "requeued", "move": "moved", "delete": "deleted", "purge": "deleted"}


def action_dict(action: Action) -> dict[str, Any]:
    """The action's shape in the API and on the ``actions`` topic, plus what the page shows."""
    return {
        "id": action.pk,
        "kind": action.kind,
        "state": action.state,
        "user": action.username,
        "broker": action.broker,
        "queue": action.queue_name,
        "queue_id": action.queue_id,
        "target": action.target or action.selection.get("default_target") or None,
        "requested": action.requested,
        "done": action.done,
        "failed": action.failed,
        "scanned": action.scanned,
        "budget": action.budget,
        "duplicated": action.duplicated,
        "already_moved": action.already_moved,
        "dry_run": action.dry_run,
        "rate": action.rate,
        "selection": {
            k: v for k, v in action.selection.items() if k not in ("default_target", "target_created", "edit")
        },
        "create_target": action.create_target,
        # What the action created for its target (create_target), e.g. "created 'x' as a durable
        # classic queue (...)"; null when the target existed or nothing was created.
        "target_created": action.selection.get("target_created"),
        "interrupted": action.interrupted,
        "error": action.error or None,
        "summary": summary(action),
        "created_at": action.created_at.isoformat() if action.created_at else None,
        "finished_at": action.finished_at.isoformat() if action.finished_at else None,
    }


def summary(action: Action) -> str:
    """The progress line: ``done / requested`` and what did not go as asked, e.g.
    ``"180 / 200, 20 not taken, ≤500 duplicated"``."""
    parts = [f"{action.done} / {action.requested}"]
    if action.failed:
        parts.append(f"{action.failed} not taken")
    if missing := not_found(action):
        parts.append(f"{missing} not found")
    return ", ".join([*parts, *_caveats(action, short=True)])


def not_found(action: Action) -> int:
    """Of the messages chosen by id, those a finished run did not find (gone before it looked:
    taken by a consumer, or by an earlier action); 0 for other selections or an unfinished run."""
    if action.state != Action.SUCCEEDED or "ids" not in action.selection:
        return 0
    return max(0, action.requested - action.done - action.failed)


def outcome_text(action: Action) -> str:
    """How the action ended, for its audit entry, e.g. ``"succeeded: 10 requeued, 0 not taken,
    10 looked at"``; the target it created and its error follow after ``;``."""
    verb = _DONE_VERB[action.kind]
    if action.dry_run:
        verb = f"would be {verb} (dry run, nothing changed)"
    text = ", ".join(
        [
            f"{action.state}: {action.done} {verb}",
            f"{action.failed} not taken",
            f"{action.scanned} looked at",
            *([f"{missing} not found"] if (missing := not_found(action)) else []),
            *_caveats(action, short=False),
        ]
    )
    if action.selection.get("target_created"):
        text += f"; {action.selection['target_created']}"
    if action.error:
        text += f"; {action.error}"
    return text


def _caveats(action: Action, *, short: bool) -> list[str]:
    """Duplicates an interruption may have made, messages the broker handed back after a restart."""
    caveats = []
    if action.duplicated:
        caveats.append(
            f"≤{action.duplicated} duplicated"
            if short
            else f"at most {action.duplicated} duplicated by an interruption"
        )
    if action.already_moved:
        caveats.append(
            f"{action.already_moved} re-delivered by the broker, not moved twice"
            if short
            else f"{action.already_moved} re-delivered by the broker after a restart (not moved twice)"
        )
    return caveats


def publish_state(action: Action) -> None:
    """Stream the action's state (best effort: a lost update is superseded by the next one)."""
    kind = "action.finished" if action.is_final else "action.progress"
    events = [make_event("actions", kind, action_dict(action), key=f"action:{action.pk}")]
    publish("actions", events)

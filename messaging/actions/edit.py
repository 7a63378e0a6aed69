"""Edit one message, then requeue it: the edited copy is published, the original removed, no loss.

:func:`request_edit` finds the message (as the raw download does), checks it is a Celery task
message (JSON, protocol 1 or 2), computes the diff of the operator's args, kwargs and headers
against it, and creates a requeue action of that one message, selected by its exact digest
(``sha1:...``, so no twin with the same task id is taken instead). The run is an ordinary
requeue (:mod:`messaging.actions.runner`): the adapter's move session publishes the edited copy
(:attr:`MovePlan.rewrite`) and removes the original the same no-loss way as any move (Redis: one
atomic script; RabbitMQ: publisher confirm before the source ack). A crash between the two can
leave the original and the edited copy both (a duplicate at most), never neither.

The edited copy keeps the task id (its journey goes on) and carries provenance headers:
``x-switchyard-edited-by``, ``-edited-at``, ``-edited-from`` (the original message id) and
``-edit-diff`` (which fields changed), with the requeue's own. The audit entry ``requeue.edit``
keeps the diff with its values (shown to roles that read bodies only: ``messaging.audit``).
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from messaging import audit, browsing, decoding
from messaging.actions import requests
from messaging.errors import ActionRefused
from messaging.models import Action, Queue

#: The most JSON text the edited args, kwargs and headers may hold together.
MAX_EDIT_BYTES = 256 * 1024
#: Each value shown in a diff is cut to this many characters.
DIFF_VALUE_CHARS = 500
MAX_DIFF_ENTRIES = 200
EDITABLE_KINDS = ("celery-v2", "celery-v1")


def check_edit(args: Any, kwargs: Any, headers: Any) -> None:
    """The edit's shape: args a list, kwargs an object, headers an object or None, within
    :data:`MAX_EDIT_BYTES`. Raises :class:`ActionRefused` (400) naming the field."""
    if not isinstance(args, list):
        raise ActionRefused({"args": "a JSON list"})
    if not isinstance(kwargs, dict):
        raise ActionRefused({"kwargs": "a JSON object"})
    if headers is not None and not isinstance(headers, dict):
        raise ActionRefused({"headers": "a JSON object"})
    size = len(json.dumps([args, kwargs, headers], ensure_ascii=False).encode())
    if size > MAX_EDIT_BYTES:
        raise ActionRefused(f"the edited args, kwargs and headers hold {size} bytes; at most {MAX_EDIT_BYTES}")


def request_edit(
    user: Any,
    queue: Queue,
    *,
    message_id: str,
    args: list[Any],
    kwargs: dict[str, Any],
    headers: dict[str, Any] | None = None,
    position: int | None = None,
    target: str | None = None,
    accept_delivery_limit_risk: bool = False,
) -> Action:
    """A requeue of the message ``message_id`` edited (``headers`` None: keep them). Raises
    :class:`ActionRefused` (400 bad edit or nothing changed; 404 message gone; 409 not a Celery
    message or a broker that cannot edit) and BrokerError."""
    check_edit(args, kwargs, headers)
    with requests._reaching_broker(queue) as broker:
        if not broker.capabilities.edits_messages:
            raise ActionRefused("this broker's adapter cannot publish an edited message", status=409)
    _check_delivery_limit_risk(queue, accept_delivery_limit_risk)
    raw = browsing.find_raw(queue, message_id, position, user=user)
    if raw is None:
        raise ActionRefused("the message is no longer in the queue (or beyond the first 1,000)", status=404)
    decoded = decoding.decode(raw)
    if decoded.kind not in EDITABLE_KINDS:
        raise ActionRefused(f"only Celery task messages in JSON can be edited (this one is {decoded.kind})", status=409)
    diff = diff_of(
        {"args": decoded.args, "kwargs": decoded.kwargs, "headers": raw.headers},
        {"args": args, "kwargs": kwargs, "headers": raw.headers if headers is None else headers},
    )
    if not diff:
        raise ActionRefused("nothing changed: edit the args, kwargs or headers")
    said = summary(diff)
    edit = {
        "args": args,
        "kwargs": kwargs,
        "headers": headers,
        "provenance": {
            "x-switchyard-edited-by": getattr(user, "username", None) or "system",
            "x-switchyard-edited-at": timezone.now().timestamp(),
            "x-switchyard-edited-from": decoded.id,
            "x-switchyard-edit-diff": said,
        },
    }
    action = requests.request_move(
        user, queue, kind=Action.REQUEUE, ids=["sha1:" + decoding.digest(raw)], target=target, edit=edit
    )
    audit.record(
        user,
        "requeue.edit",
        broker=queue.broker,
        queue=queue.name,
        params={"action": action.pk, "message": decoded.id, "diff": diff},
        outcome=f"edited ({said}); requeue accepted as action {action.pk}",
    )
    return action


def _check_delivery_limit_risk(queue: Queue, accepted: bool) -> None:
    """Where finding the message takes and requeues the ones before it (RabbitMQ), a quorum
    queue's delivery limit could drop one: refused (409) unless that risk is accepted."""
    if accepted or not browsing.browse_consumes(queue):
        return
    effects = browsing.browse_effects(queue)
    if effects.delivery_limit is not None:
        raise browsing.BrowseRefused(
            f"finding the message takes and requeues the messages before it, and this quorum queue drops a "
            f"message returned more than {effects.delivery_limit} times: confirm the risk "
            "(accept_delivery_limit_risk) to edit anyway",
            409,
            code="delivery_limit_risk",
        )


def diff_of(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed, path by path (``kwargs.amount``, ``args[0]``, ``headers.tenant``):
    ``{"path", "op": "added" | "removed" | "changed", "before", "after"}``, values cut short."""
    changes: list[dict[str, Any]] = []
    for name in ("args", "kwargs", "headers"):
        _walk(before.get(name), after.get(name), name, changes)
    return changes[:MAX_DIFF_ENTRIES]


def _walk(old: Any, new: Any, path: str, changes: list[dict[str, Any]]) -> None:
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict) and path != "headers.x-death":
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}"
            if key not in new:
                changes.append({"path": sub, "op": "removed", "before": _cut(old[key]), "after": None})
            elif key not in old:
                changes.append({"path": sub, "op": "added", "before": None, "after": _cut(new[key])})
            else:
                _walk(old[key], new[key], sub, changes)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _walk(a, b, f"{path}[{i}]", changes)
        return
    changes.append({"path": path, "op": "changed", "before": _cut(old), "after": _cut(new)})


def _cut(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= DIFF_VALUE_CHARS else text[:DIFF_VALUE_CHARS] + "..."


def summary(diff: list[dict[str, Any]]) -> str:
    """The diff in one line, paths only (no values): ``kwargs.amount changed; headers.x added``."""
    text = "; ".join(f"{change['path']} {change['op']}" for change in diff)
    return text if len(text) <= 1000 else text[:997] + "..."

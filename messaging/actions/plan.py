"""What a run of an action asks of the broker: the :class:`MovePlan` built from the action's row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messaging import decoding, poison
from messaging.actions import move_memory, rewrite
from messaging.actions.selection import selector_for
from messaging.brokers.base import RawMessage
from messaging.brokers.capabilities import Capabilities
from messaging.brokers.moves import BulkMove, MovePlan, MoveProgress
from messaging.journeys import marks
from messaging.models import Action


def build_plan(action: Action, token: str, capabilities: Capabilities) -> MovePlan:
    """The plan of one run: the source, the target (or each message's own origin for a requeue
    without one), the budget counted at confirmation, the selection's predicate, the provenance
    headers, and the progress the earlier runs saved (``resume_from``). ``capabilities``: the
    broker's (``Broker.capabilities``)."""
    deleting = action.kind in (Action.DELETE, Action.PURGE)
    ids = action.selection.get("ids")
    default_target = action.selection.get("default_target")
    target_of = _origin_finder(action)
    remembers = capabilities.may_redeliver_acknowledged and not action.dry_run

    def in_doubt(count: int) -> None:
        Action.objects.filter(pk=action.pk, claim_token=token).update(in_doubt=count)

    stamp = None if deleting else provenance_headers(action)
    poison_limit = _poison_limit(action)
    rewrites = rewrite.rewriter(action.selection["edit"]) if action.selection.get("edit") else None
    selector = _selector(action, poison_limit, rewrites)
    transform = None
    if stamp is not None:
        note = None if action.dry_run else marks.recorder(action, target_of)

        def transform(message: RawMessage) -> dict[str, Any]:
            if note is not None:
                note(message)
            return stamp

    bulk = None
    if stamp is not None and not action.dry_run and action.selection.get("all") is True and rewrites is None:
        # Every message is taken and gets the same headers: the adapter may move server-side. When
        # poison stays behind, a message that could carry a death count is judged one by one.
        bulk = BulkMove(headers=stamp, by_origin=target_of is not None, poison_deaths=poison_limit)
    return MovePlan(
        source=action.queue_name,
        target=None if deleting else (action.target or default_target),
        budget=action.budget,
        selector=selector,
        transform=transform,
        dry_run=action.dry_run,
        progress_key=action.progress_key,
        owner=token,
        target_of=target_of,
        max_moves=len(ids) if ids is not None else None,
        deleting=deleting,
        resume_from=MoveProgress(
            scanned=action.done,
            moved=action.done,
            missing=action.failed,
            duplicated=action.duplicated,
            already_moved=action.already_moved,
        ),
        on_in_doubt=in_doubt,
        bulk=bulk,
        # The broker can re-deliver what it had acknowledged (RabbitMQ: see its move_session.py).
        record_moved=move_memory.recorder(action, token) if remembers else None,
        moved_before=move_memory.lookup(action) if remembers else None,
        create_target=action.create_target,
        rewrite=rewrites,
        purge=action.kind == Action.PURGE,
    )


def _origin_finder(action: Action) -> Callable[[RawMessage], str | None] | None:
    """A requeue without a target sends each message back where it died (else the default)."""
    if action.kind != Action.REQUEUE or action.target:
        return None
    default_target = action.selection.get("default_target")

    def target_of(message: RawMessage) -> str | None:
        return decoding.dead_lettered_from(message) or default_target

    return target_of


def _poison_limit(action: Action) -> int:
    """Deaths that keep a message out of this requeue (0: none kept out). Requeueing all or
    filtered messages leaves poison where it is (messaging/poison.py); named ids are taken."""
    if action.kind != Action.REQUEUE or action.selection.get("ids") is not None:
        return 0
    return 0 if action.selection.get("include_poison") else poison.threshold()


def _selector(action: Action, poison_limit: int, rewrites: Any) -> Callable[[RawMessage], bool]:
    selector = selector_for(action.selection, now=action.created_at.timestamp())
    if poison_limit:
        selector = poison.excluding_poison(selector, poison_limit)
    if rewrites is not None:
        selector = rewrite.only_rewritable(selector, rewrites)
    return selector


def provenance_headers(action: Action) -> dict[str, Any]:
    """Headers saying who requeued a message, when and from where; the task id is untouched."""
    return {
        "x-switchyard-requeued-by": action.username,
        "x-switchyard-requeued-at": action.created_at.timestamp(),
        "x-switchyard-requeued-from": action.queue_name,
        "x-switchyard-action": action.pk,
        # An edit-then-requeue (messaging/actions/edit.py) says who edited what.
        **(action.selection.get("edit") or {}).get("provenance", {}),
    }

"""Operator requests on messages: each becomes an :class:`Action` row, checked here.

Views (API and pages alike) call these functions and nothing else; the rows are run by
:mod:`messaging.actions.runner`. Every request is audited when accepted, and again when it ends
(by the runner). Arguments arrive typed (the API's serializers and the pages' forms check JSON and
form types); the rules of the domain (one selection, a target that exists, the typed confirmation,
a queue its broker can reach) are checked here, for both.

``all`` takes the messages present when the operator confirmed: ``count`` if the client sends the
count it showed, else the count now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging import audit, browsing
from messaging.actions.dispatch import dispatch
from messaging.actions.progress import publish_state
from messaging.actions.runner import reap_interrupted
from messaging.actions.selection import parse_selection
from messaging.brokers.base import Broker, BrokerError
from messaging.brokers.registry import capabilities_for
from messaging.errors import ActionRefused, unaddressable
from messaging.models import Action, Queue
from messaging.process_config import broker_config, open_broker

MAX_RATE = 1_000_000.0
MAX_TARGET_LENGTH = 1024


def require_confirmation(kind: str, queue: Queue, confirm: str | None, *, typed: bool) -> None:
    """The one rule for typed confirmations, for pages and API alike. Raises :class:`ActionRefused`.

    - A purge always needs ``confirm`` to be the queue's exact name (docs/api.md: ``{confirm}``).
    - A delete needs it where a person confirms in a form (``typed=True``: the queue page). An API
      caller names every message it deletes by id (docs/api.md: ``{ids: [..]}``), which is its
      confirmation; a typed name is not asked of it (that would break the contract), but one it
      sends must match.
    - Requeues and moves change no message's content and need none.
    """
    if kind == Action.PURGE:
        if confirm != queue.name:
            raise ActionRefused({"confirm": "type the queue's exact name to purge it"})
    elif kind == Action.DELETE and (typed or confirm is not None) and confirm != queue.name:
        raise ActionRefused({"confirm": "type the queue's exact name to delete messages"})


def request_move(
    user: Any,
    queue: Queue,
    *,
    kind: str,
    ids: list[str] | None = None,
    all: bool | None = None,  # noqa: A002 - the API's field name
    filter: dict[str, Any] | None = None,  # noqa: A002
    target: str | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    create_target: bool = False,
    count: int | None = None,
    include_poison: bool = False,
    edit: dict[str, Any] | None = None,
) -> Action:
    """A requeue (target defaults to where each message was dead-lettered from) or a move
    (target required). A requeue of all or filtered messages leaves poison messages where they
    are unless ``include_poison`` (messaging/poison.py). Raises :class:`ActionRefused`;
    :class:`BrokerError` when the broker cannot be asked for the count or the target."""
    selection = parse_selection(ids, all, filter)
    if include_poison and kind == Action.REQUEUE and "ids" not in selection:
        selection["include_poison"] = True
    if kind == Action.MOVE and not target:
        raise ActionRefused({"target": "a move needs a target queue"})
    if target is not None and (not target or len(target) > MAX_TARGET_LENGTH):
        raise ActionRefused({"target": "must be a queue name"})
    if target == queue.name:
        raise ActionRefused({"target": "the target is the queue itself"})
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise ActionRefused({"rate": f"messages per second, more than 0 and at most {MAX_RATE:g}"})
    default_target = _default_target(kind, queue, target)
    with _reaching_broker(queue) as broker:
        explicit = target or default_target
        if explicit and not create_target and not dry_run and not _target_known(broker, queue, explicit):
            raise ActionRefused({"target": f"queue {explicit!r} does not exist; send create_target: true to create it"})
        budget = _budget(broker, queue, count)
    return _create(
        user,
        queue,
        kind=kind,
        selection=selection,
        target=target or "",
        budget=budget,
        requested=len(selection["ids"]) if "ids" in selection else budget,
        rate=None if rate is None else float(rate),
        dry_run=dry_run,
        create_target=create_target,
        # ``edit``: an edit-then-requeue's rewrite (messaging/actions/edit.py builds it).
        extra={**({"default_target": default_target} if default_target else {}), **({"edit": edit} if edit else {})},
    )


def request_delete(
    user: Any,
    queue: Queue,
    *,
    ids: list[str] | None = None,
    dry_run: bool = False,
    confirm: str | None = None,
    typed: bool = False,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the API's field name
) -> Action:
    """Delete the messages with these ids, or those a search's ``filter`` matches (see
    :func:`require_confirmation` for ``confirm`` and ``typed``; a filter names no message, so it
    needs the queue's name typed, API or not). Raises :class:`ActionRefused`; :class:`BrokerError`."""
    require_confirmation(Action.DELETE, queue, confirm, typed=typed or filter is not None)
    if not ids and not filter:
        raise ActionRefused({"ids": "delete needs the ids of the messages (or a filter); purge empties a queue"})
    selection = parse_selection(ids or None, None, filter)
    with _reaching_broker(queue) as broker:
        if not broker.capabilities.deletes_messages:
            refused = ActionRefused(
                f"a {broker.transport} broker cannot delete selected messages (it keeps them until its "
                "retention removes them); purge empties the whole queue where the broker allows it",
                status=409,
            )
            refused.code = "unsupported"
            raise refused
        budget = _budget(broker, queue, None)
    return _create(
        user,
        queue,
        kind=Action.DELETE,
        selection=selection,
        target="",
        budget=budget,
        requested=len(selection["ids"]) if "ids" in selection else budget,
        dry_run=dry_run,
    )


def request_purge(user: Any, queue: Queue, *, confirm: str | None, count: int | None = None) -> Action:
    """Delete the messages present now (or the ``count`` the operator was shown), oldest first.
    ``confirm`` must be the queue's exact name."""
    require_confirmation(Action.PURGE, queue, confirm, typed=True)
    _refuse_purge_too_soon(queue)
    with _reaching_broker(queue) as broker:
        budget = _budget(broker, queue, count)
    return _create(
        user,
        queue,
        kind=Action.PURGE,
        selection={"all": True},
        target="",
        budget=budget,
        requested=budget,
    )


def _refuse_purge_too_soon(queue: Queue) -> None:
    """Where the broker allows one purge per queue per interval (SQS: 60 s), a second purge
    within it is refused (409) saying when it can be retried, rather than failing later."""
    interval = capabilities_for(broker_config(queue.broker).scheme).purge_interval_s
    if not interval:
        return
    since = timezone.now() - timedelta(seconds=interval)
    last = (
        Action.objects.filter(broker=queue.broker, vhost=queue.vhost, queue_name=queue.name, kind=Action.PURGE)
        .filter(created_at__gte=since)
        .exclude(state__in=(Action.FAILED, Action.CANCELLED))
        .order_by("-created_at")
        .first()
    )
    if last is not None:
        retry_at = last.created_at + timedelta(seconds=interval)
        wait = max(1, int((retry_at - timezone.now()).total_seconds()) + 1)
        raise ActionRefused(
            f"this broker allows one purge of a queue every {interval:g} s; action {last.pk} purged "
            f"{queue.name!r} at {last.created_at:%H:%M:%S} UTC: retry after {retry_at:%H:%M:%S} UTC "
            f"(in {wait} s)",
            status=409,
        )


@dataclass(frozen=True)
class Preview:
    """What a confirmation panel states before the operator confirms: the messages present now
    (the most the action looks at), where they go, and what else the action changes."""

    count: int
    target: str | None
    target_text: str
    warnings: tuple[str, ...] = ()


def preview_move(queue: Queue, *, kind: str, selection: str, target: str | None, dry_run: bool) -> Preview:
    """The confirmation of a requeue or move. ``selection`` is ``"ids"``, ``"all"`` or ``"filter"``.
    Raises :class:`ActionRefused` (409: vhost unreachable) and :class:`BrokerError`."""
    default_target = _default_target(kind, queue, target)
    warnings = []
    # A dry run or a selective scan looks at messages it leaves in place: where reading consumes
    # (RabbitMQ), that is browsing.
    if (dry_run or selection != "all") and _browse_consumes(queue):
        warnings.append("The messages this leaves in place are taken and given back: " + browsing.BROWSE_WARNING)
    return Preview(
        count=_count_now(queue),
        target=target or default_target,
        target_text=target or default_target or "the queue each message was dead-lettered from",
        warnings=tuple(warnings),
    )


def preview_purge(queue: Queue) -> Preview:
    """The confirmation of a purge: the messages present now, which the purge deletes."""
    return Preview(count=_count_now(queue), target=None, target_text="")


def cancel(user: Any, action: Action) -> Action:
    """Ask a running action to stop between batches; a pending one is cancelled at once."""
    if action.is_final:
        raise ActionRefused(f"action {action.pk} already {action.state}", status=409)
    with transaction.atomic():
        updated = Action.objects.filter(pk=action.pk, state=Action.PENDING).update(
            state=Action.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        if not updated:
            Action.objects.filter(pk=action.pk).update(cancel_requested=True)
        audit.record(
            user, f"{action.kind}.cancel", broker=action.broker, queue=action.queue_name, params={"action": action.pk}
        )
    action.refresh_from_db()
    if action.is_final:
        transaction.on_commit(lambda: publish_state(action))
    return action


def resume(user: Any, action: Action, stale_after_s: float | None = None) -> Action:
    """Run an interrupted action again from where it stopped (its progress is kept)."""
    reap_interrupted(stale_after_s)
    action.refresh_from_db()
    if not (action.state == Action.FAILED and action.interrupted):
        raise ActionRefused(f"action {action.pk} is {action.state}, not interrupted", status=409)
    with transaction.atomic():
        Action.objects.filter(pk=action.pk, state=Action.FAILED, interrupted=True).update(
            state=Action.PENDING, error="", finished_at=None
        )
        audit.record(
            user, f"{action.kind}.resume", broker=action.broker, queue=action.queue_name, params={"action": action.pk}
        )
        transaction.on_commit(lambda: dispatch(action.pk))
    action.refresh_from_db()
    return action


def _default_target(kind: str, queue: Queue, target: str | None) -> str | None:
    """A requeue without a target goes where the queue's messages were dead-lettered from."""
    if kind != Action.REQUEUE or target:
        return None
    source = queue.dead_letter_source
    return source.name if source else None


@contextmanager
def _reaching_broker(queue: Queue) -> Iterator[Broker]:
    """The broker of ``queue``, open; refused (409) when its connection cannot reach the queue's vhost."""
    with open_broker(queue.broker) as broker:
        reason = unaddressable(broker, queue)
        if reason:
            raise ActionRefused(reason, status=409)
        yield broker


def _browse_consumes(queue: Queue) -> bool:
    try:
        return browsing.browse_consumes(queue)
    except BrokerError:
        return True  # could not ask: warn rather than stay silent


def _count_now(queue: Queue) -> int | None:
    """The messages in ``queue`` now (the last sample's depth when the broker cannot count)."""
    with _reaching_broker(queue) as broker:
        count = broker.count(queue.name)
    return count if count is not None else queue.depth


def _budget(broker: Broker, queue: Queue, count: int | None) -> int:
    """The messages the action may look at: those present at confirmation."""
    if count is not None and count < 0:
        raise ActionRefused({"count": "the number of messages shown at confirmation, 0 or more"})
    now = broker.count(queue.name)
    if now is None:
        now = queue.depth
    if now is None:
        raise BrokerError(f"cannot count the messages of {queue.name!r} now")
    return min(now, count) if count is not None else now


def _target_known(broker: Broker, queue: Queue, target: str) -> bool:
    if Queue.objects.filter(broker=queue.broker, vhost=queue.vhost, name=target, present=True).exists():
        return True
    return bool(broker.queue_exists(target))


def _create(
    user: Any,
    queue: Queue,
    *,
    kind: str,
    selection: dict[str, Any],
    target: str,
    budget: int,
    requested: int,
    rate: float | None = None,
    dry_run: bool = False,
    create_target: bool = False,
    extra: dict[str, Any] | None = None,
) -> Action:
    """The action's row and its audit entry, in one transaction; once committed, its state is
    published and it is dispatched to a runner."""
    with transaction.atomic():
        action = Action.objects.create(
            kind=kind,
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "username", None) or "system",
            broker=queue.broker,
            queue=queue,
            queue_name=queue.name,
            vhost=queue.vhost,
            target=target,
            selection={**selection, **(extra or {})},
            budget=budget,
            requested=requested,
            rate=rate,
            dry_run=dry_run,
            create_target=create_target,
        )
        audit.record(
            user,
            f"{kind}.dry_run" if dry_run else kind,
            broker=queue.broker,
            queue=queue.name,
            params=_audit_params(action),
            outcome=f"accepted as action {action.pk}: {budget} message(s) counted",
        )
        transaction.on_commit(lambda: publish_state(action))
        transaction.on_commit(lambda: dispatch(action.pk))
    return action


def _audit_params(action: Action) -> dict[str, Any]:
    selection = {k: v for k, v in action.selection.items() if k != "edit"}  # edited content: not for viewers
    if "ids" in selection and len(selection["ids"]) > 100:
        selection["ids"] = selection["ids"][:100] + [f"... {len(selection['ids']) - 100} more"]
    return {
        "action": action.pk,
        "selection": selection,
        "target": action.target or selection.get("default_target"),
        "counted": action.budget,
        "rate": action.rate,
        "dry_run": action.dry_run,
        "create_target": action.create_target,
    }

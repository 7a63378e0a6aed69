"""What a move, requeue, replay or delete asks of an adapter (:class:`MovePlan`) and how the adapter
answers it (:class:`MoveSession`, :class:`MoveProgress`). :meth:`Broker.open_move` opens a session."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from messaging.brokers.base import RawMessage


@dataclass
class MovePlan:
    """What a move or delete session does. ``selector`` decides per message (it sees the
    undecoded :class:`RawMessage`); ``transform`` rewrites a moved message's headers (provenance)
    and returns the headers to add, or None to keep it unchanged. ``progress_key`` names the
    action's durable progress record on the broker where the adapter keeps one (Redis), and
    ``owner`` the claim token that fences a stale runner off."""

    source: str
    target: str | None
    budget: int
    selector: Callable[[RawMessage], bool]
    transform: Callable[[RawMessage], dict[str, Any] | None] | None = None
    dry_run: bool = False
    progress_key: str = ""
    owner: str = ""
    # Per-message target (a requeue returns each message where it died); falls back to
    # ``target``; a selected message with neither stays where it is and counts as unroutable.
    target_of: Callable[[RawMessage], str | None] | None = None
    # Stop once this many messages were taken (a selection of ids).
    max_moves: int | None = None
    deleting: bool = False
    # Totals of earlier runs kept by the caller (adapters without a durable record on the broker
    # start from them), and a callback told how many published messages are not yet acknowledged
    # at the source (the most an interruption can duplicate).
    resume_from: MoveProgress | None = None
    on_in_doubt: Callable[[int], None] | None = None
    # Set when the move needs no per-message decision the adapter cannot make itself (see
    # :class:`BulkMove`); adapters that do not use it ignore it.
    bulk: BulkMove | None = None
    # Durable memory of what was moved, for brokers that may re-deliver a message whose source
    # ack they lost (RabbitMQ after a crash): ``record_moved`` stores the identities of a batch
    # confirmed at its target (durably before it returns, and the batch is then no longer in
    # doubt); ``moved_before`` says how many copies of each identity earlier runs recorded.
    # ``record_moved(identities, in_doubt=n)`` also sets the count still in doubt after it (a
    # later batch already published), 0 by default.
    record_moved: Callable[..., None] | None = None
    moved_before: Callable[[list[str]], dict[str, int]] | None = None
    # An existing ``target`` is only checked (never declared again: its arguments are the app's);
    # a missing one is created only with ``create_target``, else the session refuses to open.
    create_target: bool = False
    # A purge: every message goes, and an adapter with a purge call of its own may use it.
    purge: bool = False
    # Edit-then-requeue: the selected message is published with this body and these headers
    # (``transform``'s headers added on top) instead of its own; the selector takes only messages
    # it can rewrite. Adapters declaring ``Capabilities.edits_messages`` apply it.
    rewrite: Callable[[RawMessage], Rewritten | None] | None = None

    def destination(self, message: RawMessage) -> str | None:
        found = self.target_of(message) if self.target_of else None
        return found or self.target


@dataclass(frozen=True)
class Rewritten:
    """An edited message: its new body (same content type and encoding) and all its headers."""

    body: bytes
    headers: dict[str, Any]


@dataclass(frozen=True)
class BulkMove:
    """The caller's promise that ``selector`` takes every message of the scanned prefix (no ids,
    no filter, not a dry run) and ``transform`` adds these same ``headers`` to every message.
    With ``by_origin``, ``target_of`` is the dead-letter origin
    (:func:`messaging.decoding.dead_lettered_from`) and ``MovePlan.target`` its fallback;
    otherwise every message goes to ``MovePlan.target``. An adapter may then move messages
    without decoding them in the client (Redis: one server-side script per chunk)."""

    headers: dict[str, Any]
    by_origin: bool = False
    #: With a positive value, a message that died at least this many times
    #: (:func:`messaging.poison.death_count`) is not the bulk path's to take: it goes the
    #: per-message path, whose selector leaves poison where it is.
    poison_deaths: int = 0


@dataclass
class MoveProgress:
    """Totals since the action started (including runs before a crash, where the adapter keeps
    them durably). ``scanned`` counts messages looked at, ``moved`` those moved or deleted (or,
    in a dry run, that would be), ``missing`` those selected but gone before they could be taken
    (consumed meanwhile), ``duplicated`` those that may exist twice after an interruption,
    ``already_moved`` the copies a broker re-delivered at the source after a run had moved them
    (its restart lost the acks): acknowledged there, not moved twice, not counted as scanned."""

    scanned: int = 0
    moved: int = 0
    missing: int = 0
    duplicated: int = 0
    unroutable: int = 0
    already_moved: int = 0
    finished: bool = False


class MoveSession(abc.ABC):
    # Set when opening the session created ``MovePlan.target`` (``create_target``): what was
    # created, in the operator's words, for the action's result and audit.
    target_created: str | None = None

    @abc.abstractmethod
    def step(self, batch_size: int) -> MoveProgress:
        """Process one batch; ``finished`` once the budget is spent or the queue is exhausted.
        A session may return with the last batch it published still unsettled (published, its
        source not yet acknowledged: counted through ``MovePlan.on_in_doubt``); it settles it in
        the next step, in the step that finishes, or in :meth:`settle`."""

    def settle(self) -> MoveProgress | None:
        """Finish the batch still in flight, if any (wait for its confirms, acknowledge its
        source), before the caller stops between batches; the progress then, or None when
        nothing was in flight."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the session; messages looked at but not taken go back untouched."""

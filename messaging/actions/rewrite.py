"""The rewrite of an edit-then-requeue (:mod:`messaging.actions.edit`), as a move session applies
it (:attr:`messaging.brokers.moves.MovePlan.rewrite`). Pure functions, no I/O; used by
:mod:`messaging.actions.plan`, so it imports nothing of the request side."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from messaging.brokers.base import RawMessage
from messaging.brokers.moves import Rewritten


def rewriter(edit: dict[str, Any]) -> Callable[[RawMessage], Rewritten | None]:
    """The :attr:`MovePlan.rewrite` of an edit stored on its action: the message's body with the
    new args and kwargs (embed and protocol kept) and its headers (the edited ones, argsrepr and
    kwargsrepr brought up to date). None for a message whose body is not what was edited."""

    def rewrite(message: RawMessage) -> Rewritten | None:
        try:
            parsed = json.loads(message.body)
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(parsed, list) and len(parsed) >= 2:
            body = [edit["args"], edit["kwargs"], *parsed[2:]]
        elif isinstance(parsed, dict) and "task" in parsed:
            body = {**parsed, "args": edit["args"], "kwargs": edit["kwargs"]}
        else:
            return None
        headers = dict(message.headers if edit.get("headers") is None else edit["headers"])
        # The reprs follow the new arguments unless the operator wrote their own.
        for name, shown in (("argsrepr", repr(tuple(edit["args"]))), ("kwargsrepr", repr(edit["kwargs"]))):
            if name in headers and headers[name] == message.headers.get(name):
                headers[name] = shown
        return Rewritten(body=json.dumps(body).encode(), headers=headers)

    return rewrite


def only_rewritable(
    selector: Callable[[RawMessage], bool], rewrite: Callable[[RawMessage], Any]
) -> Callable[[RawMessage], bool]:
    """``selector`` narrowed to messages ``rewrite`` can rewrite: one it cannot stays in place."""
    return lambda message: selector(message) and rewrite(message) is not None

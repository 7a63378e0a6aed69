"""Operator actions on messages: requeue, move, delete, purge; their progress, runs and workers.

The package's public API, for views, commands and the monitor:

- requests (:mod:`~messaging.actions.requests`): :func:`request_move`, :func:`request_delete`,
  :func:`request_purge`, :func:`require_confirmation`, :func:`preview_move`,
  :func:`preview_purge`, :func:`cancel`, :func:`resume`;
- confirmations (:mod:`~messaging.actions.confirmation`): ``issue`` and ``consume`` one-time
  tokens, so one confirmation panel creates at most one action;
- shape (:mod:`~messaging.actions.progress`): :func:`action_dict`, :func:`summary`,
  :func:`publish_state`;
- runs (:mod:`~messaging.actions.runner`, :mod:`~messaging.actions.dispatch`): :func:`run_action`,
  :func:`reap_interrupted`, :func:`dispatch`, :func:`action_runner_job`;
- refusals: :class:`ActionRefused` (:mod:`messaging.errors`).

Inside the package the modules form a chain without cycles: ``selection`` and ``progress`` <-
``plan`` <- ``runner`` <- ``worker_app`` <- ``dispatch`` <- ``requests``; ``move_memory`` is used
by ``plan``. The names here are imported on first use, not with the package:
``celery -A messaging.actions.worker_app`` loads this package before Django's apps are ready.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ActionRefused": "messaging.errors",
    "unreachable_vhost": "messaging.errors",
    "Preview": "messaging.actions.requests",
    "cancel": "messaging.actions.requests",
    "preview_move": "messaging.actions.requests",
    "preview_purge": "messaging.actions.requests",
    "request_delete": "messaging.actions.requests",
    "request_move": "messaging.actions.requests",
    "request_purge": "messaging.actions.requests",
    "require_confirmation": "messaging.actions.requests",
    "resume": "messaging.actions.requests",
    "action_dict": "messaging.actions.progress",
    "outcome_text": "messaging.actions.progress",
    "publish_state": "messaging.actions.progress",
    "summary": "messaging.actions.progress",
    "selector_for": "messaging.actions.selection",
    "reap_interrupted": "messaging.actions.runner",
    "run_action": "messaging.actions.runner",
    "action_runner_job": "messaging.actions.dispatch",
    "dispatch": "messaging.actions.dispatch",
    "wake": "messaging.actions.dispatch",
}

__all__ = [
    "ActionRefused",
    "Preview",
    "action_dict",
    "action_runner_job",
    "cancel",
    "dispatch",
    "outcome_text",
    "preview_move",
    "preview_purge",
    "publish_state",
    "reap_interrupted",
    "request_delete",
    "request_move",
    "request_purge",
    "require_confirmation",
    "resume",
    "run_action",
    "selector_for",
    "summary",
    "unreachable_vhost",
    "wake",
]

if TYPE_CHECKING:
    from messaging.actions.dispatch import action_runner_job, dispatch, wake
    from messaging.actions.progress import action_dict, outcome_text, publish_state, summary
    from messaging.actions.requests import (
        Preview,
        cancel,
        preview_move,
        preview_purge,
        request_delete,
        request_move,
        request_purge,
        require_confirmation,
        resume,
    )
    from messaging.actions.runner import reap_interrupted, run_action
    from messaging.actions.selection import selector_for
    from messaging.errors import ActionRefused, unreachable_vhost


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

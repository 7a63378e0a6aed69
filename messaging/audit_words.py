"""Audit entries in words, for the audit page: what was selected and what came of it, built from
the stored ``params`` and ``outcome`` (the entries themselves never change).

- A selection reads ``3 messages by id``, ``all 90 messages``, ``messages of task demo.fail
  older than 60 s``; a target follows as ``→ emails``.
- An outcome counts what was chosen, not the queue: a one-message requeue accepted when 90
  messages waited reads ``accepted as action 12: 1 message by id, of 90 in the queue`` (the
  stored text said ``90 message(s) counted``: the budget the action may look at).
- Other params (task revokes, worker commands, rule edits) read as ``key value`` pairs.
"""

from __future__ import annotations

import re
from typing import Any

from messaging.alerts.rules import format_duration

ACCEPTED = re.compile(r"^accepted as action (\d+): (\d+) message\(s\) counted$")
MORE_IDS = re.compile(r"^\.\.\. (\d+) more$")
#: Params shown elsewhere on the row or only for machines.
HIDDEN_PARAMS = {"selection", "counted", "dry_run", "create_target", "rate", "target"}


def messages(count: int) -> str:
    return f"{count:,} message" if count == 1 else f"{count:,} messages"


def _id_count(ids: list[Any]) -> int:
    """How many ids a stored selection names (long lists are stored cut, ending ``... N more``)."""
    count = 0
    for item in ids:
        more = MORE_IDS.match(item) if isinstance(item, str) else None
        count += int(more.group(1)) if more else 1
    return count


def selection_words(params: Any) -> str:
    """What an action took, in words; ``""`` when the entry holds no selection."""
    if not isinstance(params, dict) or not isinstance(params.get("selection"), dict):
        return ""
    selection = params["selection"]
    counted = params.get("counted")
    if isinstance(selection.get("ids"), list):
        text = f"{messages(_id_count(selection['ids']))} by id"
    elif selection.get("all"):
        text = f"all {messages(counted)}" if isinstance(counted, int) else "all messages"
    elif isinstance(selection.get("filter"), dict):
        text = "messages" + _filter_words(selection["filter"])
    else:
        text = "messages"
    target = params.get("target")
    if target:
        text += f" → {target}"
    if params.get("dry_run"):
        text += " (dry run)"
    return text


def _filter_words(flt: dict[str, Any]) -> str:
    words = []
    if flt.get("task"):
        words.append(f"of task {flt['task']}")
    if flt.get("exception"):
        words.append(f"that failed with {flt['exception']}")
    if isinstance(flt.get("older_than_s"), int | float):
        words.append(f"older than {format_duration(flt['older_than_s'])}")
    return (" " + " ".join(words)) if words else ""


def params_words(params: Any) -> str:
    """The params an entry holds besides its selection, as ``key value`` pairs."""
    if not isinstance(params, dict):
        return "" if params in (None, "") else str(params)
    words = []
    for key, value in params.items():
        if key in HIDDEN_PARAMS or value in (None, "", [], {}):
            continue
        if key == "action":  # the action an entry is about; an accepted one names it in its outcome
            if "selection" not in params:
                words.append(f"action #{value}")
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        words.append(f"{key.replace('_', ' ')} {value}")
    if "target" in params and params["target"] and "selection" not in params:
        words.append(f"→ {params['target']}")
    return "; ".join(words)


def outcome_words(params: Any, outcome: str) -> str:
    """The stored outcome with its counts in words: what was chosen, then the queue's size."""
    accepted = ACCEPTED.match(outcome or "")
    if accepted and isinstance(params, dict) and isinstance(params.get("selection"), dict):
        action_id, counted = accepted.group(1), int(accepted.group(2))
        selection = params["selection"]
        if isinstance(selection.get("ids"), list):
            chosen = f"{messages(_id_count(selection['ids']))} by id, of {counted:,} in the queue"
        elif selection.get("all"):
            chosen = f"all {messages(counted)}"
        else:
            chosen = f"looks through the {messages(counted)} present for those that match"
        return f"accepted as action {action_id}: {chosen}"
    return re.sub(r"\b1 message\(s\)", "1 message", outcome or "").replace("message(s)", "messages")


def kind_words(action: str) -> str:
    """``requeue.finished`` → ``requeue finished``; ``alert_rule.update`` → ``alert rule update``."""
    return action.replace(".", " ").replace("_", " ")

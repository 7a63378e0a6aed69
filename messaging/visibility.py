"""What a role may see of message and task content: the one rule every surface applies (the task
API, the task, tasks and worker pages, the message browser in the API and on pages, the
WebSocket stream).

Roles that may read message bodies (operators and admins, ``console.roles.can_read_bodies``) see
everything. Viewers see no content: arguments, keyword arguments, results, bodies and headers are
null; of an exception they see its type only (``ValueError``), never its message (which carries
whatever the task put in it, card numbers included) nor its traceback. A browsed message keeps its
headers but those that carry content (:data:`CONTENT_HEADERS`). docs/api.md, "Roles".
"""

from __future__ import annotations

import re
from typing import Any

from messaging import dead_letter_headers

#: Fields that carry message content: null for viewers, wherever they appear.
CONTENT_FIELDS = frozenset({"args", "kwargs", "body", "argsrepr", "kwargsrepr", "result", "headers"})
#: Fields that hold an exception's text: viewers get its type only.
EXCEPTION_FIELDS = frozenset({"exception"})
#: Fields that hold an exception's message or traceback: null for viewers.
EXCEPTION_TEXT_FIELDS = frozenset({"traceback", "exception_message"})
#: A message's headers that carry content: Celery's argument reprs, ``x-death`` (the Celery
#: integration records the exception's message and traceback there) and the exception texts of
#: Spring Kafka's and Kafka Connect's dead-letter headers. Left out for viewers.
CONTENT_HEADERS = frozenset({"argsrepr", "kwargsrepr", "x-death"}) | dead_letter_headers.EXCEPTION_TEXT_HEADERS

MAX_TYPE_CHARS = 255
# A repr: "ValueError('...')", "module.Error: ...", "<module.Error object at 0x...>", or the bare name.
_EXCEPTION_TYPE = re.compile(r"\s*(<?)([^\W\d][\w.]*)(?:\(|:|$|(?<=\w) object at )")


def exception_type_only(text: Any) -> str | None:
    """The exception type named at the start of an exception's text (Celery events carry its
    repr: ``ValueError('bad card 4111-...')`` gives ``ValueError``); None when there is no text or
    it does not start with a type (a custom repr could start with the message itself)."""
    if not isinstance(text, str) or not text:
        return None
    match = _EXCEPTION_TYPE.match(text)
    if match is None:
        return None
    opened, name = match.groups()
    if opened and not match.group(0).endswith(" object at "):
        return None
    return name[:MAX_TYPE_CHARS]


def for_viewer(value: Any) -> Any:
    """``value`` (a task, a stream event's data, a worker's task list: dicts and lists at any
    depth) as a viewer may see it. Never changes ``value``; returns a copy where anything differs."""
    if isinstance(value, dict):
        return {key: _field_for_viewer(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [for_viewer(item) for item in value]
    return value


def _field_for_viewer(key: str, value: Any) -> Any:
    if key in CONTENT_FIELDS or key in EXCEPTION_TEXT_FIELDS:
        return None
    if key in EXCEPTION_FIELDS:
        return exception_type_only(value) if isinstance(value, str) else for_viewer(value)
    return for_viewer(value)


def for_role(value: Any, reads_bodies: bool) -> Any:
    """``value`` unchanged for a role that reads bodies, else :func:`for_viewer`."""
    return value if reads_bodies else for_viewer(value)


def task_for_role(task: dict[str, Any], reads_bodies: bool) -> dict[str, Any]:
    """A task (API row, stream summary, timeline entry) as the role may see it."""
    return for_role(task, reads_bodies)


def message_for_viewer(message: dict[str, Any]) -> dict[str, Any]:
    """A browsed message (``DecodedMessage.as_dict()``) as a viewer may see it: no arguments,
    keyword arguments or body, its headers but :data:`CONTENT_HEADERS`, and of its dead-lettering
    record (``death``) the exception's type but not its message or traceback. Never changes
    ``message``."""
    headers = message.get("headers")
    death = message.get("death")
    return {
        **message,
        "args": None,
        "kwargs": None,
        "body": None,
        **({"key": None} if "key" in message else {}),
        "headers": {k: v for k, v in headers.items() if k not in CONTENT_HEADERS} if isinstance(headers, dict) else {},
        "death": {**death, **dict.fromkeys(EXCEPTION_TEXT_FIELDS)} if isinstance(death, dict) else death,
    }

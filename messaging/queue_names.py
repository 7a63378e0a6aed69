"""What a queue name says about the queue, and the form it is stored and shown in. Pure, no I/O.

Celery's plumbing lives beside the user's queues on every broker: event queues
(``celeryev.<uuid>``, one per event consumer), worker mailboxes (``<hostname>.celery.pidbox``)
and one short-lived reply queue per inspecting client (``<oid>.reply.celery.pidbox``).
Switchyard's own event queues carry :data:`OWN_EVENT_QUEUE_PREFIX`
(``messaging.celery.apps`` sets Celery's ``event_queue_prefix`` to it).
"""

from __future__ import annotations

import hashlib
from enum import Enum

#: Celery's ``event_queue_prefix`` for Switchyard's own apps, so its queues are told from others'.
OWN_EVENT_QUEUE_PREFIX = "celeryev.switchyard"
EVENT_QUEUE_PREFIX = "celeryev."
MAILBOX_SUFFIX = ".pidbox"
REPLY_MARK = ".reply."
#: ``Queue.name``'s column length.
MAX_NAME_LENGTH = 1024


class QueueRole(Enum):
    WORK = "work"  # the user's queue: listed
    SYSTEM = "system"  # Celery plumbing of other clients (events, mailboxes): listed on request
    TRANSIENT = "transient"  # a reply queue that lives for one inspection: never stored
    OWN = "own"  # Switchyard's own plumbing: never stored


def queue_role(name: str) -> QueueRole:
    if name.startswith(OWN_EVENT_QUEUE_PREFIX + "."):
        return QueueRole.OWN
    if name.endswith(MAILBOX_SUFFIX):
        return QueueRole.TRANSIENT if REPLY_MARK in name else QueueRole.SYSTEM
    if name.startswith(EVENT_QUEUE_PREFIX):
        return QueueRole.SYSTEM
    return QueueRole.WORK


def storable_name(name: str) -> tuple[str, bool]:
    """``(name as stored and shown, whether it had to be escaped)``.

    A name every database can hold comes back unchanged. Otherwise the result is stable (the same
    name always gives the same text, so its row and history carry on) and readable: bytes that
    are not UTF-8 (kept by the adapters as surrogate escapes) read ``\\xff``, NUL reads ``\\x00``
    (PostgreSQL text cannot hold it), and a name past the column length is cut and ends with
    ``…`` and a digest of the whole name. Escaping is one-way: the stored text does not address
    the broker's queue (a message browse finds nothing there).
    """
    if name.isascii() and "\x00" not in name and len(name) <= MAX_NAME_LENGTH:
        return name, False  # nearly every name: no surrogate can be in ASCII text (a per-character scan cost 20 us)
    escaped = False
    if "\x00" in name or any("\udc80" <= ch <= "\udcff" for ch in name):
        raw = name.encode("utf-8", "surrogateescape")
        name = raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
        escaped = True
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(name.encode("utf-8", "backslashreplace")).hexdigest()[:12]  # noqa: S324
        name = name[: MAX_NAME_LENGTH - 14] + "…" + digest
        escaped = True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # other lone surrogates (not from bytes): escape them too
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
        escaped = True
    return name, escaped

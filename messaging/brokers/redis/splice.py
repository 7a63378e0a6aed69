"""Adding provenance headers to a stored Kombu envelope without decoding it: the splice.

Requeue throughput on Redis is dominated by JSON work otherwise. Kombu stores
``json.dumps({"body", "content-encoding", "content-type", "headers", "properties"})``, so the added
members can be written as text right after the brace of the top-level ``headers`` object: every
other byte is kept, nothing is parsed or re-encoded. :func:`with_headers` does it in the client
(the per-message path); ``write_lua.BULK_MOVE`` does the same inside Redis for bulk moves
and must give the same bytes: both take the splice point from :data:`KOMBU_HEAD` (the Lua script
mirrors it with string functions) and the members text from :func:`members_text`, and the script
sends to the client every value whose shape it does not recognise, so it never writes a value the
client path would have written differently (``tests/messaging/brokers/test_redis_bulk_move.py``).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from typing import Any

HEADERS_OPEN = b'"headers": {'
#: Kombu's own layout up to the top-level headers brace: ``body``, ``content-encoding`` and
#: ``content-type`` with string values written without a quote inside (base64 bodies are), then
#: a ``headers`` object whose first member follows its brace directly (``json.dumps`` spacing).
#: This ``"headers"`` is a key of the top-level object, proven by position without a parse: in
#: valid JSON a string ends at its first unescaped quote, and had the quote after a value been
#: an escaped one, the quote before the next key name (after ``, ``, so unescaped) would end the
#: string and leave the key name outside any string.
KOMBU_HEAD = re.compile(
    rb'\{"body": "[^"]*", "content-encoding": "[^"]*", "content-type": "[^"]*", '
    rb'"headers": \{(?=")'
)
#: Probes shorter than this are not merged (a short common prefix such as ``"x-switchyard-`` also
#: matches headers the action does not add, e.g. ``x-switchyard-published-at``).
MIN_PROBE = 16


def with_headers(raw: bytes, added: dict[str, Any], has_headers: bool = False) -> bytes:
    """The stored Kombu envelope with ``added`` merged into its headers, or ``raw`` unchanged
    when it is not a JSON envelope (a foreign message keeps its exact bytes).

    The members are spliced in right after the top-level ``"headers": {`` when that position is
    known without a parse: the value starts as :data:`KOMBU_HEAD` says, or the caller parsed the
    envelope and saw non-empty top-level headers (``has_headers``) and ``"headers": {`` occurs
    exactly once (inside a JSON string quotes are escaped, so it is the top-level key) with no
    compact ``"headers":{``. Both need that none of the added keys already occurs (the value would
    then hold a key twice). Any other shape takes the full parse and re-encode.

    A value that starts like Kombu's envelope but is not valid JSON further on gets the members
    spliced too (its other bytes unchanged: it is no less readable than before).
    """
    head = KOMBU_HEAD.match(raw)
    if head is not None:
        at: int | None = head.end()
    elif has_headers and raw[:1] == b"{" and raw.count(HEADERS_OPEN) == 1 and b'"headers":{' not in raw:
        at = raw.index(HEADERS_OPEN) + len(HEADERS_OPEN)
    else:
        at = None
    if at is not None:
        keys, spliced = _splice_text(tuple(added.items()))
        if not any(key in raw for key in keys):
            separator = b"" if raw[at : at + 1] == b"}" else b", "
            return raw[:at] + spliced + separator + raw[at:]
    return _with_headers_parsed(raw, added)


def members_text(added: dict[str, Any]) -> bytes:
    """The added members joined the way ``json.dumps`` writes them (no trailing comma)."""
    return _splice_text(tuple(added.items()))[1]


def absence_probes(added: dict[str, Any]) -> list[bytes]:
    """Texts whose absence from a value proves none of the added keys is in it: each key's JSON
    text without its opening quote, keys sharing a prefix of at least :data:`MIN_PROBE` bytes
    merged into that prefix (fewer scans server-side; a probe may match more than the keys do,
    which only sends a message to the client path)."""
    probes: list[bytes] = []
    for text in sorted(json.dumps(k).encode()[1:] for k in added):
        common = os.path.commonprefix([probes[-1], text]) if probes else b""
        if len(common) >= MIN_PROBE:
            probes[-1] = common
        else:
            probes.append(text)
    return probes


@functools.lru_cache(maxsize=64)
def _splice_text(items: tuple[tuple[str, Any], ...]) -> tuple[list[bytes], bytes]:
    """The quoted added keys (one is already there: no splice) and the added members joined the
    way ``json.dumps`` does."""
    keys = [json.dumps(k).encode() for k, _ in items]
    return keys, b", ".join(k + b": " + json.dumps(v).encode() for k, (_, v) in zip(keys, items))


def _with_headers_parsed(raw: bytes, added: dict[str, Any]) -> bytes:
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return raw
    if not isinstance(envelope, dict) or not isinstance(envelope.get("headers", {}), dict):
        return raw
    envelope.setdefault("headers", {}).update(added)
    return json.dumps(envelope).encode()


def rewritten_value(raw: bytes, rewritten: Any, added: dict[str, Any] | None) -> bytes:
    """The stored Kombu envelope of an edit-then-requeue (``rewritten``: a
    :class:`~messaging.brokers.base.Rewritten`): the new body, encoded as the old one was
    (base64 where ``body_encoding`` says so), the new headers plus ``added``. ``raw`` unchanged
    when ``rewritten`` is None or ``raw`` is not an envelope."""
    if rewritten is None:
        return raw
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw
    if not isinstance(envelope, dict) or "body" not in envelope:
        return raw
    properties = envelope.get("properties") if isinstance(envelope.get("properties"), dict) else {}
    if properties.get("body_encoding") == "base64":
        envelope["body"] = base64.b64encode(rewritten.body).decode("ascii")
    else:
        envelope["body"] = rewritten.body.decode("utf-8")
    envelope["headers"] = {**rewritten.headers, **(added or {})}
    return json.dumps(envelope).encode()

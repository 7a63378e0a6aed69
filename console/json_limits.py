"""Limits on JSON from clients, checked before ``json.loads`` sees it.

Python's JSON decoder recurses once per nested list or object, so a body of 100,000 nested lists
ends in ``RecursionError`` (a 500, and a thread's stack spent) rather than a parse error. The check
here is linear, never recurses, and runs on the raw text: brackets inside strings do not count.
"""

from __future__ import annotations

import re
from itertools import accumulate

# Deeper than any body the API documents (filters, ids, control arguments are two or three levels).
MAX_JSON_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_nesting_error(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``text`` nests too deeply to be parsed, or None. Malformed JSON (unbalanced brackets,
    an unterminated string) is left for the parser to refuse; only depth is judged here."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", "replace")
    if text.count("[") + text.count("{") <= max_depth:
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    deepest = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if deepest > max_depth:
        return f"the JSON nests {deepest} levels deep; at most {max_depth} are accepted"
    return None

"""Header and property values as the types Switchyard reads them as, from whatever a client put
there: a wrong type, a bool where a number belongs, NaN, an overflowing integer or an exotic
date encoding gives None, never an exception. Pure functions, for :mod:`messaging.decoding`."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def as_text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int | None:
    """An integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    """A finite number, from a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_timestamp(value: Any) -> float | None:
    """Epoch seconds from a datetime or a number, else None."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict) and "$date" in value:  # never mind exotic encodings
        return None
    return as_float(value)

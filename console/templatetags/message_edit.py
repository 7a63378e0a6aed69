"""``as_json``: a decoded value as indented JSON text, for the edit form's textareas (escaped by
the template like any text)."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)

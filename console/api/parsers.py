"""The API's JSON parser: DRF's, with the body's size and nesting checked before it is decoded."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from console.json_limits import json_nesting_error


class BoundedJSONParser(JSONParser):
    """Refuses (400) a body over ``SWITCHYARD_MAX_JSON_BODY_BYTES`` or nested deeper than
    :data:`~console.json_limits.MAX_JSON_DEPTH`, without decoding it."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.SWITCHYARD_MAX_JSON_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"the body is over {limit} bytes")
        problem = json_nesting_error(raw)
        if problem:
            raise ParseError(problem)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # belt and braces: the check above should make this unreachable
            raise ParseError("the JSON nests too deeply") from None

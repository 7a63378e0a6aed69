"""Logging filters: broker passwords and API tokens hidden, whatever logged them; expected refusals
logged as one line."""

from __future__ import annotations

import logging
import re

from messaging.brokers.urls import redact_urls_in

_TOKEN = re.compile(r"swy_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """``text`` with URL passwords (:func:`messaging.brokers.urls.redact_urls_in`) and API
    tokens hidden."""
    return _TOKEN.sub("swy_****", redact_urls_in(text))


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not lose the record
            return True
        redacted = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RefusalWithoutTracebackFilter(logging.Filter):
    """Django logs a refused request (403 from ``PermissionDenied``) with the exception's stack:
    a role that may not do something is an expected answer, not a fault, so it keeps its one
    ``Forbidden: /path`` line and loses the traceback (which would also read as an error in the
    code that refused)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and getattr(record, "status_code", None) in (401, 403, 404, 405):
            record.exc_info = None
            record.exc_text = None
        return True

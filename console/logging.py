"""A logging filter that hides broker passwords and API tokens, whatever logged them."""

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

"""Who sees what of a webhook: the one rule the API, the pages and the audit log apply.

Webhook URLs carry their secret in the path (Slack's ``/services/T…/B…/<secret>``) or the query
(``?code=``) as often as in the password, so admins see a URL whole (its password replaced) and
everyone else its scheme and host only. A delivery's last error may quote the receiver's reply,
which can describe its internals: admins see it whole, everyone else its kind ("HTTP 500"). The
audit log is read by every viewer, so it records scheme and host only.
"""

from __future__ import annotations

from messaging.alerts.http import error_kind, url_origin
from messaging.brokers.urls import redact_url


def shown_webhook_url(url: str, admin: bool) -> str | None:
    """A webhook URL as ``admin`` (or not) may see it; None when there is none."""
    if not url:
        return None
    return redact_url(url) if admin else url_origin(url)


def shown_delivery_error(error: str, admin: bool) -> str:
    """A delivery's last error as ``admin`` (or not) may see it."""
    return error if admin else error_kind(error)


def audited_webhook_url(url: str) -> str | None:
    """A webhook URL as the audit log records it (every viewer reads it): scheme and host."""
    return url_origin(url) if url else None


def kept_webhook_url(submitted: str, stored: str) -> str:
    """The URL to store when an admin submits ``submitted`` for a rule holding ``stored``: the
    redacted form shown to admins, sent back unchanged, keeps the stored URL (with its password)."""
    if stored and submitted == redact_url(stored):
        return stored
    return submitted

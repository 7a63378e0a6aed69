"""Broker and webhook URLs as they may be shown: the one place passwords are hidden.

``redact_url`` for a URL on its own (pages, the API, logs), ``scrub_secret`` for a text that may
quote a known URL or its password (error messages), ``redact_urls_in`` for any text that may
quote URLs nobody told us about (log records, Kombu errors). Over-redaction is accepted: a short
password may hide other text too, never the reverse.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "****"

# ``scheme://user:password@`` anywhere in a text; the password runs to the first ``@`` (it may
# hold ``/`` when the URL was written without percent-encoding it).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def redact_urls_in(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it hidden."""
    return _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)


def scrub_secret(text: str, url: str) -> str:
    """``text`` (e.g. an error message) with the password of ``url`` hidden, however quoted.

    Over-redaction is accepted: a short password may hide other text too, never the reverse.
    """
    if "://" in url:
        text = text.replace(url, redact_url(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, MASK)
    return text


_SECRET_PARAM = re.compile(
    r"(?i)(.*[_-])?(token|key|apikey|secret|password|passwd|pwd|sig|signature|auth|credentials?)"
)  # noqa: E501


def _redact_query(query: str) -> str:
    """Query parameters that look like credentials (``?token=``, ``?api_key=``, ``?sig=``) hidden."""
    pairs = []
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        pairs.append(f"{name}=****" if sep and value and _SECRET_PARAM.fullmatch(name) else pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for pages, logs and API answers."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.query:
        parts = parts._replace(query=_redact_query(parts.query))
    if parts.password is None:
        return urlunsplit(parts)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:****@{host}" if user else f":****@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

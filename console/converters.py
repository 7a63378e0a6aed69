"""URL converters for names Switchyard does not choose.

``text``: any characters but NUL, "/" and newlines included. A Celery worker's hostname is whatever
its ``-n`` (or a stranger's event) said, and a task id whatever its publisher chose; NUL never
reaches a URL (stored as U+FFFD). Django's ``str`` stops at "/" and ``path`` at a newline: one such
worker or task made every link to it unreversible, and the Workers or Tasks page a 500."""

from __future__ import annotations

from django.urls import register_converter
from django.urls.converters import PathConverter


class TextConverter(PathConverter):
    regex = r"[\s\S]+"


register_converter(TextConverter, "text")

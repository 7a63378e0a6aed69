"""URL converters for names Switchyard does not choose.

``hostname``: a Celery worker's hostname is whatever its ``-n`` (or a stranger's event) said:
``/`` included, and any character but NUL (stored as U+FFFD). Django's ``path`` converter stops at
a newline, so one such worker made every link to it unreversible and the Workers page a 500."""

from __future__ import annotations

from django.urls import register_converter
from django.urls.converters import PathConverter


class HostnameConverter(PathConverter):
    regex = r"[\s\S]+"


register_converter(HostnameConverter, "hostname")

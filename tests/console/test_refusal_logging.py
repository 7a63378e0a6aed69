"""A refused request is logged as one line; a server error keeps its traceback."""

from __future__ import annotations

import io
import logging

from django.test import Client

from console.logging import RedactSecretsFilter, RefusalWithoutTracebackFilter


def _django_request_log() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RefusalWithoutTracebackFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("django.request").addHandler(handler)
    return stream, handler


def test_a_viewer_refused_by_a_page_logs_one_line_without_a_traceback(make_user):
    viewer, _ = make_user("viewer")
    client = Client()
    client.force_login(viewer)
    stream, handler = _django_request_log()
    try:
        assert client.get("/users/").status_code == 403
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    logged = stream.getvalue()
    assert "Forbidden (Permission denied): /users/" in logged
    assert "Traceback" not in logged and "PermissionDenied" not in logged


def test_a_server_error_keeps_its_traceback():
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    record.status_code = 500
    RefusalWithoutTracebackFilter().filter(record)
    assert record.exc_info is not None


def test_the_console_log_handler_uses_the_refusal_filter(settings):
    filters = settings.LOGGING["filters"]
    used = settings.LOGGING["handlers"]["console"]["filters"]
    assert any(filters[name]["()"].endswith("RefusalWithoutTracebackFilter") for name in used)

"""An action's answer tells the page what happened twice: the result line it swaps in, and a
``toast`` event in ``HX-Trigger`` that the page shows in its toast area."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import escape

from console.pages.toasts import TOAST_CHARS, with_toast
from messaging.models import TaskRecord, Worker

HTMX = {"HTTP_HX_REQUEST": "true"}
HOSTILE_HOST = 'w<img src=x onerror="alert(1)">\r\nSet-Cookie: x=1@host'


@pytest.fixture
def rows(db):
    now = timezone.now()
    Worker.objects.create(broker="nowhere", hostname=HOSTILE_HOST, status="online", last_heartbeat=now)
    TaskRecord.objects.create(
        task_id="t1", broker="nowhere", name="demo.add", state="STARTED", created_at=now, updated_at=now
    )


def _toast(response) -> dict:
    header = response["HX-Trigger"]
    assert "\n" not in header and "\r" not in header and header.isascii()
    return json.loads(header)["toast"]


def test_a_refused_worker_command_answers_with_an_error_toast_and_the_result_line(rows, client, make_user):
    client.force_login(make_user("admin")[0])
    url = f"/workers/nowhere/{quote(HOSTILE_HOST, safe='@')}/control/"
    response = client.post(url, {"command": "shutdown", "confirm": "wrong"}, **HTMX)
    assert response.status_code == 200
    toast = _toast(response)
    assert toast["level"] == "error" and "confirm" in toast["message"]
    assert response.content.decode().startswith('<output id="action-result" class="status-down"')
    assert escape(toast["message"]) in response.content.decode()


def test_a_failed_revoke_answers_with_an_error_toast(rows, client, make_user):
    client.force_login(make_user("operator")[0])
    response = client.post("/tasks/t1/revoke/", **HTMX)
    toast = _toast(response)
    assert toast == {"message": toast["message"], "level": "error"}
    assert toast["message"].startswith("Revoke failed:")


def test_a_toast_keeps_anyones_text_verbatim_on_one_header_line_and_cuts_it_short():
    hostile = '<img src=x onerror="alert(1)">\r\nSet-Cookie: x=1 ünïcode '
    response = with_toast(HttpResponse("result"), hostile + "q" * 1000, ok=True)
    toast = _toast(response)
    assert toast["level"] == "success" and len(toast["message"]) == TOAST_CHARS
    assert toast["message"].startswith(hostile) and toast["message"].endswith("…")
    assert response.content == b"result"

"""GET /api/v1/journeys/{task_id} and the journey page: unknown ids 404, viewers see no content,
everything shown escaped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from messaging.models import JourneyMark, TaskRecord

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>"


def make_task(task_id: str, **fields) -> TaskRecord:
    now = timezone.now()
    values = {"broker": "b", "name": "shop.charge", "state": "SUCCESS", "queue": "orders", "created_at": now}
    return TaskRecord.objects.create(task_id=task_id, updated_at=now, **{**values, **fields})


def get(client, path, token):
    return client.get(path, HTTP_AUTHORIZATION=f"Token {token}")


def test_unknown_task_is_404_and_login_is_required(client, make_user):
    _, token = make_user("viewer")
    assert get(client, f"/api/v1/journeys/{uuid.uuid4()}", token).status_code == 404
    assert client.get(f"/api/v1/journeys/{uuid.uuid4()}").status_code in (401, 403)


def test_viewer_sees_the_exception_type_but_no_message(client, make_user):
    task_id = uuid.uuid4().hex
    events = [
        {"type": "received", "at": 1.0, "hostname": "w1"},
        {"type": "failed", "at": 2.0, "hostname": "w1", "exception": "ValueError('card 4111 declined')"},
    ]
    make_task(task_id, state="FAILURE", events=events, args="['4111']")
    _, viewer = make_user("viewer")
    _, operator = make_user("operator")
    seen = get(client, f"/api/v1/journeys/{task_id}", viewer).json()
    failed = next(s for s in seen["steps"] if s["kind"] == "failed")
    assert failed["detail"]["exception"] == "ValueError"
    assert "4111" not in str(seen)
    full = get(client, f"/api/v1/journeys/{task_id}", operator).json()
    assert "card 4111 declined" in str(full)


def test_marks_alone_make_a_journey_and_the_page_escapes_them(client, make_user):
    task_id = f"id-{uuid.uuid4().hex}"
    JourneyMark.objects.create(
        task_id=task_id,
        at=datetime(2030, 1, 1, tzinfo=UTC),
        kind="requeued",
        place=HOSTILE,
        by=HOSTILE,
        action=3,
        detail={"action": 3, "to": HOSTILE},
    )
    user, token = make_user("viewer")
    journey = get(client, f"/api/v1/journeys/{task_id}", token).json()
    assert [s["kind"] for s in journey["steps"]] == ["requeued"]
    client.force_login(user)
    page = client.get(f"/journeys/{task_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert client.get(f"/journeys/{uuid.uuid4()}/").status_code == 404

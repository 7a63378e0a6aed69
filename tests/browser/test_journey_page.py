"""The journey page in a real browser: reached from the task page, steps in order, the family
tree, hostile task data shown as text (no script runs)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def test_journey_page_tells_the_story_from_the_task_page(live_console, logged_in_page):
    from messaging.models import JourneyMark, TaskRecord

    now, root, task_id = timezone.now(), f"r-{uuid.uuid4().hex}", f"t-{uuid.uuid4().hex}"
    events = [
        {"type": "sent", "at": 100.0, "hostname": "api@h"},
        {"type": "received", "at": 101.0, "hostname": HOSTILE},
        {"type": "started", "at": 101.1, "hostname": HOSTILE},
        {"type": "failed", "at": 101.2, "hostname": HOSTILE, "exception": f"ValueError('{HOSTILE}')"},
        {"type": "received", "at": 300.0, "hostname": "w2"},
        {"type": "started", "at": 300.1, "hostname": "w2"},
        {"type": "succeeded", "at": 300.2, "hostname": "w2"},
    ]
    common = {"broker": "main", "created_at": now, "updated_at": now, "root_id": root}
    TaskRecord.objects.create(task_id=root, name="saga.reserve", state="SUCCESS", **common)
    TaskRecord.objects.create(task_id=task_id, name=HOSTILE, state="SUCCESS", parent_id=root, events=events, **common)
    JourneyMark.objects.create(
        task_id=task_id,
        at=datetime.fromtimestamp(200, UTC),
        kind="requeued",
        place="orders.dlq",
        by="olivia",
        action=4,
        detail={"action": 4, "to": HOSTILE},
    )
    console = live_console(monitor=False)
    page = logged_in_page(console, "viewer")
    page.goto(f"{console.url}/tasks/{task_id}/")
    page.click("#journey-link")
    page.wait_for_selector("#journey-steps tbody tr")
    kinds = page.locator("#journey-steps tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds == ["sent", "received", "started", "failed", "requeued", "received", "started", "succeeded"]
    assert HOSTILE in page.locator("#journey-steps").inner_text()
    assert "ValueError" in page.locator("#journey-steps").inner_text()
    assert page.locator("#journey-saga").inner_text().startswith("saga.reserve")
    assert page.evaluate("window.__pwned") is None and not page.problems

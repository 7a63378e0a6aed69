"""An action's outcome shows as a toast in a real browser: from the answer's HX-Trigger event, as
text (a name that looks like HTML stays text), dismissable, and gone after a while."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import TaskRecord

pytestmark = pytest.mark.browser

HOSTILE_BROKER = "<img src=x onerror=window.__injected=1>"


def test_a_revoke_outcome_shows_as_a_text_toast(live_console, logged_in_page):
    now = timezone.now()
    TaskRecord.objects.create(
        task_id="t-toast", broker=HOSTILE_BROKER, name="demo.add", state="STARTED", created_at=now, updated_at=now
    )
    console = live_console(monitor=False)
    page = logged_in_page(console, "operator")
    page.goto(console.url + "/tasks/t-toast/")
    page.click("button:has-text('Revoke')")

    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1, timeout=10_000)
    expect(toast).to_have_class("toast toast-error")
    expect(toast).to_contain_text(f"Revoke failed: broker '{HOSTILE_BROKER}' is not configured")
    # The same outcome stays on the page as the result line.
    expect(page.locator("#action-result")).to_contain_text("Revoke failed")
    assert page.locator("#toasts img").count() == 0
    assert page.evaluate("window.__injected") is None

    toast.locator("button").click()
    expect(toast).to_have_count(0)
    assert page.problems == []

"""Live reloads of a page part are never lost to a request already on its way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging.config import SwitchyardConfig
from tests.browser.holding import count_requests, hold_first_request

pytestmark = pytest.mark.browser


def test_a_reload_asked_while_one_is_on_its_way_is_made_after_it(live_console, logged_in_page):
    """htmx holds a second request of an element and drops it once the first response replaced
    the element (hx-swap outerHTML); live.js asks the new element again."""
    console = live_console(SwitchyardConfig(brokers=()), monitor=False)
    page = logged_in_page(console, "viewer")
    page.goto(console.url + "/tasks/")
    # Quiet first: the page reloads its parts once when its socket opens.
    page.locator("#live-badge.live").wait_for(timeout=15000)
    expect(page.locator("#task-table")).not_to_have_class(re.compile(r"htmx-(request|swapping|settling|added)"))
    page.wait_for_timeout(500)
    count_requests(page, "task-table")
    held = hold_first_request(page, r".*/tasks/.*", "task-table")
    page.evaluate("SwitchyardLive.reload(document.getElementById('task-table'))")
    expect(page.locator("#task-table")).to_have_class(re.compile(r"\bhtmx-request\b"))
    page.evaluate("SwitchyardLive.reload(document.getElementById('task-table'))")
    page.evaluate("SwitchyardLive.reload(document.getElementById('task-table'))")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__reloads") == 1 and len(held) == 1
    held[0].continue_()

    expect(page.locator("#task-table")).not_to_have_class(re.compile(r"\bhtmx-request\b"), timeout=10000)
    page.wait_for_timeout(1000)
    assert page.evaluate("window.__reloads") == 2  # the two asked meanwhile are one reload, made after
    assert [p for p in page.problems if "favicon" not in p] == []

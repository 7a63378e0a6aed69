"""The users flow in a real browser (Debian's chromium): an admin finds Users in the navigation,
creates a viewer with a generated password, and that viewer logs in with it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import unique

pytestmark = pytest.mark.browser


def test_admin_creates_a_viewer_who_logs_in_with_the_generated_password(live_console, logged_in_page, browser):
    console = live_console(monitor=False)
    page = logged_in_page(console, "admin")
    page.click("nav >> text=Users")
    page.wait_for_url(console.url + "/users/")
    username = unique("browser-viewer")
    page.fill("input[name=username]", username)
    page.select_option("select[name=role]", "viewer")
    page.click("button:has-text('Create user')")
    secret = page.locator("code[data-secret]")
    expect(secret).to_have_count(1)
    password = secret.inner_text().strip()
    expect(page.locator(f"tr[data-username='{username}']")).to_contain_text("viewer")
    assert page.problems == []

    context = browser.new_context()
    try:
        viewer = context.new_page()
        viewer.goto(console.url + "/login/")
        viewer.fill("input[name=username]", username)
        viewer.fill("input[name=password]", password)
        viewer.click("button[type=submit]")
        viewer.wait_for_url(console.url + "/", wait_until="domcontentloaded")
        expect(viewer.locator(".who")).to_contain_text(f"{username} · viewer")
        assert viewer.locator("nav >> text=Users").count() == 0
    finally:
        context.close()

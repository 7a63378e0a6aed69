"""Every main page works on a phone and a laptop: nothing widens the page (wide tables scroll in
their own box), every navigation link can be reached (behind the Menu button on a phone), no console
errors, and the icon loads. Screenshots of every page go to a temporary directory (or
``SWITCHYARD_SCREENSHOTS``), never into the repository, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.action_helpers import push
from tests.conftest import REDIS_URL
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def _screenshot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("SWITCHYARD_SCREENSHOTS") or tmp_path / "screens")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _pages(queue_id: int, broker: str, task_id: str) -> list[tuple[str, str]]:
    return [
        ("overview", "/"),
        ("dead-letters", "/?dlq=true"),
        ("queue", f"/queues/{queue_id}/"),
        ("in-flight", f"/brokers/{broker}/in-flight/"),
        ("workers", "/workers/"),
        ("tasks", "/tasks/"),
        ("task", f"/tasks/{task_id}/"),
        ("alerts", "/alerts/"),
        ("alert-rules", "/alerts/rules/"),
        ("audit", "/audit/"),
        ("users", "/users/"),
        ("tokens", "/account/tokens/"),
        ("api-docs", "/docs/api/"),
    ]


def _assert_page_fits(page, label: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        page.screenshot(path=str(page.screens / f"overflow-{label.replace(' ', '-')}.png"), full_page=True)
    assert widths[0] <= widths[1], f"{label}: the page is {widths[0]} px wide in a {widths[1]} px window: " + str(
        page.evaluate(WIDEST)
    )


# The elements that reach past the window's right edge, innermost first: what to fix.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .reverse().slice(0, 4)
  .map(el => el.tagName + '.' + el.className + ' right=' + Math.round(el.getBoundingClientRect().right))"""


def _assert_navigation_reachable(page, label: str, phone: bool) -> None:
    toggle = page.locator(".nav-toggle")
    if phone:
        assert toggle.is_visible(), f"{label}: no menu button on a phone"
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not page.locator(".topbar nav a").first.is_visible(), f"{label}: the menu is open before a click"
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
    else:
        assert not toggle.is_visible(), f"{label}: a menu button on a wide screen"
    width = page.evaluate("window.innerWidth")
    reachable = page.locator(".topbar nav a").all() + [
        page.locator("#live-badge"),
        page.locator(".who a"),
        page.locator(".topbar button:has-text('Log out')"),
    ]
    assert len(reachable) >= 10
    for item in reachable:
        box = item.bounding_box()
        name = item.inner_text()
        assert item.is_visible() and box is not None, f"{label}: {name!r} is hidden"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{label}: {name!r} is off screen at x={box['x']}"
    if phone:
        page.screenshot(path=str(page.screens / f"{label.replace(' ', '-')}-menu.png"))
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false"


def test_every_page_fits_a_phone_and_a_laptop(live_console, logged_in_page, browser, redis_space, tmp_path):
    from messaging.models import Queue, TaskRecord

    # Long names, as real deployments have them: they must not widen the page.
    queue_name = redis_space.name("billing.invoices.render-pdf-and-send-to-customer")
    push(redis_space.client, redis_space.prefix + queue_name, [b'{"body": "hello"}'] * 3)
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(
                name="main", url=REDIS_URL, queues=(queue_name,), options={"global_keyprefix": redis_space.prefix}
            ),
        )
    )
    now = timezone.now()
    task_id = "layout-task-0f8c2b9e-6a7d-4f51-9a3e-2d1c0b7a6e54"
    TaskRecord.objects.create(
        task_id=task_id,
        broker="main",
        name="billing.invoices.render_pdf_and_send_to_customer",
        state="FAILURE",
        created_at=now,
        updated_at=now,
    )
    console = live_console(config, interval=0.5)
    queue = wait_for(lambda: Queue.objects.filter(broker="main", name=queue_name, depth=3).first(), message="sampled")
    page = logged_in_page(console, "admin")
    screens = page.screens = _screenshot_dir(tmp_path)
    print(f"\nscreenshots: {screens}")

    for viewport_name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        for name, path in _pages(queue.pk, "main", task_id):
            label = f"{name} at {viewport['width']}x{viewport['height']}"
            response = page.goto(console.url + path, wait_until="load")
            assert response is not None and response.status == 200, f"{label}: HTTP {response and response.status}"
            if name == "queue":
                page.wait_for_selector("#queue-chart canvas, #queue-chart .u-wrap", timeout=10_000)
                page.wait_for_selector("#message-browser tr.message-row", timeout=10_000)
            page.wait_for_timeout(300)
            _assert_page_fits(page, label)
            icon = page.locator("link[rel=icon]").get_attribute("href")
            assert icon, f"{label}: no icon link"
            assert page.request.get(console.url + icon).status == 200, f"{label}: icon {icon} not served"
            page.screenshot(path=str(screens / f"{viewport_name}-{name}.png"), full_page=True)
            _assert_navigation_reachable(page, label, phone=viewport is PHONE)
            assert page.problems == [], f"{label}: {page.problems}"

    # The dark theme (prefers-color-scheme) on the busiest page, for a person to look at.
    page.set_viewport_size(LAPTOP)
    page.emulate_media(color_scheme="dark")
    page.goto(f"{console.url}/queues/{queue.pk}/")
    page.wait_for_selector("#queue-chart canvas", timeout=10_000)
    page.screenshot(path=str(screens / "laptop-queue-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)

    # The pages around the console: an unknown address, and the sign-in page before anyone logs in.
    response = page.goto(console.url + "/no-such-page/")
    assert response is not None and response.status == 404
    _assert_page_fits(page, "404 at 390x844")
    assert page.locator("link[rel=icon]").count() == 1
    page.screenshot(path=str(screens / "phone-404.png"), full_page=True)
    # The one expected problem: chromium logs the 404 of the document itself.
    assert [p for p in page.problems if "404" not in p] == [], page.problems
    page.problems.clear()
    anonymous = browser.new_context(viewport=PHONE)
    try:
        login = anonymous.new_page()
        login.screens = screens
        login.goto(console.url + "/login/")
        _assert_page_fits(login, "login at 390x844")
        assert login.locator("link[rel=icon]").count() == 1
        login.screenshot(path=str(screens / "phone-login.png"), full_page=True)
    finally:
        anonymous.close()

    # A fragment opened in its own tab has no icon link: the browser's /favicon.ico finds one.
    page.goto(f"{console.url}/queues/{queue.pk}/messages/")
    favicon = page.request.get(console.url + "/favicon.ico")
    assert favicon.status == 200 and "svg" in favicon.headers["content-type"]
    assert page.problems == [], page.problems

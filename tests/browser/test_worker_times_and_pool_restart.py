"""On the workers page a server-rendered time and a live-updated one read the same: 24-hour
HH:MM:SS in the browser's time zone, the full ISO time on hover. The worker page's pool restart
button reports what the worker answered (here: pool restarts are not enabled)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.config import SwitchyardConfig
from messaging.models import TaskRecord, Worker
from tests.celery_helpers import redis_env
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.celery]

# Not UTC and not a whole hour away from it: a time left in UTC, or formatted twice, shows.
BROWSER_ZONE = "Asia/Kolkata"


def expected_clock(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(BROWSER_ZONE)).strftime("%H:%M:%S")


def login(browser, console, make_user, role: str):
    user, _ = make_user(role, password="browser-pass-1")
    context = browser.new_context(timezone_id=BROWSER_ZONE, locale="en-US")
    page = context.new_page()
    page.problems = []
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
    page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
    page.goto(console.url + "/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "browser-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/", wait_until="domcontentloaded")
    return context, page


def test_live_and_server_rendered_times_share_one_format_and_pool_restart_reports_the_answer(
    live_console, browser, make_user, settings
):
    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0
    env = redis_env()
    context = None
    try:
        console = live_console(config=SwitchyardConfig(brokers=(env.broker_config(),)), interval=0.5)
        hostname, _ = env.start_worker("clock", pool="prefork")
        watch = console.monitor.celery.watches["default"]
        wait_for(lambda: watch.counters.connected, timeout=20, message="event capture")
        wait_for(
            lambda: Worker.objects.filter(hostname=hostname).exclude(last_heartbeat=None).exclude(pool="").exists(),
            timeout=30,
            message="the worker's first heartbeat and inspection",
        )
        # A worker gone quiet ten minutes ago: its row is only ever server-rendered.
        Worker.objects.create(
            broker="default", hostname="quiet@elsewhere", status="offline",
            last_heartbeat=timezone.now() - timedelta(minutes=10),
        )  # fmt: skip

        context, page = login(browser, console, make_user, "admin")
        page.goto(console.url + "/workers/")
        page.wait_for_selector("#live-badge.live", timeout=10_000)
        live_cell = f"tr[data-worker='{hostname}'] time[data-field='last_heartbeat']"
        quiet_cell = "tr[data-worker='quiet@elsewhere'] time[data-field='last_heartbeat']"
        page.wait_for_selector(live_cell)

        def updated_in_place() -> bool:
            """True once a heartbeat rewrote the probed cell (a table reload would replace it)."""
            return page.evaluate(
                """(sel) => {
                    const el = document.querySelector(sel);
                    if (!el) return false;
                    if (el.dataset.probe !== "1") {
                        el.dataset.probe = "1";
                        el.dataset.before = el.title;
                        return false;
                    }
                    return el.title !== el.dataset.before;
                }""",
                live_cell,
            )

        wait_for(updated_in_place, timeout=30, interval=0.2, message="a live heartbeat update of the row")
        read = "el => ({text: el.textContent, title: el.title, probe: el.dataset.probe})"
        live = page.eval_on_selector(live_cell, read)
        quiet = page.eval_on_selector(quiet_cell, read)
        assert live["probe"] == "1"  # the same element, rewritten by the live update
        for shown in (live, quiet):
            assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", shown["text"]), shown
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", shown["title"]), shown
            assert shown["text"] == expected_clock(shown["title"]), shown
        quiet_at = Worker.objects.get(hostname="quiet@elsewhere").last_heartbeat
        assert abs(datetime.fromisoformat(quiet["title"].replace("Z", "+00:00")) - quiet_at) < timedelta(seconds=1)

        # Pool restart from the worker page: the worker runs without worker_pool_restarts.
        page.goto(console.url + f"/workers/default/{hostname}/")
        form = page.locator("form:has(input[name=command][value=pool_restart])")
        form.locator("input[name=confirm]").fill(hostname)
        form.locator("button").click()
        result = page.locator("#action-result")
        expect(result).to_contain_text("pool_restart: error", timeout=10_000)
        expect(result).to_contain_text("Pool restarts not enabled")
        expect(result).to_have_class("status-down")
        heartbeat = page.locator("#worker-detail time[data-field='last_heartbeat']")
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", heartbeat.text_content())

        # A task's times keep their milliseconds, in the same clock.
        received = timezone.now().replace(microsecond=123456)
        TaskRecord.objects.create(
            task_id="t-clock", broker="default", name="demo.add", state="RECEIVED", received_at=received,
            created_at=received, updated_at=received,
        )  # fmt: skip
        page.goto(console.url + "/tasks/t-clock/")
        shown = page.eval_on_selector("dd time[data-clock]", "el => ({text: el.textContent, title: el.title})")
        local = received.astimezone(ZoneInfo(BROWSER_ZONE))
        assert shown == {"text": local.strftime("%H:%M:%S.123"), "title": received.strftime("%Y-%m-%dT%H:%M:%S.123Z")}
        assert page.problems == []
    finally:
        if context is not None:
            context.close()
        env.stop()

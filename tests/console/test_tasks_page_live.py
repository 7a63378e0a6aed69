"""The tasks page shows a new task without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from messaging.config import SwitchyardConfig
from messaging.models import TaskRecord
from tests.celery_helpers import redis_env
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.celery]


def test_a_new_task_appears_on_the_tasks_page_live(live_console, logged_in_page, settings):
    settings.SWITCHYARD_INSPECT_INTERVAL = 1.0
    env = redis_env()
    try:
        console = live_console(config=SwitchyardConfig(brokers=(env.broker_config(),)), interval=0.5)
        hostname, _ = env.start_worker("b1")
        page = logged_in_page(console, "viewer")
        page.goto(console.url + "/tasks/")
        page.wait_for_selector("#live-badge.live", timeout=10_000)
        watch = console.monitor.celery.watches["default"]
        wait_for(lambda: watch.counters.connected, timeout=20, message="event capture")
        wait_for(lambda: hostname in watch.writer.workers, message="the worker's first heartbeat", timeout=30)
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        task_id = env.send(env.producer_app(), "demo.add", (1, 2))
        try:
            row = page.wait_for_selector(f"tr[data-task-id='{task_id}']", timeout=30_000)
        except PlaywrightTimeout:
            stored = list(TaskRecord.objects.filter(task_id=task_id).values_list("state", flat=True))
            raise AssertionError(
                f"no row for {task_id} after 30 s; stored: {stored}; capture: {watch.counters.__dict__}; "
                f"badge: {page.locator('#live-badge').text_content()}; problems: {page.problems}"
            ) from None
        assert row.query_selector("[data-field='state']").text_content() in (
            "PENDING",
            "RECEIVED",
            "STARTED",
            "SUCCESS",
        )
        assert navigations == [] and page.problems == []
    finally:
        env.stop()

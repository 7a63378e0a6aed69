"""In chromium, on a DLQ's page: search lists the matches ticked for the requeue form, and a
message is edited then requeued through its confirmation panel; checked on the broker."""

from __future__ import annotations

import dataclasses
import json

import pytest
from playwright.sync_api import expect

from tests.action_helpers import celery_envelope, death_record, push, redis_broker, unique_name  # noqa: F401
from tests.waiting import wait_for

pytestmark = pytest.mark.browser


def test_search_then_edit_and_requeue_one_message(redis_broker, live_console, logged_in_page, tmp_path):
    from messaging.config import SwitchyardConfig
    from messaging.models import Queue

    config, client, prefix = redis_broker
    name = unique_name("pay")
    values = [celery_envelope(name, kwargs={"amount": 0}, death=death_record(name)) for _ in range(3)]
    values.append(celery_envelope(name, task="app.refund", death=death_record(name, "TimeoutError", "gateway slow")))
    push(client, prefix + name + ".dlq", values)
    config = dataclasses.replace(config, queues=(name, name + ".dlq"))
    console = live_console(config=SwitchyardConfig(brokers=(config,)), monitor=True, interval=0.5)
    dlq = wait_for(lambda: Queue.objects.filter(name=name + ".dlq", is_dlq=True).first(), timeout=20, message="the DLQ")
    page = logged_in_page(console, "operator")
    page.goto(f"{console.url}/queues/{dlq.pk}/")
    page.wait_for_selector(".message-row")

    page.click("#message-search summary")
    page.fill("#message-search input[name=exception_message]", "gateway")
    page.click("#search-submit")
    expect(page.locator("#search-summary")).to_contain_text("Scanned 4 of 4, 1 matched")
    refund_id = json.loads(values[3])["headers"]["id"]
    expect(page.locator(f"#search-results input[value='{refund_id}']")).to_be_checked()
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    first = json.loads(values[0])["headers"]["id"]
    row = page.locator(f"tr.message-row[data-message-id='{first}'] + tr.message-detail")
    row.locator(".message-edit summary").click()
    row.locator("textarea[name=kwargs]").fill('{"amount": 12}')
    row.locator("[data-field=edit-submit]").click()
    page.wait_for_selector("#confirm-edit")
    assert '"amount": 12' in page.locator(".edit-confirm").inner_text()
    page.click("#confirm-edit")
    # The panel's answer goes with the message list's refresh; the toast and the action list stay.
    expect(page.locator("#toasts")).to_contain_text("accepted: requeue of the edited message")
    expect(page.locator("tr[data-action-id] [data-field='state']")).to_have_text("succeeded", timeout=30_000)
    moved = wait_for(lambda: client.lindex(prefix + name, 0), timeout=20, message="the edited message requeued")
    moved = json.loads(moved)
    assert moved["headers"]["id"] == first and moved["headers"]["x-switchyard-edit-diff"] == "kwargs.amount changed"
    assert client.llen(prefix + name + ".dlq") == 3

"""In chromium: requeue everything from a DLQ page through the confirmation UI, watch it finish."""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect

from tests.action_helpers import celery_envelope, death_record, push, redis_broker, task_ids_in, unique_name  # noqa: F401
from tests.waiting import wait_for

HOSTILE = "<script>alert('owned')</script><img src=x onerror=alert(1)>"


@pytest.mark.browser
def test_operator_requeues_a_dlq_through_the_confirmation_and_sees_it_finish(
    redis_broker, live_console, logged_in_page
):
    from messaging.config import SwitchyardConfig
    from messaging.models import Queue

    config, client, prefix = redis_broker
    name = unique_name("mail")
    values = [
        celery_envelope(name, task=HOSTILE, args=[HOSTILE], death=death_record(name, message=HOSTILE))
        for _ in range(200)
    ]
    push(client, prefix + name + ".dlq", values)
    config = dataclasses.replace(config, queues=(name, name + ".dlq"))
    console = live_console(config=SwitchyardConfig(brokers=(config,)), monitor=True, interval=0.5)
    dlq = wait_for(
        lambda: Queue.objects.filter(name=name + ".dlq", is_dlq=True).first(),
        timeout=20,
        message="the DLQ to be sampled",
    )

    page = logged_in_page(console, "operator")
    page.goto(f"{console.url}/queues/{dlq.pk}/")
    page.wait_for_selector(".message-row")
    assert page.locator(".message-row").count() == 25
    assert "200 messages" in page.locator("#message-browser").inner_text()
    # Hostile text is shown as text.
    assert page.locator(".message-row td").nth(3).inner_text().startswith(HOSTILE)
    assert HOSTILE in page.locator(".message-detail").first.text_content()

    page.fill("input[name=rate]", "400")
    page.click("#requeue-button")
    page.wait_for_selector("#confirm-button")
    panel = page.locator(".confirm-panel").inner_text()
    assert "all 200 messages" in panel and name in panel
    assert client.llen(prefix + name + ".dlq") == 200  # nothing happens before confirmation
    page.click("#confirm-button")
    page.wait_for_selector("tr[data-action-id]")
    expect(page.locator("tr[data-action-id] [data-field='state']")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("tr[data-action-id] [data-field='progress']")).to_have_attribute("value", "200")
    expect(page.locator("tr[data-action-id] [data-field='counts']")).to_have_text("200 / 200")
    assert client.llen(prefix + name + ".dlq") == 0
    assert len(set(task_ids_in(client, prefix + name))) == 200
    assert page.problems == []


@pytest.mark.browser
def test_viewer_sees_no_action_buttons_and_no_bodies(redis_broker, live_console, logged_in_page):
    from messaging.config import SwitchyardConfig
    from messaging.models import Queue

    config, client, prefix = redis_broker
    name = unique_name("mail")
    push(client, prefix + name + ".dlq", [celery_envelope(name, args=["top-secret"], death=death_record(name))])
    config = dataclasses.replace(config, queues=(name, name + ".dlq"))
    console = live_console(config=SwitchyardConfig(brokers=(config,)), monitor=True, interval=0.5)
    dlq = wait_for(lambda: Queue.objects.filter(name=name + ".dlq").first(), timeout=20, message="the DLQ")
    page = logged_in_page(console, "viewer")
    page.goto(f"{console.url}/queues/{dlq.pk}/")
    page.wait_for_selector(".message-row")
    assert page.locator("#requeue-button").count() == 0 and page.locator("#purge-button").count() == 0
    assert "top-secret" not in page.content()
    assert page.problems == []

"""The RabbitMQ message browser in a real chromium: an operator browses with a POST that says what
it changes (and must accept a quorum queue's delivery-limit risk), absent Celery headers read "—"
and never "undefined" (issue 12 defect 7), and a viewer is told why there is nothing to see."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.process_config import set_config
from tests.action_helpers import make_queue
from tests.console.api.test_message_browse_safety import celery_amqp_message, publish, ready

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

MESSAGES = 3


@pytest.fixture
def rabbit_console(live_console, rabbit_vhost):
    name = "browse-" + uuid.uuid4().hex[:6]
    ids = [str(uuid.uuid4()) for _ in range(MESSAGES)]
    publish(
        rabbit_vhost.name,
        name,
        [celery_amqp_message(task_id) for task_id in ids],
        {"x-queue-type": "quorum", "x-delivery-limit": 5},
    )
    broker = BrokerConfig(name="rabbit", url=rabbit_vhost.amqp_url, management_url=rabbit_vhost.management_url)
    config = SwitchyardConfig(brokers=(broker,))
    set_config(config)  # the console runs in this process; without the monitor nothing else sets it
    console = live_console(config, monitor=False)
    queue = make_queue("rabbit", name, depth=MESSAGES, vhost=rabbit_vhost.name)
    return console, queue, rabbit_vhost.name, ids


def test_operator_browses_rabbitmq_with_a_post_and_sees_no_undefined(rabbit_console, logged_in_page):
    console, queue, vhost, ids = rabbit_console
    page = logged_in_page(console, "operator")
    page.goto(f"{console.url}/queues/{queue.pk}/")
    form = page.locator("#browse-form")
    expect(form).to_be_visible(timeout=10_000)
    # The offer states its side effects before anything is taken.
    assert "redelivered" in form.inner_text() and "delivery count" in form.inner_text()
    assert page.locator("#delivery-limit-warning").is_visible()
    assert page.locator("#message-browser tr.message-row").count() == 0
    page.click("#browse-button")  # the risk is not accepted: the browser refuses to submit
    page.wait_for_timeout(300)
    assert page.locator("#message-browser tr.message-row").count() == 0
    page.check("#accept-delivery-limit-risk")
    page.click("#browse-button")
    page.wait_for_selector("#message-browser tr.message-row", timeout=15_000)
    assert [r.get_attribute("data-message-id") for r in page.locator("tr.message-row").all()] == ids
    assert "took and requeued 3 messages" in page.locator("#browse-done").inner_text()
    for summary in page.locator("#message-browser details > summary").all():
        summary.click()
    browser_text = page.locator("#message-browser").inner_text()
    assert "undefined" not in browser_text
    eta = page.locator("#message-browser dl.decoded dt:has-text('ETA') + dd").first
    assert eta.inner_text() == "—"
    assert page.problems == [], page.problems
    assert ready(vhost, queue.name) == MESSAGES


def test_viewer_is_told_why_rabbitmq_messages_are_not_shown(rabbit_console, logged_in_page):
    console, queue, vhost, _ = rabbit_console
    page = logged_in_page(console, "viewer")
    page.goto(f"{console.url}/queues/{queue.pk}/")
    note = page.locator("#browse-viewer-note")
    expect(note).to_be_visible(timeout=10_000)
    assert "operator action" in note.inner_text()
    assert page.locator("#browse-button").count() == 0
    page.wait_for_timeout(500)
    assert page.locator("#message-browser tr.message-row").count() == 0
    assert ready(vhost, queue.name) == MESSAGES

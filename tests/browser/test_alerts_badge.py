"""The firing-count badge follows alerts live in a real browser, and the alerts page shows them."""

import pytest
from kombu import Connection
from playwright.sync_api import expect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import AlertRule
from tests.conftest import REDIS_URL, unique

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def test_badge_counts_firing_alerts_live(live_console, logged_in_page, tokens):
    prefix, queue = unique("badge") + ":", unique("jobs")
    broker = BrokerConfig(name=unique("redis"), url=REDIS_URL, options={"global_keyprefix": prefix})
    AlertRule.objects.all().delete()
    rule = AlertRule.objects.create(
        name="Backlog <i>high</i>", metric="depth", op=">", threshold=1000, queue=queue, keep_firing_for_s=0
    )
    with Connection(REDIS_URL, transport_options={"global_keyprefix": prefix}) as connection:
        simple = connection.SimpleQueue(queue)
        try:
            for i in range(3):
                simple.put({"n": i})
            console = live_console(config=SwitchyardConfig(brokers=(broker,)), interval=0.3)
            page = logged_in_page(console, "operator")
            page.goto(console.url + "/alerts/?state=open")
            badge = page.locator("#alerts-badge")
            assert badge.text_content() == "0"
            page.wait_for_selector("#live-badge.live", timeout=10_000)

            patched = console.api(f"/api/v1/alert-rules/{rule.pk}", tokens["admin"], "PATCH", json={"threshold": 1})
            assert patched.status_code == 200, patched.text
            expect(badge).to_have_text("1", timeout=15_000)
            page.wait_for_selector("#alert-table tr.alert-firing", timeout=10_000)
            assert "Backlog <i>high</i>" in page.locator("#alert-table").inner_text()
            page.click("#alert-table button:has-text('Acknowledge')")
            page.wait_for_selector(".flash li", timeout=10_000)
            assert page.locator("#alert-table tr.alert-firing button").count() == 0  # acknowledged, still firing

            while True:
                try:
                    simple.get(block=False).ack()
                except simple.Empty:
                    break
            expect(badge).to_have_text("0", timeout=15_000)
            assert page.problems == []
        finally:
            simple.close()
            connection.default_channel.client.delete(f"{prefix}_kombu.binding.{queue}")

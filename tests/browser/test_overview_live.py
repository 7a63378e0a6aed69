"""The overview in a real browser: depth changes after a publish, with no reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.browser.holding import count_requests, hold_first_request
from tests.conftest import unique

pytestmark = pytest.mark.browser


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


def test_overview_depth_updates_live_without_reload(live_console, logged_in_page, redis_prefix):
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),)
    )
    with redis_connection(redis_prefix) as connection:
        publish(connection, "invoices", [{"n": 1}])
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    row = page.locator("tr", has_text="invoices")
    row.wait_for(timeout=15000)
    page.locator("#live-badge.live").wait_for(timeout=15000)
    depth = row.locator("[data-field=depth]")
    assert depth.text_content() == "1"
    page.evaluate("window.__noReload = true")

    with redis_connection(redis_prefix) as connection:
        publish(connection, "invoices", [{"n": i} for i in range(1234)])
    expect(depth).to_have_text("1,235", timeout=15000)
    assert page.evaluate("window.__noReload") is True, "the page reloaded"
    assert page.problems == []


def test_queue_page_shows_chart_and_updates_figures(live_console, logged_in_page, redis_prefix):
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),)
    )
    with redis_connection(redis_prefix) as connection:
        publish(connection, "reports", [{"n": 1}, {"n": 2}])
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    page.click("text=reports")
    page.locator("#queue-figures [data-field=depth]").wait_for(timeout=15000)
    expect(page.locator("#queue-chart")).to_have_attribute("data-points", re.compile(r"^[1-9]"), timeout=15000)
    assert page.locator("#queue-chart canvas").count() >= 1
    with redis_connection(redis_prefix) as connection:
        publish(connection, "reports", [{"n": 3}])
    expect(page.locator("#queue-figures [data-field=depth]")).to_have_text("3", timeout=15000)
    page.screenshot(path="/tmp/queue-page.png", full_page=True)
    assert page.problems == []


def test_page_falls_back_to_polling_and_says_stale_when_socket_drops(live_console, logged_in_page, redis_prefix):
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),)
    )
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    page.locator("#live-badge.live").wait_for(timeout=15000)
    # The console restarts (a deploy): the socket closes under the page.
    console.stop()
    page.locator("#live-badge.stale").wait_for(timeout=5000)
    assert "stale since" in page.locator("#live-badge").text_content()
    with redis_connection(redis_prefix) as connection:
        publish(connection, "while-down", [{"n": 1}])
    console.start()
    # live.js reconnects by itself with backoff; the badge turns live again and the
    # page catches up on what changed meanwhile (a queue that appeared while it was stale).
    page.locator("#live-badge.live").wait_for(timeout=30000)
    page.locator("tr", has_text="while-down").wait_for(timeout=15000)


def test_filter_sort_and_dlq_only_without_reload(live_console, logged_in_page, redis_prefix):
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),
            BrokerConfig(name="gone", url="redis://:hunter2-secret@127.0.0.1:1/0"),
        )
    )
    with redis_connection(redis_prefix) as connection:
        publish(connection, "mail", [{"n": i} for i in range(3)])
        publish(connection, "mail.dlq", [{"n": 1}])
        publish(connection, "billing", [{"n": i} for i in range(9)])
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    page.locator("tr", has_text="billing").wait_for(timeout=15000)
    page.locator("tr.is-dlq", has_text="mail.dlq").wait_for(timeout=15000)
    expect(page.locator(".broker-card.down")).to_contain_text("gone", timeout=15000)
    assert "hunter2-secret" not in page.content()
    page.evaluate("window.__noReload = true")

    page.fill("input[name=name]", "mail")
    expect(page.locator("tr[data-queue-id]")).to_have_count(2, timeout=10000)
    page.check("input[name=dlq]")
    expect(page.locator("tr[data-queue-id]")).to_have_count(1, timeout=10000)
    expect(page.locator("tr[data-queue-id]")).to_contain_text("mail.dlq")
    page.uncheck("input[name=dlq]")
    page.fill("input[name=name]", "")
    expect(page.locator("tr[data-queue-id]")).to_have_count(3, timeout=10000)

    page.click("th a:has-text('Ready')")
    expect(page.locator("th", has_text="Ready")).to_contain_text("▲", timeout=10000)
    page.click("th a:has-text('Ready')")
    expect(page.locator("th", has_text="Ready")).to_contain_text("▼", timeout=10000)
    expect(page.locator("tr[data-queue-id]").first).to_contain_text("billing", timeout=10000)
    assert "sort=-depth" in page.url
    assert page.evaluate("window.__noReload") is True
    page.screenshot(path="/tmp/overview.png", full_page=True)
    assert [p for p in page.problems if "favicon" not in p] == []


def test_a_live_reload_never_undoes_a_filter_change_waiting_its_turn(live_console, logged_in_page, redis_prefix):
    """A filter change made while another table request is on its way waits for it; a live reload
    asked for meanwhile must not replace it (htmx keeps one waiting request per element) nor show
    the table of the filters the page had before."""
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),)
    )
    with redis_connection(redis_prefix) as connection:
        publish(connection, "mail", [{"n": 1}])
        publish(connection, "mail.dlq", [{"n": 1}])
        publish(connection, "billing", [{"n": 1}])
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    expect(page.locator("tr[data-queue-id]")).to_have_count(3, timeout=15000)
    page.locator("#live-badge.live").wait_for(timeout=15000)

    held = hold_first_request(page, r".*/\?.*", "queue-table")
    page.evaluate("htmx.trigger('#queue-filters', 'sy:sort')")
    expect(page.locator("#queue-filters")).to_have_class(re.compile(r"\bhtmx-request\b"))
    page.check("input[name=dlq]")  # waits behind the held request
    for _ in range(3):
        page.evaluate("htmx.trigger('#queue-table-refresh', 'sy:refresh')")
    assert len(held) == 1
    held[0].continue_()

    expect(page.locator("tr[data-queue-id]")).to_have_count(1, timeout=10000)
    expect(page.locator("tr[data-queue-id]")).to_contain_text("mail.dlq")
    page.wait_for_timeout(1500)  # any reload still waiting has landed by now, with the filter
    expect(page.locator("tr[data-queue-id]")).to_have_count(1)
    assert "dlq=true" in page.url


def test_the_table_reloads_again_after_a_reload_asked_while_one_was_on_its_way(
    live_console, logged_in_page, redis_prefix
):
    """The reload element swaps the table, not itself: a reload asked of it while its request is
    in flight waits in htmx's queue and is made, and later reloads keep working."""
    config = SwitchyardConfig(
        brokers=(BrokerConfig(name="main", url="redis://127.0.0.1:6379/0", options={"global_keyprefix": redis_prefix}),)
    )
    with redis_connection(redis_prefix) as connection:
        publish(connection, "mail", [{"n": 1}])
    console = live_console(config, interval=0.5)
    page = logged_in_page(console, "viewer")
    page.locator("tr", has_text="mail").wait_for(timeout=15000)
    page.locator("#live-badge.live").wait_for(timeout=15000)
    page.wait_for_timeout(500)
    count_requests(page, "queue-table-refresh")
    held = hold_first_request(page, r".*/\?.*", "queue-table")
    page.evaluate("SwitchyardLive.reload(document.getElementById('queue-table-refresh'))")
    expect(page.locator("#queue-table-refresh")).to_have_class(re.compile(r"\bhtmx-request\b"))
    page.evaluate("SwitchyardLive.reload(document.getElementById('queue-table-refresh'))")
    held[0].continue_()
    for _ in range(50):
        if page.evaluate("window.__reloads") >= 2:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.__reloads") == 2
    page.wait_for_timeout(300)
    page.evaluate("SwitchyardLive.reload(document.getElementById('queue-table-refresh'))")
    for _ in range(50):
        if page.evaluate("window.__reloads") >= 3:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.__reloads") == 3, "a later reload was not made"

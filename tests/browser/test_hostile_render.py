"""Hostile messages in a real browser: an operator opens the queue page, the message browser's
every page and every message's decoded and raw views; no injected script ever runs."""

from __future__ import annotations

import uuid

import pytest

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from tests.action_helpers import push
from tests.conftest import REDIS_URL
from tests.security.hostile import corpus
from tests.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_no_injected_script_runs_in_the_message_browser(live_console, logged_in_page, redis_space, tmp_path):
    from messaging.models import Queue

    marker = f"SECRET-ARG-{uuid.uuid4().hex}"
    pickle_marker = tmp_path / "unpickled-marker"
    # The 10 MB messages are left to the server-side test: here the browser renders the rest.
    items = [(label, value) for label, value in corpus(marker, str(pickle_marker)) if not label.startswith("huge-10mb")]
    queue_name = redis_space.name("hostile")
    push(redis_space.client, redis_space.prefix + queue_name, [value for _, value in reversed(items)])
    config = SwitchyardConfig(
        brokers=(
            BrokerConfig(
                name="main", url=REDIS_URL, queues=(queue_name,), options={"global_keyprefix": redis_space.prefix}
            ),
        )
    )
    console = live_console(config, interval=0.5)
    queue = wait_for(
        lambda: Queue.objects.filter(broker="main", name=queue_name, depth=len(items)).first(), message="queue sampled"
    )
    page = logged_in_page(console, "operator")
    page.goto(f"{console.url}/queues/{queue.pk}/")
    page.wait_for_selector("#message-browser tr.message-row", timeout=15_000)
    seen_ids: set[str] = set()
    rows_seen = 0
    for _ in range(5):  # every page of the browser, oldest first
        rows = page.locator("tr.message-row")
        rows_seen += rows.count()
        seen_ids.update(rows.nth(i).get_attribute("data-message-id") or "" for i in range(rows.count()))
        # Open every message's Decoded and Raw views, as a person clicking through would.
        for summary in page.locator("#message-browser details > summary").all():
            summary.click()
        page.wait_for_timeout(200)
        assert page.evaluate("window.__pwned") is None, "an injected script ran"
        newer = page.locator("#message-browser #browse-next")  # the list runs oldest first
        if not newer.count():
            break
        shown = page.locator("#message-browser p.muted").first.inner_text()
        newer.first.click()
        page.wait_for_function(
            "before => { const p = document.querySelector('#message-browser p.muted');"
            " return p && p.innerText !== before; }",
            arg=shown,
            timeout=10_000,
        )
    assert rows_seen == len(items), f"saw {rows_seen} of {len(items)} messages"
    assert marker in page.content()  # an operator sees the (escaped) bodies
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None, "an injected script ran"
    assert page.problems == [], page.problems
    assert not pickle_marker.exists()

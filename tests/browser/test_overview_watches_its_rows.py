"""The overview of a fleet bigger than a page watches only the rows it shows: a queue on screen
updates live, a queue on another page sends this browser no frame, and after paging the new rows
update (issue 18 item 5). Observed on the WebSocket frames chromium receives."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from console.pages.views import PAGE_ROWS
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import unique
from tests.console.test_queues_api import redis_config

pytestmark = pytest.mark.browser

QUEUES = PAGE_ROWS + 20


@pytest.fixture
def redis_prefix():
    prefix = unique("sy") + ":"
    yield prefix
    delete_prefixed_keys(prefix)


class Frames:
    """Every event each of the page's sockets received, in order (batched frames unpacked)."""

    def __init__(self, page) -> None:
        self.sockets: list[list[dict]] = []
        page.on("websocket", self._opened)

    def _opened(self, socket) -> None:
        events: list[dict] = []
        self.sockets.append(events)
        socket.on("framereceived", lambda payload: events.extend(_events(payload)))

    def samples_of(self, queue_id: str) -> list[dict]:
        return [e for s in self.sockets for e in s if e["type"] == "queue.sample" and e["data"]["id"] == queue_id]

    def wait_for(self, what: str, test, timeout: float = 20.0) -> None:
        """Until the newest socket received an event passing ``test``."""
        stop_at = time.monotonic() + timeout
        while time.monotonic() < stop_at:
            if self.sockets and any(test(e) for e in self.sockets[-1]):
                return
            time.sleep(0.1)
        pytest.fail(f"no {what}")

    def wait_for_rows_watched(self, rows: list[str]) -> None:
        self.wait_for(
            "stream.subscribed naming the rows",
            lambda e: e["type"] == "stream.subscribed" and sorted(e["data"].get("queues") or []) == sorted(rows),
        )

    def wait_for_summary(self, waiting: int, timeout: float = 20.0) -> None:
        stop_at = time.monotonic() + timeout
        while time.monotonic() < stop_at:
            if any(e["type"] == "queues.summary" and e["data"]["waiting"] == waiting for e in self.sockets[-1]):
                return
            time.sleep(0.1)
        seen = [e["data"]["waiting"] for e in self.sockets[-1] if e["type"] == "queues.summary"]
        pytest.fail(f"no queues.summary with {waiting} messages waiting: {seen}")


def _events(payload) -> list[dict]:
    frame = json.loads(payload if isinstance(payload, str) else payload.decode())
    return frame if isinstance(frame, list) else [frame]


def listed_ids(console, token: str) -> dict[str, str]:
    """name -> id of every queue the API lists, once all :data:`QUEUES` are."""
    for _ in range(200):
        rows = console.api("/api/v1/queues", token).json()
        rows = rows["results"] if isinstance(rows, dict) else rows
        if len(rows) >= QUEUES:
            return {row["name"]: row["id"] for row in rows}
        time.sleep(0.1)
    pytest.fail(f"{QUEUES} queues not listed")


def row_ids(page) -> list[str]:
    return page.locator("#queue-table tr[data-queue-id]").evaluate_all("rows => rows.map(r => r.dataset.queueId)")


def test_the_overview_gets_frames_only_for_its_rows_and_follows_paging(
    live_console, logged_in_page, tokens, redis_prefix
):
    with redis_connection(redis_prefix) as connection:
        for n in range(QUEUES):
            publish(connection, f"fleet.q{n:03d}", [{"n": 0}])
    console = live_console(redis_config(redis_prefix), interval=0.5)
    ids = listed_ids(console, tokens["viewer"])
    names = {queue_id: name for name, queue_id in ids.items()}
    page = logged_in_page(console, "viewer")
    frames = Frames(page)
    page.goto(console.url + "/?sort=name")  # pages that keep their rows while figures change
    page.locator("#queue-table[data-paged=true]").wait_for(timeout=15000)
    page.locator("#live-badge.live").wait_for(timeout=15000)
    on_screen = row_ids(page)
    assert len(on_screen) == PAGE_ROWS
    shown, hidden = on_screen[0], next(i for i in ids.values() if i not in on_screen)
    frames.wait_for_rows_watched(on_screen)

    with redis_connection(redis_prefix) as connection:
        publish(connection, names[shown], [{"n": 1}])
        publish(connection, names[hidden], [{"n": 1}, {"n": 2}])
    row = page.locator(f"tr[data-queue-id='{shown}']")
    expect(row.locator("[data-field=depth]")).to_have_text("2", timeout=15000)
    # The round that saw both changes has been published to this page: its summary counts them.
    frames.wait_for_summary(QUEUES + 3)
    assert frames.samples_of(shown), "the queue on screen sent no sample"
    assert frames.samples_of(hidden) == [], "a queue on another page sent this page a frame"

    page.click("#queue-table a[rel=next]")
    page.wait_for_url("**page=2**", timeout=15000)
    page.locator("#live-badge.live").wait_for(timeout=15000)
    second_page = row_ids(page)
    assert second_page and not set(second_page) & set(on_screen)
    now_shown = second_page[-1]
    frames.wait_for_rows_watched(second_page)
    with redis_connection(redis_prefix) as connection:
        publish(connection, names[now_shown], [{"n": i} for i in range(4)])
        publish(connection, names[shown], [{"n": 3}])  # on the page left behind
    depth = "7" if now_shown == hidden else "5"
    expect(page.locator(f"tr[data-queue-id='{now_shown}'] [data-field=depth]")).to_have_text(depth, timeout=15000)
    frames.wait_for_summary(QUEUES + 8)
    assert not [e for e in frames.sockets[-1] if e["type"] == "queue.sample" and e["data"]["id"] == shown]
    assert [p for p in page.problems if "favicon" not in p] == []

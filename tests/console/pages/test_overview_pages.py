"""The overview renders one page of queues (issue 18 item 4): at 10,000 queues it never renders
the fleet; pages follow the sort and filters, and a page number out of range reads as the last."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.pages.views import PAGE_ROWS
from messaging.models import Queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, make_user):
    user, _ = make_user("viewer")
    client.force_login(user)
    return client


@pytest.fixture
def fleet():
    total = PAGE_ROWS * 2 + 5
    Queue.objects.bulk_create(
        [Queue(broker="main", name=f"q{n:04d}", depth=n, unacked=0, present=True) for n in range(total)]
    )
    return total


def row_names(html: str) -> list[str]:
    table = html[html.index("<tbody>") :]  # not the summary strip's "oldest waiting" link
    return re.findall(r'<a href="/queues/\d+/">(q\d{4})</a>', table)


def test_the_overview_shows_one_page_and_links_the_next(viewer_client, fleet):
    html = viewer_client.get("/?sort=name").content.decode()

    assert row_names(html) == [f"q{n:04d}" for n in range(PAGE_ROWS)]
    assert f"Showing 1–{PAGE_ROWS} of {fleet} queues (page 1 of 3)" in html
    assert 'data-paged="true"' in html and 'rel="next"' in html and 'rel="prev"' not in html
    assert 'href="?sort=name&page=2" rel="next"' in html


def test_by_default_the_deepest_queues_come_first_when_nothing_else_is_wrong(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()

    assert row_names(html) == [f"q{n:04d}" for n in range(fleet - 1, fleet - 1 - PAGE_ROWS, -1)]
    assert "Worst first" in html


def test_worst_first_puts_dlqs_holding_messages_then_stalled_then_the_oldest_wait(viewer_client):
    Queue.objects.bulk_create(
        [
            Queue(broker="main", name="q0001", depth=5000, oldest_age_s=10.0, trend="steady"),
            Queue(broker="main", name="q0002", depth=3, oldest_age_s=600.0, trend="steady"),
            Queue(broker="main", name="q0003", depth=40, oldest_age_s=90.0, trend="stalled"),
            Queue(broker="main", name="q0004", depth=2, is_dlq=True, oldest_age_s=5.0, trend="steady"),
            Queue(broker="main", name="q0005", depth=0, is_dlq=True, trend="idle"),
            Queue(broker="main", name="q0006", depth=7, oldest_age_s=30.0, trend="growing"),
            Queue(broker="main", name="q0007", depth=None, trend=""),
        ]
    )

    html = viewer_client.get("/").content.decode()

    assert row_names(html) == ["q0004", "q0003", "q0006", "q0002", "q0001", "q0005", "q0007"]


def test_pages_follow_the_sort_and_the_last_page_holds_the_rest(viewer_client, fleet):
    html = viewer_client.get("/?sort=-depth&page=3").content.decode()

    assert row_names(html) == [f"q{n:04d}" for n in range(4, -1, -1)]
    assert f"Showing {PAGE_ROWS * 2 + 1}–{fleet} of {fleet} queues (page 3 of 3)" in html
    assert 'href="?sort=-depth&page=2" rel="prev"' in html and 'rel="next"' not in html
    # Live reloads (polling) send the form's filters and sort, and the page the table shows.
    assert 'data-page="3"' in html and 'name="sort" value="-depth"' in html


@pytest.mark.parametrize("page", ["99", "0", "-1", "x", "9999999"])
def test_a_page_out_of_range_or_not_a_number_is_never_an_error(viewer_client, fleet, page):
    response = viewer_client.get(f"/?page={page}")

    assert response.status_code == 200
    assert len(row_names(response.content.decode())) in (PAGE_ROWS, 5)


def test_a_fleet_that_fits_one_page_is_not_paged(viewer_client):
    Queue.objects.create(broker="main", name="q0001", present=True)

    html = viewer_client.get("/").content.decode()

    assert row_names(html) == ["q0001"] and 'data-paged="true"' not in html and "Showing" not in html


def test_the_summary_counts_every_queue_and_names_the_oldest_waiting_one(viewer_client):
    Queue.objects.create(broker="main", name="orders", depth=1200, unacked=3, oldest_age_s=30.0, present=True)
    Queue.objects.create(broker="main", name="emails", depth=5, unacked=0, oldest_age_s=900.0, present=True)
    Queue.objects.create(broker="main", name="orders.dlq", depth=7, is_dlq=True, oldest_age_s=5000.0, present=True)
    Queue.objects.create(broker="main", name="old.dlq", depth=0, is_dlq=True, present=True)
    Queue.objects.create(broker="main", name="gone", depth=99, present=False)

    html = viewer_client.get("/").content.decode()
    strip = re.search(r'<div class="fleet-summary".*?</div>', html, re.S).group(0)
    text = re.sub(r"<[^>]+>|\s+", " ", strip)

    assert "4 queues" in text and "1,212 waiting" in text and "3 in flight" in text
    assert "1 DLQ holding 7 dead letters" in text
    emails = Queue.objects.get(name="emails").pk
    assert f'oldest waiting: <a href="/queues/{emails}/">emails</a>' in strip  # a DLQ's age is not a wait


def test_a_summary_refresh_reads_no_page_of_queues(viewer_client, fleet):
    with CaptureQueriesContext(connection) as seen:
        answer = viewer_client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="brokers")
    html = answer.content.decode()

    assert f"{fleet} queues" in html and "<tbody>" not in html
    assert not [q["sql"] for q in seen if '"pk" FROM "messaging_queue"' in q["sql"]]  # no page sorted
    with CaptureQueriesContext(connection) as seen:
        html = viewer_client.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-table").content.decode()
    assert len(row_names(html)) == PAGE_ROWS and "fleet-summary" not in html
    assert not [q["sql"] for q in seen if "SUM(" in q["sql"]]  # no fleet summary for the table alone

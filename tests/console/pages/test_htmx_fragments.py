"""Pages and their live parts come from one template: htmx asking to swap an element gets only that
element's partial, everything else gets the whole page, and the answer says it varies on both."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import AuditEntry, BrokerState, Queue, TaskRecord, Worker

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def viewer_client(client, make_user):
    user, _ = make_user("viewer")
    client.force_login(user)
    return client


@pytest.fixture
def rows(db):
    now = timezone.now()
    BrokerState.objects.create(name="main", transport="redis", redacted_url="redis://x", status="up")
    Queue.objects.create(broker="main", name="invoices", depth=3)
    Worker.objects.create(broker="b", hostname="w1@host", status="online", last_heartbeat=now)
    TaskRecord.objects.create(
        task_id="t1", broker="b", name="demo.add", state="STARTED", created_at=now, updated_at=now
    )
    AuditEntry.objects.create(username="ann", action="purge", broker="main", queue="invoices", params={}, outcome="ok")


PAGES = [
    # path, element id htmx swaps (= the partial's name)
    ("/", "queue-table"),
    ("/", "brokers"),
    ("/?dlq=true&name=inv", "queue-table"),
    ("/tasks/", "task-table"),
    ("/tasks/t1/", "task-detail"),
    ("/workers/", "worker-table"),
    ("/workers/b/w1@host/", "worker-detail"),
    ("/audit/", "audit-rows"),
    ("/alerts/?state=open", "alert-table"),
]


def _varies_on(response) -> set[str]:
    return {h.strip().lower() for h in response.get("Vary", "").split(",")}


@pytest.mark.parametrize("path,element", PAGES)
def test_htmx_request_for_an_element_answers_its_fragment_only(rows, viewer_client, path, element):
    response = viewer_client.get(path, HTTP_HX_TARGET=element, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<header" not in html
    if element == "brokers":  # swapped innerHTML: the cards, not the section
        assert 'class="broker-card' in html and 'id="brokers"' not in html
    else:
        assert html.lstrip().startswith(f'<div id="{element}"')
    assert {"hx-request", "hx-target"} <= _varies_on(response)


@pytest.mark.parametrize("path,element", PAGES)
def test_plain_get_answers_the_whole_page_with_the_same_element(rows, viewer_client, path, element):
    response = viewer_client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<!doctype html>") and f'id="{element}"' in html
    assert {"hx-request", "hx-target"} <= _varies_on(response)


def test_htmx_history_restore_and_other_targets_get_the_whole_page(rows, viewer_client):
    restore = viewer_client.get("/tasks/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX).content.decode()
    assert restore.startswith("<!doctype html>")
    unknown = viewer_client.get("/tasks/", HTTP_HX_TARGET="main", **HTMX).content.decode()
    assert unknown.startswith("<!doctype html>")


def test_the_live_parts_refresh_from_the_page_url_without_a_fragment_parameter(rows, viewer_client):
    for path, _ in PAGES:
        html = viewer_client.get(path).content.decode()
        assert "fragment=" not in html
    overview = viewer_client.get("/?name=inv&sort=-depth").content.decode()
    # The table's live reload sends the filter form, which holds the page's filters and sort.
    assert 'hx-include="#queue-filters"' in overview
    assert 'name="name" value="inv"' in overview and 'name="sort" value="-depth"' in overview


def test_the_filter_form_gets_the_filtered_table_fragment(rows, viewer_client):
    Queue.objects.create(broker="main", name="emails", depth=1)
    html = viewer_client.get("/?name=inv", HTTP_HX_TARGET="queue-table", **HTMX).content.decode()
    assert "invoices" in html and "emails" not in html

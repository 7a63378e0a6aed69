"""The queue page's action form: checked by a Django form (a bad number is a 400, never a guess),
the typed confirmation the domain asks of pages, the confirmation panel from the domain's preview;
and the API's side of the same rules."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from messaging import actions
from messaging.models import Action
from tests.action_helpers import (
    celery_envelope,
    death_record,
    dlq_setup,  # noqa: F401  (fixture)
    push,
    redis_broker,  # noqa: F401  (fixture)
)


@pytest.fixture
def page(dlq_setup, make_user):
    client, prefix, source, dlq, _ = dlq_setup
    values = [celery_envelope(source.name, death=death_record(source.name)) for _ in range(3)]
    push(client, prefix + dlq.name, values)
    ids = [json.loads(v)["headers"]["id"] for v in values]
    browser = Client()
    browser.force_login(make_user("admin")[0])
    return browser, dlq, ids


def act(browser: Client, queue_id: int, **form) -> tuple[int, str]:
    response = browser.post(f"/queues/{queue_id}/act/", form)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    "form",
    [
        {"kind": "requeue", "rate": "fast"},
        {"kind": "requeue", "rate": "0"},
        {"kind": "requeue", "selection": "filter", "filter_older_than_s": "an hour"},
        {"kind": "requeue", "selection": "filter", "filter_older_than_s": "-5"},
        {"kind": "requeue", "confirmed": "1", "count": "many"},
        {"kind": "purge", "confirm_name": "x", "count": "1.5"},
    ],
)
def test_a_bad_number_is_refused_not_guessed(page, form):
    browser, dlq, _ = page
    status, body = act(browser, dlq.pk, **form)
    assert status == 400 and "Refused" in body
    assert not Action.objects.exists()


def test_delete_from_the_page_needs_the_typed_name(page):
    browser, dlq, ids = page
    status, body = act(browser, dlq.pk, kind="delete", ids=ids[:1], confirm_name="")
    assert status == 400 and "exact name" in body and not Action.objects.exists()
    status, body = act(browser, dlq.pk, kind="delete", ids=ids[:1], confirm_name=dlq.name)
    assert status == 200 and "Confirm delete" in body and not Action.objects.exists()
    token = re.search(r'name="confirmation" value="([^"]+)"', body).group(1)
    status, _ = act(
        browser, dlq.pk, kind="delete", ids=ids[:1], confirm_name=dlq.name, confirmed="1", confirmation=token
    )
    assert status == 302 and Action.objects.get().requested == 1


def test_confirmation_panel_states_count_and_target_from_the_preview(page):
    browser, dlq, _ = page
    status, body = act(browser, dlq.pk, kind="requeue", selection="all")
    assert status == 200 and "Confirm requeue" in body
    assert "all 3 messages" in body and dlq.dead_letter_source.name in body
    assert not Action.objects.exists()  # nothing before confirmation


def test_purge_preview_counts_what_a_purge_would_delete(page):
    _, dlq, _ = page
    preview = actions.preview_purge(dlq)
    assert (preview.count, preview.target, preview.warnings) == (3, None, ())


def test_api_delete_takes_ids_as_its_confirmation_but_checks_a_sent_name(page, tokens, client):
    _, dlq, ids = page

    def delete(body):
        return client.post(
            f"/api/v1/queues/{dlq.pk}/delete",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {tokens['admin']}",
        )

    wrong = delete({"ids": ids[:1], "confirm": "not-it"})
    assert wrong.status_code == 400 and set(wrong.json()) == {"error", "detail"}
    assert delete({"ids": ids[:1]}).status_code == 202
    assert delete({"ids": ids[1:2], "confirm": dlq.name}).status_code == 202


def test_api_purge_without_confirm_is_400_not_500(page, tokens, client):
    _, dlq, _ = page
    for body in ({}, {"count": 1}):
        response = client.post(
            f"/api/v1/queues/{dlq.pk}/purge",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {tokens['admin']}",
        )
        assert response.status_code == 400 and "confirm" in response.json()["detail"]
    assert not Action.objects.exists()


def test_api_form_body_with_too_many_fields_is_400_not_500(page, tokens, client):
    _, dlq, _ = page
    response = client.post(
        f"/api/v1/queues/{dlq.pk}/requeue",
        {"ids": [str(i) for i in range(1_001)]},
        HTTP_AUTHORIZATION=f"Token {tokens['operator']}",
    )
    assert response.status_code == 400 and response.json()["error"] == "bad_request"


def test_api_action_list_refuses_a_queue_that_is_not_an_id(tokens, client, db):
    response = client.get("/api/v1/actions?queue=abc", HTTP_AUTHORIZATION=f"Token {tokens['viewer']}")
    assert response.status_code == 400 and response.json()["error"] == "bad_request"

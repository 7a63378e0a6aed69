"""The queue page's actions are confirmed once: the confirmation panel carries a one-time token,
the confirmed request uses it up, and a second submit of the same panel is refused as already
done without creating a second action. Every kind, delete included, shows the panel first. The
answer is the result line and a toast where the action was taken, never a flash message for a
later page. A running action can be cancelled from the page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from messaging.models import Action, AuditEntry
from tests.action_helpers import (
    celery_envelope,
    death_record,
    dlq_setup,  # noqa: F401  (fixture)
    push,
    redis_broker,  # noqa: F401  (fixture)
)

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def page(dlq_setup, make_user):
    client, prefix, source, dlq, _ = dlq_setup
    values = [celery_envelope(source.name, death=death_record(source.name)) for _ in range(3)]
    push(client, prefix + dlq.name, values)
    ids = [json.loads(v)["headers"]["id"] for v in values]
    browser = Client()
    browser.force_login(make_user("admin")[0])
    return browser, dlq, ids


def _panel(browser: Client, queue_id: int, form: dict) -> dict:
    """The confirmed form the panel would submit: its hidden fields, as a browser sends them."""
    response = browser.post(f"/queues/{queue_id}/act/", form, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="confirm-button"' in body, body
    fields: dict = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body):
        fields.setdefault(name, []).append(value)
    return {k: v if len(v) > 1 or k == "ids" else v[0] for k, v in fields.items()}


@pytest.mark.parametrize(
    "form",
    [
        {"kind": "requeue", "selection": "all"},
        {"kind": "purge", "confirm_name": "{name}"},
        {"kind": "delete", "confirm_name": "{name}", "ids": "{first}"},
    ],
    ids=["requeue", "purge", "delete"],
)
def test_a_replayed_confirmation_is_refused_as_already_done_and_creates_no_action(page, form):
    browser, dlq, ids = page
    form = {k: v.format(name=dlq.name, first=ids[0]) for k, v in form.items()}
    confirmed = _panel(browser, dlq.pk, form)
    assert confirmed["confirmation"] and not Action.objects.exists()

    first = browser.post(f"/queues/{dlq.pk}/act/", confirmed, **HTMX)
    assert first.status_code == 200 and "accepted" in first.content.decode()
    trigger = json.loads(first["HX-Trigger"])
    assert trigger["toast"]["level"] == "success" and "sy:action-accepted" in trigger

    replay = browser.post(f"/queues/{dlq.pk}/act/", confirmed, **HTMX)
    assert "already done" in replay.content.decode()
    assert Action.objects.count() == 1
    assert AuditEntry.objects.filter(action=form["kind"]).count() == 1
    # Without htmx the refusal keeps its status.
    assert browser.post(f"/queues/{dlq.pk}/act/", confirmed).status_code == 409


def test_a_confirmation_without_its_token_or_for_another_kind_creates_nothing(page):
    browser, dlq, _ = page
    confirmed = _panel(browser, dlq.pk, {"kind": "requeue", "selection": "all"})
    missing = {**confirmed, "confirmation": ""}
    assert browser.post(f"/queues/{dlq.pk}/act/", missing).status_code == 400
    as_move = {**confirmed, "kind": "move", "target": "elsewhere", "create_target": "on"}
    assert browser.post(f"/queues/{dlq.pk}/act/", as_move).status_code == 400
    assert not Action.objects.exists()


def test_delete_with_the_typed_name_shows_the_panel_and_deletes_nothing_yet(page, redis_broker):
    browser, dlq, ids = page
    _, client, prefix = redis_broker
    response = browser.post(
        f"/queues/{dlq.pk}/act/", {"kind": "delete", "confirm_name": dlq.name, "ids": ids[:2]}, **HTMX
    )
    body = response.content.decode()
    assert "Delete 2 selected messages" in body and "Confirm delete" in body and "Refused" not in body
    assert not Action.objects.exists() and client.llen(prefix + dlq.name) == 3


def test_the_result_is_not_left_as_a_flash_message_for_another_page(page):
    browser, dlq, _ = page
    confirmed = _panel(browser, dlq.pk, {"kind": "requeue", "selection": "all"})
    browser.post(f"/queues/{dlq.pk}/act/", confirmed, **HTMX)
    later = browser.get("/workers/").content.decode() + browser.get(f"/queues/{dlq.pk}/").content.decode()
    assert "accepted" not in later


def test_an_operator_cancels_a_pending_action_from_the_action_list(page, make_user):
    browser, dlq, _ = page
    confirmed = _panel(browser, dlq.pk, {"kind": "requeue", "selection": "all"})
    browser.post(f"/queues/{dlq.pk}/act/", confirmed, **HTMX)
    action = Action.objects.get()
    Action.objects.filter(pk=action.pk).update(state=Action.RUNNING)
    listing = browser.get(f"/queues/{dlq.pk}/actions/").content.decode()
    assert f"/queues/{dlq.pk}/actions/{action.pk}/cancel/" in listing

    viewer = Client()
    viewer.force_login(make_user("viewer")[0])
    assert viewer.post(f"/queues/{dlq.pk}/actions/{action.pk}/cancel/").status_code == 403

    operator = Client()
    operator.force_login(make_user("operator")[0])
    response = operator.post(f"/queues/{dlq.pk}/actions/{action.pk}/cancel/", **HTMX)
    assert response.status_code == 200 and "toast" in json.loads(response["HX-Trigger"])
    action.refresh_from_db()
    assert action.cancel_requested and action.state == Action.RUNNING  # it stops between batches
    assert AuditEntry.objects.filter(action="requeue.cancel").count() == 1


def test_a_confirmation_refused_before_any_action_exists_can_be_submitted_again(page):
    browser, dlq, _ = page
    confirmed = _panel(browser, dlq.pk, {"kind": "move", "selection": "all", "target": "nowhere-yet"})
    refused = browser.post(f"/queues/{dlq.pk}/act/", confirmed, **HTMX).content.decode()
    assert "does not exist" in refused and not Action.objects.exists()
    # Asked again with the target to be created, the same token is accepted, once.
    accepted = browser.post(f"/queues/{dlq.pk}/act/", {**confirmed, "create_target": "on"}, **HTMX)
    assert "accepted" in accepted.content.decode() and Action.objects.count() == 1

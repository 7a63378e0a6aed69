"""The message browser's export link and edit panel: JSON checked with a clear 400, a confirmation
panel with a one-time token, then the requeue of the edited message (once)."""

from __future__ import annotations

import json
import re

from django.test import Client

from messaging.actions.runner import run_action
from messaging.models import Action
from tests.action_helpers import celery_envelope, death_record, make_queue, push, redis_broker, unique_name  # noqa: F401


def logged_in(make_user, role):
    user, _ = make_user(role)
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_browser_offers_export_and_edit_and_the_edit_is_confirmed_once(redis_broker, make_user):
    config, store, prefix = redis_broker
    name = unique_name("orders")
    dlq = make_queue("main", name + ".dlq", dlq_of=make_queue("main", name))
    task_id = unique_name("task")
    push(
        store,
        prefix + dlq.name,
        [celery_envelope(name, task_id=task_id, kwargs={"amount": 0}, death=death_record(name))],
    )
    operator = logged_in(make_user, "operator")
    page = operator.get(f"/queues/{dlq.pk}/messages/").content.decode()
    assert f'href="/api/v1/queues/{dlq.pk}/export"' in page and 'data-field="edit-kwargs"' in page
    assert "&quot;amount&quot;: 0" in page  # the kwargs as JSON text, escaped
    viewer_page = logged_in(make_user, "viewer").get(f"/queues/{dlq.pk}/messages/").content.decode()
    assert "edit-kwargs" not in viewer_page and "/export" not in viewer_page

    url = f"/queues/{dlq.pk}/messages/edit/"
    form = {"message_id": task_id, "position": "0", "args": "[1, 2]", "kwargs": '{"amount": 5', "headers": ""}
    bad = operator.post(url, form)
    assert bad.status_code == 400 and "not valid JSON" in bad.content.decode()
    wrong = operator.post(url, {**form, "kwargs": "[5]"})
    assert wrong.status_code == 400 and "kwargs must be a JSON object" in wrong.content.decode()
    panel = operator.post(url, {**form, "kwargs": '{"amount": 5}'})
    assert panel.status_code == 200 and "Confirm edit and requeue" in panel.content.decode()
    assert not Action.objects.filter(queue=dlq).exists()  # nothing happens before the confirmation
    token = re.search(r'name="confirmation" value="([^"]+)"', panel.content.decode()).group(1)
    confirmed = {**form, "kwargs": '{"amount": 5}', "confirmed": "1", "confirmation": token}
    accepted = operator.post(url, confirmed)
    assert accepted.status_code == 200 and "accepted" in accepted.content.decode()
    again = operator.post(url, confirmed)
    assert again.status_code == 409 and "already done" in again.content.decode()
    action = run_action(Action.objects.get(queue=dlq).pk)
    assert action.done == 1
    moved = json.loads(store.lindex(prefix + name, 0))
    assert moved["headers"]["id"] == task_id and moved["headers"]["x-switchyard-edit-diff"] == "kwargs.amount changed"
    assert logged_in(make_user, "viewer").post(url, confirmed).status_code == 403


def test_page_search_lists_the_matches_ticked_for_the_requeue_form(redis_broker, make_user):
    config, store, prefix = redis_broker
    name = unique_name("orders")
    dlq = make_queue("main", name + ".dlq", dlq_of=make_queue("main", name))
    wanted = celery_envelope(name, task="app.refund", death=death_record(name, "TimeoutError", "gateway <b>slow</b>"))
    push(store, prefix + dlq.name, [celery_envelope(name, death=death_record(name)) for _ in range(5)] + [wanted])
    operator = logged_in(make_user, "operator")
    page = operator.get(f"/queues/{dlq.pk}/messages/").content.decode()
    assert 'id="search-submit"' in page
    found = operator.get(f"/queues/{dlq.pk}/messages/search/", {"exception_message": "GATEWAY"}).content.decode()
    assert "Scanned 6 of 6, 1 matched." in found
    assert json.loads(wanted)["headers"]["id"] in found and 'form="move-form" checked' in found
    assert "&lt;b&gt;slow&lt;/b&gt;" in found  # broker text shown escaped
    viewer = logged_in(make_user, "viewer")
    assert viewer.get(f"/queues/{dlq.pk}/messages/search/", {"text": "x"}).status_code == 403
    by_task = viewer.get(f"/queues/{dlq.pk}/messages/search/", {"task": "app.refund"}).content.decode()
    assert "1 matched" in by_task and "gateway" not in by_task and 'form="move-form"' not in by_task
    assert operator.get(f"/queues/{dlq.pk}/messages/search/", {"older_than_s": "soon"}).status_code == 400

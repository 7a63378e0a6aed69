"""The task list's filters match part of a name or hostname, its columns sort through an
allow-list (unknown times last), its result column follows the visibility policy, and workers carry
failed / retried counters from the kept task rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import TaskRecord, Worker


@pytest.fixture
def tasks(db):
    now = timezone.now()

    def make(task_id, name, state, worker, runtime, age_s, **extra):
        at = now - timedelta(seconds=age_s)
        return TaskRecord.objects.create(
            task_id=task_id, broker="b", name=name, state=state, queue="q", worker=worker, runtime_s=runtime,
            received_at=at, started_at=at if runtime is not None else None,
            finished_at=at + timedelta(seconds=runtime) if runtime is not None else None,
            created_at=at, updated_at=at, **extra,
        )  # fmt: skip

    make("t-email", "demo.send_email", "SUCCESS", "mail@host-a", 0.5, 30, result="{'sent': 'RESULT-SECRET'}")
    make("t-add", "demo.add", "SUCCESS", "math@host-b", 2.0, 20, result="5")
    make("t-fail", "demo.fail", "FAILURE", "math@host-b", 0.1, 10, exception="ValueError('card 4111 refused')")
    make("t-wait", "demo.slow", "RECEIVED", "math@host-b", None, 5)
    make("t-retry", "demo.flaky", "RETRY", "mail@host-a", None, 1, retries=1)
    now_ = timezone.now()
    for hostname in ("mail@host-a", "math@host-b"):
        Worker.objects.create(broker="b", hostname=hostname, status="online", last_heartbeat=now_, processed=7)


def api_ids(client, token, **params) -> list[str]:
    response = client.get("/api/v1/tasks", params, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return [t["id"] for t in response.json()["results"]]


def page_ids(client, **params) -> list[str]:
    response = client.get("/tasks/", params)
    assert response.status_code == 200
    return re.findall(r'data-task-id="([^"]+)"', response.content.decode())


def test_name_and_worker_filters_match_part_of_the_value(tasks, client, tokens, make_user):
    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    assert page_ids(client, name="demo.send") == ["t-email"]
    assert page_ids(client, name="demo.send_email") == ["t-email"]
    assert page_ids(client, name="DEMO.SEND") == ["t-email"]
    assert page_ids(client, worker="host-b") == ["t-wait", "t-fail", "t-add"]
    assert page_ids(client, worker="math", name="fail") == ["t-fail"]
    assert api_ids(client, tokens["viewer"], name="demo.send") == ["t-email"]
    assert api_ids(client, tokens["viewer"], name="demo.add") == ["t-add"]
    assert api_ids(client, tokens["viewer"], worker="mail@") == ["t-retry", "t-email"]
    assert api_ids(client, tokens["viewer"], worker="nobody") == []


def test_tasks_sort_by_allow_listed_columns_with_unknown_times_last(tasks, client, tokens, make_user):
    token = tokens["viewer"]
    assert api_ids(client, token) == ["t-retry", "t-wait", "t-fail", "t-add", "t-email"]
    assert api_ids(client, token, sort="-runtime") == ["t-add", "t-email", "t-fail", "t-retry", "t-wait"]
    assert api_ids(client, token, sort="runtime") == ["t-fail", "t-email", "t-add", "t-wait", "t-retry"]
    assert api_ids(client, token, sort="name") == ["t-add", "t-fail", "t-retry", "t-email", "t-wait"]
    assert api_ids(client, token, sort="-finished")[:3] == ["t-fail", "t-add", "t-email"]
    assert api_ids(client, token, sort="received") == ["t-email", "t-add", "t-fail", "t-wait", "t-retry"]
    assert api_ids(client, token, sort="state", worker="host-b") == ["t-fail", "t-wait", "t-add"]
    for bad in ("args", "-id", "--name", "name-", "created_at; drop table"):
        response = client.get("/api/v1/tasks", {"sort": bad}, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 400, bad

    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    assert page_ids(client, sort="-runtime", worker="host-b") == ["t-add", "t-fail", "t-wait"]
    assert page_ids(client, sort="args") == page_ids(client)  # not allow-listed: the default order
    body = client.get("/tasks/", {"sort": "-runtime", "name": "demo"}).content.decode()
    # The current column links to its other direction, keeping the filters; a sorted list is not live.
    assert 'aria-sort="descending"' in body and "?name=demo&amp;sort=runtime" in body
    assert 'data-live="false"' in body


def test_result_column_shows_results_to_operators_and_only_exception_types_to_viewers(tasks, client, make_user):
    operator, _ = make_user("operator")
    client.force_login(operator)
    body = client.get("/tasks/").content.decode()
    assert "RESULT-SECRET" in body and "card 4111 refused" in body and ">Result<" in body

    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    body = client.get("/tasks/").content.decode()
    assert "RESULT-SECRET" not in body and "4111" not in body
    assert "<code>ValueError</code>" in body


def test_workers_carry_failed_and_retried_counters(tasks, client, tokens, make_user):
    response = client.get("/api/v1/workers", HTTP_AUTHORIZATION=f"Bearer {tokens['viewer']}")
    by_name = {w["hostname"]: w for w in response.json()}
    assert {h: (w["processed"], w["failed"], w["retried"]) for h, w in by_name.items()} == {
        "mail@host-a": (7, 0, 1),
        "math@host-b": (7, 1, 0),
    }
    detail = client.get("/api/v1/workers/math@host-b", HTTP_AUTHORIZATION=f"Bearer {tokens['viewer']}").json()
    assert (detail["failed"], detail["retried"]) == (1, 0)

    viewer, _ = make_user("viewer")
    client.force_login(viewer)
    listing = client.get("/workers/").content.decode()
    row = re.search(r'<tr data-worker="math@host-b".*?</tr>', listing, re.S).group(0)
    assert re.search(r'data-field="failed"><a href="/tasks/\?worker=math%40host-b&amp;state=FAILURE">1</a>', row)
    assert 'data-field="retried">0<' in row
    page = client.get("/workers/b/mail@host-a/").content.decode()
    assert re.search(r'data-field="retried">1<', page) and "Restart pool" not in page

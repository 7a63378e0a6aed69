"""Edit, then requeue: a dead-lettered Celery task edited through the API runs on a real worker with
its new arguments; the original is gone, the audit keeps the diff; bad edits are a clear 400."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from messaging.actions.runner import run_action
from messaging.models import Action, AuditEntry
from tests.action_helpers import (
    REDIS_URL,
    celery_envelope,
    death_record,
    make_queue,
    push,
    redis_broker,  # noqa: F401  (fixture)
    unique_name,
)
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

APP = """
import json
import redis
from celery import Celery
from messaging.integrations.celery_dlq import install

app = Celery("editapp", broker={url!r})
app.conf.broker_transport_options = {{"global_keyprefix": {prefix!r}}}
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
install(app)
done = redis.Redis.from_url({url!r})

@app.task(name="editapp.charge", bind=True)
def charge(self, order, amount=0):
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {{amount}}")
    done.set({prefix!r} + "done:" + self.request.id, json.dumps({{
        "order": order, "amount": amount, "edited_by": self.request.get("x-switchyard-edited-by"),
    }}))
"""


def api_post(client, path, token, body):
    return client.post(
        "/api/v1/" + path,
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )


def start_worker(tmp_path, queue):
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "editapp", "worker", "--pool=solo", "-Q", queue, "-l", "warning",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.celery
def test_edited_dead_letter_runs_on_a_real_worker_with_its_new_kwargs(redis_broker, tokens, client, tmp_path):
    config, store, prefix = redis_broker
    name = unique_name("payments")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    (tmp_path / "editapp.py").write_text(textwrap.dedent(APP.format(url=REDIS_URL, prefix=prefix)))
    sys.path.insert(0, str(tmp_path))
    worker = start_worker(tmp_path, name)
    try:
        import editapp

        task_id = editapp.charge.apply_async(("A-17",), {"amount": 0}, queue=name).id
        wait_for(lambda: store.llen(prefix + dlq.name) == 1, 60, message="the failed task in the DLQ")
        dead = json.loads(store.lindex(prefix + dlq.name, 0))["headers"]
        assert dead["id"] == task_id and dead["x-death"][0]["exception-type"] == "ValueError"

        response = api_post(client, f"queues/{dlq.pk}/messages/{task_id}/edit", tokens["operator"],
                            {"args": ["A-17"], "kwargs": {"amount": 25}})  # fmt: skip
        assert response.status_code == 202, response.content
        action = run_action(response.json()["id"])
        assert action.state == Action.SUCCEEDED and action.done == 1, action.error

        ran = wait_for(lambda: store.get(prefix + "done:" + task_id), 60, message="the edited task to run")
        assert json.loads(ran) == {"order": "A-17", "amount": 25, "edited_by": action.username}
        assert store.llen(prefix + dlq.name) == 0  # the original is gone
        entry = AuditEntry.objects.get(action="requeue.edit", queue=dlq.name)
        assert entry.params["message"] == task_id
        assert entry.params["diff"] == [{"path": "kwargs.amount", "op": "changed", "before": 0, "after": 25}]
        # Viewers read which field changed, not its values.
        shown = client.get("/api/v1/audit?action=requeue.edit", HTTP_AUTHORIZATION=f"Token {tokens['viewer']}")
        assert shown.json()["results"][0]["params"]["diff"] == [{"path": "kwargs.amount", "op": "changed"}]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("editapp", None)
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def test_edit_publishes_provenance_and_keeps_the_task_id(redis_broker, tokens, client):
    config, store, prefix = redis_broker
    name = unique_name("orders")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    task_id = unique_name("task")
    twin = celery_envelope(name, task="app.charge", task_id=task_id, kwargs={"amount": 0}, death=death_record(name))
    other = celery_envelope(name, task="app.charge", kwargs={"amount": 1}, death=death_record(name))
    push(store, prefix + dlq.name, [twin, other])
    body = {"args": [1, 2], "kwargs": {"amount": 9}, "headers": {**json.loads(twin)["headers"], "tenant": "acme"}}
    response = api_post(client, f"queues/{dlq.pk}/messages/{task_id}/edit", tokens["operator"], body)
    assert response.status_code == 202, response.content
    assert "edit" not in response.json()["selection"]  # edited content is not shown to every role
    assert run_action(response.json()["id"]).done == 1
    moved = json.loads(store.lindex(prefix + name, 0))
    headers = moved["headers"]
    assert headers["id"] == task_id and headers["tenant"] == "acme"
    assert headers["x-switchyard-edited-from"] == task_id
    assert headers["x-switchyard-edit-diff"] == "kwargs.amount changed; headers.tenant added"
    assert headers["x-switchyard-requeued-from"] == dlq.name and headers["kwargsrepr"] == "{'amount': 9}"
    assert store.llen(prefix + dlq.name) == 1  # the other message stays


def test_bad_edits_are_a_clear_400_and_viewers_403(redis_broker, tokens, client):
    config, store, prefix = redis_broker
    name = unique_name("orders")
    dlq = make_queue("main", name + ".dlq", dlq_of=make_queue("main", name))
    task_id = unique_name("task")
    push(store, prefix + dlq.name, [celery_envelope(name, task_id=task_id, death=death_record(name))])
    path = f"queues/{dlq.pk}/messages/{task_id}/edit"
    op = tokens["operator"]
    broken = api_post(client, path, op, '{"args": [1,], "kwargs": {}}')
    assert broken.status_code == 400 and "JSON" in broken.content.decode()
    assert api_post(client, path, op, {"args": {"a": 1}, "kwargs": {}}).json()["detail"]["args"] == ["a JSON list"]
    assert api_post(client, path, op, {"args": [], "kwargs": [1]}).json()["detail"]["kwargs"] == ["a JSON object"]
    assert api_post(client, path, op, {"args": [], "kwargs": {}, "extra": 1}).status_code == 400
    huge = api_post(client, path, op, {"args": ["x" * 300_000], "kwargs": {}})
    assert huge.status_code == 400 and "at most" in huge.content.decode()
    same = api_post(client, path, op, {"args": [1, 2], "kwargs": {}})
    assert same.status_code == 400 and "nothing changed" in same.content.decode()
    assert api_post(client, f"queues/{dlq.pk}/messages/no-such/edit", op, {"args": [], "kwargs": {}}).status_code == 404
    assert api_post(client, path, tokens["viewer"], {"args": [3], "kwargs": {}}).status_code == 403
    unknown = api_post(client, f"queues/99999999/messages/{task_id}/edit", op, {"args": [], "kwargs": {}})
    assert unknown.status_code == 404
    assert store.llen(prefix + dlq.name) == 1 and not Action.objects.filter(queue=dlq).exists()

"""Worker and task pages render from stored rows; content stays hidden from viewers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import EventStream, TaskRecord, Worker


@pytest.fixture
def rows(db):
    now = timezone.now()
    Worker.objects.create(
        broker="b", hostname="w1@host", status="online", last_heartbeat=now, pool="prefork", concurrency=2,
        queues=["<q>"], registered=["demo.add"], active_tasks=[{"id": "t1", "name": "demo.add", "args": "[SECRET]",
        "kwargs": "{}", "time_start": now.timestamp(), "eta": "", "routing_key": "q"}], reserved=[], scheduled=None,
    )  # fmt: skip
    TaskRecord.objects.create(
        task_id="t1", broker="b", name="demo.add", state="STARTED", queue="q", worker="w1@host", args="[SECRET]",
        created_at=now, updated_at=now, events=[{"type": "received", "at": now.timestamp(), "hostname": "w1@host"}],
    )  # fmt: skip
    EventStream.objects.create(broker="b", connected=True, received=10, dropped=2)


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_worker_pages_render_and_hide_args_from_viewers(rows, client, make_user, role):
    user, _ = make_user(role)
    client.force_login(user)
    listing = client.get("/workers/")
    assert listing.status_code == 200 and b"w1@host" in listing.content and b"&lt;q&gt;" in listing.content
    detail = client.get("/workers/b/w1@host/").content.decode()
    assert ("[SECRET]" in detail) is (role == "admin")
    assert ("Remote control" in detail) is (role == "admin")
    assert client.get("/workers/b/nobody/").status_code == 404
    task = client.get("/tasks/t1/").content.decode()
    assert ("[SECRET]" in task) is (role == "admin")
    if role == "viewer":
        assert client.post("/workers/b/w1@host/control/", {"command": "pool_grow"}).status_code == 403
        assert client.post("/tasks/t1/revoke/").status_code == 403
    else:
        bad = client.post("/workers/b/w1@host/control/", {"command": "shutdown", "confirm": "wrong"})
        assert bad.status_code == 200 and b"confirm" in bad.content

"""The audit page and ``GET /api/v1/audit``: selections in words, right counts, server-side
filters by user, kind, queue and time range (limit/offset kept)."""

from datetime import UTC, datetime

import pytest

from messaging.models import AuditEntry


@pytest.fixture
def trail(db):
    def entry(at, user, action, queue="", params=None, outcome=""):
        row = AuditEntry.objects.create(username=user, action=action, queue=queue, params=params or {}, outcome=outcome)
        AuditEntry.objects.filter(pk=row.pk).update(at=at)
        return row

    one = {"action": 12, "selection": {"ids": ["m-1"]}, "target": "emails", "counted": 90, "rate": None,
           "dry_run": False, "create_target": False}  # fmt: skip
    return {
        "requeue": entry(
            datetime(2030, 1, 1, 10, tzinfo=UTC),
            "alice",
            "requeue",
            "emails.dlq",
            one,
            "accepted as action 12: 90 message(s) counted",
        ),  # fmt: skip
        "finished": entry(
            datetime(2030, 1, 1, 10, 1, tzinfo=UTC),
            "system",
            "requeue.finished",
            "emails.dlq",
            {"action": 12, "target": "emails"},
            "succeeded: 1 requeued, 0 not taken, 1 looked at",
        ),  # fmt: skip
        "purge": entry(
            datetime(2030, 1, 2, 9, tzinfo=UTC), "bob", "purge", "reports", {"action": 13}, "accepted"
        ),  # fmt: skip
        "revoke": entry(
            datetime(2030, 1, 3, 9, tzinfo=UTC),
            "alice",
            "task.revoke",
            "",
            {"task_id": "t-9", "terminate": False},
            "revoked",
        ),  # fmt: skip
    }


@pytest.fixture
def viewer(client, make_user):
    user, token = make_user("viewer")
    client.force_login(user)
    client.token = token
    return client


def ids(page: str) -> list[int]:
    import re

    return [int(i) for i in re.findall(r'data-audit-id="(\d+)"', page)]


def test_audit_page_shows_selection_and_counts_in_words(viewer, trail):
    page = viewer.get("/audit/").content.decode()
    assert "1 message by id → emails" in page
    assert "accepted as action 12: 1 message by id, of 90 in the queue" in page
    assert "90 message(s) counted" not in page and "{&#x27;" not in page and "{'" not in page
    assert "task id t-9; terminate no" in page


def test_audit_page_filters_by_user_kind_queue_and_time(viewer, trail):
    assert ids(viewer.get("/audit/?user=alice").content.decode()) == [trail["revoke"].pk, trail["requeue"].pk]
    assert ids(viewer.get("/audit/?action=requeue").content.decode()) == [trail["finished"].pk, trail["requeue"].pk]
    assert ids(viewer.get("/audit/?queue=reports").content.decode()) == [trail["purge"].pk]
    window = viewer.get("/audit/?since=2030-01-01T10:00&until=2030-01-02").content.decode()
    assert ids(window) == [trail["purge"].pk, trail["finished"].pk, trail["requeue"].pk]
    bad = viewer.get("/audit/?since=yesterday").content.decode()
    assert "a date (2030-01-31)" in bad
    assert "No entry matches these filters" in viewer.get("/audit/?user=nobody").content.decode()


def test_audit_api_filters_and_keeps_limit_and_offset(viewer, trail):
    auth = {"HTTP_AUTHORIZATION": f"Token {viewer.token}"}
    body = viewer.get("/api/v1/audit?user=alice&limit=1&offset=1", **auth).json()
    assert body["count"] == 2 and [r["id"] for r in body["results"]] == [trail["requeue"].pk]
    body = viewer.get("/api/v1/audit?action=requeue&queue=emails.dlq&since=2030-01-01T10:00:30Z", **auth).json()
    assert [r["id"] for r in body["results"]] == [trail["finished"].pk]
    body = viewer.get("/api/v1/audit?until=2030-01-01", **auth).json()
    assert body["count"] == 2
    refused = viewer.get("/api/v1/audit?since=soon", **auth)
    assert refused.status_code == 400 and "since" in refused.json()["detail"]


def test_audit_text_is_not_broken_mid_word():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[3] / "static" / "switchyard" / "app.css").read_text()
    assert "table.audit td.words { word-break: normal; overflow-wrap: normal" in css
    assert "table.audit td.name { overflow-wrap: anywhere; }" in css
    template = (Path(__file__).resolve().parents[3] / "templates" / "pages" / "audit.html").read_text()
    assert 'class="words"' in template and 'class="queues"' not in template

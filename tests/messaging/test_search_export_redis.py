"""Search and export of a DLQ on real Redis: every decoded field, the bounded scan said, a search's
filter used as a requeue's, roles, audit, and 100,000 messages exported in bounded memory."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest

from messaging.actions.runner import run_action
from messaging.models import Action, AuditEntry
from tests.action_helpers import (
    celery_envelope,
    death_record,
    make_queue,
    push,
    redis_broker,  # noqa: F401  (fixture)
    task_ids_in,
    unique_name,
)


@pytest.fixture
def dlq(redis_broker, tokens):
    config, client, prefix = redis_broker
    name = unique_name("orders")
    source = make_queue("main", name)
    dlq = make_queue("main", name + ".dlq", dlq_of=source)
    return client, prefix, source, dlq, tokens


def dead(source, task="app.tasks.charge", exception="ValueError", message="boom", **kwargs) -> bytes:
    return celery_envelope(source.name, task=task, death=death_record(source.name, exception, message), **kwargs)


def lines(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def api(client, method, path, token, **params):
    return getattr(client, method)("/api/v1/" + path, params, HTTP_AUTHORIZATION=f"Token {token}")


def found_ids(rows) -> list[str]:
    return [r["message"]["task_id"] for r in rows if "message" in r]


def fill_mixed(client, prefix, source, dlq):
    """Ten dead letters; the interesting ones named by their role in the search."""
    old = time.time() - 7200
    special = {
        "refund": dead(source, task="app.tasks.refund", task_id="t-refund"),
        "timeout": dead(source, exception="TimeoutError", message="gateway slow", task_id="t-timeout"),
        "card": dead(source, kwargs={"card": "4111-XYZ"}, task_id="t-card"),
        "old": dead(source, task_id="t-old"),
    }
    plain = [dead(source) for _ in range(6)]
    values = [*special.values(), *plain]
    # The old one: published two hours ago.
    envelope = json.loads(special["old"])
    envelope["headers"]["x-switchyard-published-at"] = old
    envelope["headers"]["tenant"] = "acme-eu"
    values[3] = json.dumps(envelope).encode()
    push(client, prefix + dlq.name, values)
    return [json.loads(v)["headers"]["id"] for v in values]


def test_search_by_each_decoded_field_and_says_what_it_scanned(dlq, client):
    redis_client, prefix, source, queue, tokens = dlq
    fill_mixed(redis_client, prefix, source, queue)
    op = tokens["operator"]
    path = f"queues/{queue.pk}/search"
    assert found_ids(lines(api(client, "get", path, op, task="app.tasks.refund"))) == ["t-refund"]
    assert found_ids(lines(api(client, "get", path, op, exception="TimeoutError"))) == ["t-timeout"]
    assert found_ids(lines(api(client, "get", path, op, exception_message="GATEWAY"))) == ["t-timeout"]
    assert found_ids(lines(api(client, "get", path, op, text="4111-xyz"))) == ["t-card"]
    assert found_ids(lines(api(client, "get", path, op, header="tenant=acme"))) == ["t-old"]
    assert found_ids(lines(api(client, "get", path, op, task_id="t-card"))) == ["t-card"]
    assert found_ids(lines(api(client, "get", path, op, older_than_s=3600))) == ["t-old"]
    assert "t-old" not in found_ids(lines(api(client, "get", path, op, newer_than_s=3600)))
    assert len(found_ids(lines(api(client, "get", path, op, newer_than_s=3600)))) == 9
    rows = lines(api(client, "get", path, op, task="app.tasks.charge", limit=4))
    summary = rows[-1]["summary"]
    assert (summary["scanned"], summary["total"], summary["truncated"]) == (4, 10, True)
    assert summary["said"].startswith("scanned 4 of 10, ")
    assert summary["matched"] == len(rows) - 1 == 3  # timeout, card, old (the refund is another task)


def test_viewer_may_search_by_task_but_not_by_content(dlq, client):
    redis_client, prefix, source, queue, tokens = dlq
    fill_mixed(redis_client, prefix, source, queue)
    viewer = tokens["viewer"]
    rows = lines(api(client, "get", f"queues/{queue.pk}/search", viewer, task="app.tasks.refund"))
    assert found_ids(rows) == ["t-refund"]
    assert rows[0]["message"]["args"] is None and rows[0]["message"]["kwargs"] is None
    for field in ({"text": "4111"}, {"exception_message": "slow"}, {"header": "tenant=acme"}):
        assert api(client, "get", f"queues/{queue.pk}/search", viewer, **field).status_code == 403
    assert api(client, "get", f"queues/{queue.pk}/search", viewer, bogus="1").status_code == 400
    assert api(client, "get", f"queues/{queue.pk}/search", viewer, older_than_s="soon").status_code == 400


def test_a_search_filter_used_as_a_requeue_filter_moves_exactly_the_matches(dlq, client):
    redis_client, prefix, source, queue, tokens = dlq
    ids = fill_mixed(redis_client, prefix, source, queue)
    flt = {"exception_message": "gateway", "text": "card"}
    assert found_ids(lines(api(client, "get", f"queues/{queue.pk}/search", tokens["operator"], **flt))) == []
    flt = {"task": "app.tasks.charge", "newer_than_s": 3600}
    matched = found_ids(lines(api(client, "get", f"queues/{queue.pk}/search", tokens["operator"], **flt)))
    assert len(matched) == 8
    response = client.post(
        f"/api/v1/queues/{queue.pk}/requeue",
        json.dumps({"filter": flt}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {tokens['operator']}",
    )
    assert response.status_code == 202, response.content
    action = run_action(response.json()["id"])
    assert action.state == Action.SUCCEEDED and action.done == 8
    assert sorted(task_ids_in(redis_client, prefix + source.name)) == sorted(matched)
    assert sorted(task_ids_in(redis_client, prefix + queue.name)) == sorted(set(ids) - set(matched))


def test_a_search_filter_used_as_a_delete_filter_deletes_exactly_the_matches(dlq, client):
    redis_client, prefix, source, queue, tokens = dlq
    ids = fill_mixed(redis_client, prefix, source, queue)
    flt = {"exception": "TimeoutError"}
    matched = found_ids(lines(api(client, "get", f"queues/{queue.pk}/search", tokens["operator"], **flt)))
    assert matched == ["t-timeout"]

    def delete(body):
        return client.post(
            f"/api/v1/queues/{queue.pk}/delete",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {tokens['admin']}",
        )

    assert delete({"filter": flt}).status_code == 400  # a filter names no message: the queue's name is typed
    response = delete({"filter": flt, "confirm": queue.name})
    assert response.status_code == 202, response.content
    action = run_action(response.json()["id"])
    assert action.state == Action.SUCCEEDED and action.done == 1
    assert sorted(task_ids_in(redis_client, prefix + queue.name)) == sorted(set(ids) - {"t-timeout"})


def test_export_is_operators_only_audited_and_unknown_queue_is_404(dlq, client):
    redis_client, prefix, source, queue, tokens = dlq
    ids = fill_mixed(redis_client, prefix, source, queue)
    path = f"queues/{queue.pk}/export"
    assert api(client, "get", path, tokens["viewer"]).status_code == 403
    assert api(client, "get", "queues/999999999/export", tokens["operator"]).status_code == 404
    response = api(client, "get", path, tokens["operator"])
    assert "attachment" in response["Content-Disposition"]
    rows = lines(response)
    assert [r["id"] for r in rows[:-1]] == ids
    first = rows[0]
    assert json.loads(base64.b64decode(first["raw"]))["headers"]["id"] == ids[0]
    assert first["message"]["task"] == "app.tasks.refund"
    assert rows[-1]["summary"]["exported"] == 10 and rows[-1]["summary"]["truncated"] is False
    filtered = lines(api(client, "get", path, tokens["admin"], exception="TimeoutError"))
    assert [r["id"] for r in filtered[:-1]] == ["t-timeout"]
    entries = list(AuditEntry.objects.filter(action="export", queue=queue.name).order_by("id"))
    assert len(entries) == 2
    assert entries[0].params["selection"] == {"all": True} and entries[0].params["exported"] == 10
    assert entries[1].params["selection"] == {"filter": {"exception": "TimeoutError"}}
    assert entries[1].outcome.startswith("exported 1 message(s)")
    assert redis_client.llen(prefix + queue.name) == 10  # an export takes nothing


def test_export_of_100000_messages_streams_in_bounded_memory(redis_broker, make_user, live_console):
    """Through the real ASGI server (uvicorn, as deployed): Django would read a sync iterator whole
    before sending; the export must stream chunk by chunk."""
    from messaging.config import SwitchyardConfig

    config, redis_client, prefix = redis_broker
    name = unique_name("bulk")
    queue = make_queue("main", name + ".dlq", dlq_of=make_queue("main", name))
    template = celery_envelope(name, kwargs={"order": 7}, death=death_record(name))
    # Fill server-side: one Lua call, not 100,000 round trips.
    redis_client.eval(
        "for i = 1, tonumber(ARGV[2]) do redis.call('LPUSH', KEYS[1], ARGV[1]) end", 1, prefix + queue.name,
        template, 100_000,
    )  # fmt: skip
    console = live_console(config=SwitchyardConfig(brokers=(config,)), monitor=False)
    token = make_user("operator")[1]
    started = time.monotonic()
    response = console.api(f"/api/v1/queues/{queue.pk}/export", token, stream=True)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/x-ndjson"
    base = highest = rss_bytes()  # the server runs in this process: its memory is measured here
    count = size = 0
    last = b""
    for chunk in response.iter_content(chunk_size=1 << 20):
        count += chunk.count(b"\n")
        size += len(chunk)
        last = (last + chunk)[-4096:]
        highest = max(highest, rss_bytes())
    growth_mb = (highest - base) / 1e6
    print(f"exported {count - 1} messages, {size / 1e6:.0f} MB of JSON Lines, in {time.monotonic() - started:.1f} s; "
          f"peak RSS growth {growth_mb:.1f} MB")  # fmt: skip
    assert count == 100_001
    summary = json.loads(last.splitlines()[-1])["summary"]
    assert summary["exported"] == 100_000 and summary["scanned"] == 100_000 and not summary["truncated"]
    assert growth_mb < 50
    assert size > 100_000 * 500  # the stream really held them all
    searched = console.api(f"/api/v1/queues/{queue.pk}/search?task_id=nope&limit=1000", token)
    assert json.loads(searched.text.splitlines()[-1])["summary"]["said"] == (
        "scanned 1000 of 100000, 0 matched (stopped after 1000 messages)"
    )


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

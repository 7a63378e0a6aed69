"""Assembling a journey from rows: order, gaps, duplicates, the family tree. Pure, no database."""

from __future__ import annotations

from messaging.journeys.assembly import assemble


def task(task_id="t2", events=(), **fields):
    return {
        "task_id": task_id,
        "name": "shop.charge",
        "state": "SUCCESS",
        "queue": "orders",
        "events": list(events),
        **fields,
    }


def e(kind, at, host="w1@h", **fields):
    return {"type": kind, "at": at, "hostname": host, **fields}


def kinds(journey):
    return [s["kind"] for s in journey["steps"]]


def test_failure_dead_letter_requeue_and_success_read_in_order():
    events = [
        e("sent", 1.0, host="api@h"),
        e("received", 1.1),
        e("started", 1.2),
        e("failed", 1.3, exception="ValueError('card declined')"),
        e("received", 5.0, host="w2@h"),
        e("started", 5.1, host="w2@h"),
        e("succeeded", 5.2, host="w2@h", runtime=0.1),
    ]
    marks = [
        {"kind": "requeued", "at": 4.0, "place": "orders.dlq", "by": "olivia", "detail": {"action": 7, "to": "orders"}},
        {"kind": "dead_lettered", "at": 1.4, "place": "orders.dlq", "by": "", "detail": {"from": "orders"}},
    ]
    journey = assemble(task(events=events), marks)
    assert kinds(journey) == [
        "sent", "received", "started", "failed", "dead_lettered", "requeued", "received", "started", "succeeded",
    ]  # fmt: skip
    requeued = journey["steps"][5]
    assert (requeued["by"], requeued["place"], requeued["detail"]["action"]) == ("olivia", "orders.dlq", 7)
    assert journey["steps"][0]["at"] == "1970-01-01T00:00:01+00:00"
    assert journey["steps"][1]["place"] == "orders" and journey["steps"][6]["by"] == "w2@h"
    assert not any(s["kind"] == "gap" for s in journey["steps"])


def test_what_was_not_seen_is_a_gap_not_an_invention():
    events = [e("received", 1.0), e("started", 1.1), e("failed", 1.2), e("received", 3.0), e("started", 3.1)]
    journey = assemble(task(events=events))
    gaps = [s for s in journey["steps"] if s["kind"] == "gap"]
    assert [g["detail"]["missing"] for g in gaps] == ["sent", "returned"]
    assert kinds(journey) == ["gap", "received", "started", "failed", "gap", "received", "started"]


def test_a_retry_shows_its_countdown_and_is_no_gap():
    events = [e("received", 1.0), e("started", 1.1), e("retried", 1.2, exception="Boom()"), e("sent", 1.2)]
    events.append(e("received", 1.3, eta="2030-01-01T00:00:10+00:00"))
    journey = assemble(task(events=events))
    retried = next(s for s in journey["steps"] if s["kind"] == "retried")
    assert retried["detail"]["eta"] == "2030-01-01T00:00:10+00:00"
    assert [s["kind"] for s in journey["steps"] if s["kind"] == "gap"] == ["gap"]  # only: no sent before 1.0


def test_a_second_start_without_failure_is_flagged_duplicate():
    events = [e("sent", 0.5), e("received", 1.0), e("started", 1.1), e("received", 2.0, host="w2"), e("started", 2.1)]
    journey = assemble(task(events=events, duplicate_deliveries=1))
    flagged = [(s["kind"], s["at"][-11:]) for s in journey["steps"] if s["detail"].get("duplicate")]
    assert [k for k, _ in flagged] == ["received", "started"]
    assert journey["duplicate_deliveries"] == 1


def row(task_id, name, parent_id, created_at, state="SUCCESS"):
    return {
        "task_id": task_id,
        "name": name,
        "state": state,
        "root_id": "t1",
        "parent_id": parent_id,
        "created_at": created_at,
    }


def test_chain_family_reads_as_one_tree():
    first = row("t1", "shop.reserve", "", 1)
    third = row("t3", "shop.ship", "t2", 3)
    fourth = row("t4", "shop.notify", "t3", 4)
    loop = row("t5", "x", "t5", 5, state="")
    journey = assemble(task(root_id="t1", parent_id="t1", created_at=2), family=[first, third, fourth, loop])
    assert journey["parent"] == {"task_id": "t1", "name": "shop.reserve", "state": "SUCCESS"}
    assert journey["children"] == [
        {"task_id": "t3", "name": "shop.ship", "state": "SUCCESS", "children": [
            {"task_id": "t4", "name": "shop.notify", "state": "SUCCESS", "children": []},
        ]},
    ]  # fmt: skip
    saga = journey["saga"]
    assert saga["task_id"] == "t1" and saga["children"][0]["task_id"] == "t2"
    assert saga["children"][0]["children"][0]["task_id"] == "t3"


def test_an_unseen_parent_is_named_not_invented():
    journey = assemble(task(parent_id="p-unknown"))
    assert journey["parent"] == {"task_id": "p-unknown", "name": "", "state": "not seen"}
    assert journey["children"] == [] and journey["saga"] is None


def test_a_send_stamped_after_the_worker_took_the_task_still_comes_first():
    journey = assemble(task(events=[e("received", 1.0), e("sent", 1.05, host="api"), e("started", 1.1)]))
    assert kinds(journey) == ["sent", "received", "started"]
    assert journey["steps"][0]["at"].startswith("1970-01-01T00:00:01.05")


def test_a_death_stamped_in_whole_seconds_comes_after_its_failure():
    events = [e("sent", 9.0), e("received", 10.2), e("started", 10.3), e("rejected", 10.6), e("failed", 10.7)]
    marks = [{"kind": "dead_lettered", "at": 10.0, "place": "orders.dlq", "by": "", "detail": {}}]
    journey = assemble(task(events=events), marks)
    assert kinds(journey) == ["sent", "received", "started", "failed", "dead_lettered"]
    assert journey["steps"][3]["detail"]["rejected"] is True


def test_a_timeline_at_its_cap_starts_with_a_gap():
    events = [e("received" if n % 3 == 0 else "started" if n % 3 == 1 else "retried", float(n)) for n in range(50)]
    journey = assemble(task(events=events))
    assert journey["steps"][0]["kind"] == "gap" and journey["steps"][0]["detail"]["missing"] == "earlier events"
    assert [s["detail"]["missing"] for s in journey["steps"] if s["kind"] == "gap"] == ["earlier events"]

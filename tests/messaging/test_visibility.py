"""The one rule for what viewers see of task content: exception types, no messages, no content."""

from __future__ import annotations

import pytest

from messaging.visibility import exception_type_only, for_role, for_viewer, task_for_role


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ValueError('bad card 4111-1111-1111-1111')", "ValueError"),
        ("celery.exceptions.Retry: Retry in 5s: secret", "celery.exceptions.Retry"),
        ("<app.errors.PaymentError object at 0x7f00>", "app.errors.PaymentError"),
        ("KeyError", "KeyError"),
        ("bad card 4111-1111-1111-1111", None),  # a custom repr that starts with the message
        ("<script>alert(1)</script>", None),
        ("4111(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_exception_type_only_names_the_type_and_nothing_of_the_message(text, expected):
    assert exception_type_only(text) == expected


def test_a_task_as_a_viewer_sees_it_and_as_an_operator_does():
    task = {
        "id": "t1",
        "state": "FAILURE",
        "args": "['4111']",
        "kwargs": "{}",
        "result": None,
        "exception": "ValueError('bad card 4111')",
        "traceback": "Traceback ...ValueError: bad card 4111",
        "events": [{"type": "failed", "exception": "ValueError('bad card 4111')", "at": 1.0}],
        "scheduled": [{"request": {"args": "['4111']", "headers": {"x": "4111"}}}],
    }
    seen = task_for_role(task, reads_bodies=False)
    assert "4111" not in repr(seen)
    assert seen["exception"] == "ValueError" and seen["events"][0]["exception"] == "ValueError"
    assert seen["traceback"] is None and seen["args"] is None and seen["scheduled"][0]["request"]["headers"] is None
    assert seen["id"] == "t1" and seen["state"] == "FAILURE"
    assert task_for_role(task, reads_bodies=True) is task
    assert "4111" in task["exception"]  # the input is left alone
    assert for_role([task], True) == [task] and for_viewer("4111") == "4111"  # only named fields change


def test_a_browsed_message_as_a_viewer_sees_it_keeps_the_exception_type_and_plain_headers():
    from messaging.visibility import message_for_viewer

    message = {
        "id": "m1",
        "args": ["4111"],
        "kwargs": {"card": "4111"},
        "body": '[["4111"], {}, {}]',
        "headers": {"task": "pay", "argsrepr": "('4111',)", "kwargsrepr": "{}", "x-death": [{"reason": "rejected"}]},
        "death": {"reason": "rejected", "exception_type": "ValueError", "exception_message": "bad card 4111",
                  "traceback": "Traceback ... 4111"},
    }  # fmt: skip
    seen = message_for_viewer(message)
    assert (seen["args"], seen["kwargs"], seen["body"]) == (None, None, None)
    assert seen["headers"] == {"task": "pay"}
    assert seen["death"] == {"reason": "rejected", "exception_type": "ValueError", "exception_message": None,
                             "traceback": None}  # fmt: skip
    assert message["headers"]["argsrepr"] == "('4111',)"  # the original is untouched

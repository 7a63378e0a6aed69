"""Queue names: Celery plumbing told from work queues, and names made storable. Pure, no I/O."""

from __future__ import annotations

import pytest

from messaging.queue_names import MAX_NAME_LENGTH, QueueRole, queue_role, storable_name


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("emails", QueueRole.WORK),
        ("emails.dlq", QueueRole.WORK),
        ("celeryev.switchyard.5b1c0f7e-0d1e-4a55-9a57-5b1f0f0c3c11", QueueRole.OWN),
        ("celeryev.5b1c0f7e-0d1e-4a55-9a57-5b1f0f0c3c11", QueueRole.SYSTEM),
        ("celery@worker-1.celery.pidbox", QueueRole.SYSTEM),
        ("0b0ed6a4-5a6c-3b8e-a4d7-3b8f2f6f3e7a.reply.celery.pidbox", QueueRole.TRANSIENT),
    ],
)
def test_celery_plumbing_is_told_from_work_queues(name, role):
    assert queue_role(name) is role


def test_storable_names_come_back_unchanged():
    for name in ("emails", "ünïcødé-队列", "with space", "a" * MAX_NAME_LENGTH):
        assert storable_name(name) == (name, False)


def test_bytes_that_are_not_utf8_and_nul_read_as_escapes():
    raw = b"<b>bad\xff\xfe\x00end"
    name = raw.decode("utf-8", "surrogateescape")  # as the Redis adapter hands it over
    assert storable_name(name) == ("<b>bad\\xff\\xfe\\x00end", True)


def test_an_overlong_name_is_cut_stably_and_stays_distinct():
    first, second = "q" * 2000 + "1", "q" * 2000 + "2"
    shown, escaped = storable_name(first)
    assert escaped and len(shown) <= MAX_NAME_LENGTH
    assert storable_name(first)[0] == shown
    assert storable_name(second)[0] != shown

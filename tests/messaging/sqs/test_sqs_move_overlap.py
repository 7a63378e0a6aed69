"""A move from a standard SQS queue with ``move_overlap_deletes`` deletes batch N while it
receives batch N+1: every message still arrives once, and no more than one batch (the adapter's
stated bound) is ever sent and not yet deleted, also between runner steps and when the runner
stops and settles. Without the option, or with a short visibility timeout, calls never overlap."""

from __future__ import annotations

import time

import pytest

from messaging.brokers.moves import MovePlan
from messaging.brokers.registry import broker_for
from messaging.brokers.sqs.client import CALL_LIMIT_S
from messaging.brokers.sqs.move_session import BATCH, SQSMoveSession
from tests.messaging.sqs.conftest import sqs_config
from tests.messaging.sqs.test_sqs_actions import kombu_body, task_ids


def overlapping(space, **options):
    return sqs_config("aws", space.prefix, move_overlap_deletes=True, **options)


def plan_for(source: str, target: str | None, budget: int, in_doubt: list[int], deleting: bool = False) -> MovePlan:
    return MovePlan(
        source=source,
        target=target,
        budget=budget,
        selector=lambda message: True,
        on_in_doubt=in_doubt.append,
        deleting=deleting,
    )


def test_overlapped_move_takes_every_message_once_with_one_batch_in_doubt_at_most(sqs_space):
    source, target = sqs_space.name("overlap-src"), sqs_space.name("overlap-dst")
    sqs_space.create("overlap-src")
    sqs_space.create("overlap-dst")
    ids = [f"o-{i:03d}" for i in range(95)]
    sqs_space.send(source, [kombu_body(i, target) for i in ids])
    in_doubt: list[int] = []
    with broker_for(overlapping(sqs_space)) as broker:
        session = broker.open_move(plan_for(source, target, len(ids), in_doubt))
        assert isinstance(session, SQSMoveSession) and session.deleter is not None
        try:
            progress = session.step(50)
            # The last batch of the step is sent; its delete may still run: it stays in doubt.
            assert not progress.finished and in_doubt[-1] == BATCH
            while not progress.finished:
                progress = session.step(50)
        finally:
            session.close()
    assert (progress.moved, progress.duplicated, progress.missing) == (95, 0, 0)
    assert max(in_doubt) <= BATCH and in_doubt[-1] == 0
    assert sorted(task_ids(sqs_space.drain(target))) == ids
    assert sqs_space.drain(source) == []


def test_settle_between_steps_ends_the_running_delete_and_clears_the_doubt(sqs_space):
    source, target = sqs_space.name("settle-src"), sqs_space.name("settle-dst")
    sqs_space.create("settle-src")
    sqs_space.create("settle-dst")
    ids = [f"s-{i:03d}" for i in range(35)]
    sqs_space.send(source, [kombu_body(i, target) for i in ids])
    in_doubt: list[int] = []
    with broker_for(overlapping(sqs_space)) as broker:
        session = broker.open_move(plan_for(source, target, len(ids), in_doubt))
        try:
            first = session.step(20)
            # Counted once SQS answered the delete: the second batch's is still to be collected.
            assert (first.scanned, first.moved, in_doubt[-1]) == (20, 10, BATCH)
            settled = session.settle()
            assert settled is not None and settled.moved == 20 and in_doubt[-1] == 0
            assert session.settle() is None
        finally:
            session.close()
    assert len(sqs_space.drain(target)) == 20
    assert len(sqs_space.drain(source)) == 15


def test_overlapped_delete_of_every_message_counts_each_once(sqs_space):
    source = sqs_space.name("gone")
    sqs_space.create("gone")
    sqs_space.send(source, [kombu_body(f"g-{i}", source) for i in range(27)])
    in_doubt: list[int] = []
    with broker_for(overlapping(sqs_space)) as broker:
        session = broker.open_move(plan_for(source, None, 27, in_doubt, deleting=True))
        try:
            progress = session.step(50)
        finally:
            session.close()
    # Deleting sends nothing: nothing is ever in doubt.
    assert (progress.finished, progress.moved, progress.missing) == (True, 27, 0)
    assert in_doubt == []
    assert sqs_space.drain(source) == []


class CallLog:
    """The adapter's real client, noting when each call started and returned."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def timed(**kwargs):
            started = time.monotonic()
            try:
                return method(**kwargs)
            finally:
                self.calls.append((name, started, time.monotonic()))

        return timed


@pytest.mark.parametrize("overlap", [False, True])
def test_without_the_option_or_with_a_short_visibility_timeout_calls_never_overlap(sqs_space, overlap):
    """With a visibility timeout shorter than a call can take, batch N could be visible again
    before its delete returns: the next receive then waits for that delete."""
    source, target = sqs_space.name("short-src"), sqs_space.name("short-dst")
    sqs_space.create("short-src")
    sqs_space.create("short-dst")
    sqs_space.send(source, [kombu_body(f"v-{i}", target) for i in range(30)])
    config = overlapping(sqs_space, move_visibility_timeout_s=CALL_LIMIT_S - 1) if overlap else sqs_space.config
    with broker_for(config) as broker:
        session = broker.open_move(plan_for(source, target, 30, []))
        session.client = log = CallLog(session.client)
        try:
            progress = session.step(50)
        finally:
            session.close()
    assert (progress.finished, progress.moved, progress.duplicated) == (True, 30, 0)
    deletes = [ended for name, _, ended in log.calls if name == "delete_message_batch"]
    receives = [started for name, started, _ in log.calls if name == "receive_message"]
    assert len(deletes) == 3 and all(later > ended for later, ended in zip(receives[1:], deletes, strict=False))
    assert len(sqs_space.drain(target)) == 30

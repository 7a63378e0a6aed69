"""A resumed SQS move waits for the messages a dead run still held, and does not end in the moment
one of them turns visible: moto's long poll does not return a message that turns visible while the
receive is out, so the read of the source's attributes that follows finds nothing held any more.
The run that ended there once reported success with a message still in the source."""

from __future__ import annotations

import time

from messaging.brokers.moves import MovePlan, MoveProgress
from messaging.brokers.registry import broker_for
from tests.messaging.sqs.test_sqs_actions import kombu_body, task_ids

#: The dead run's receives: one message each, back after 2, 3, ... 6 seconds (each return is one
#: more chance for the moment the run must not end in).
HELD_S = (2, 3, 4, 5, 6)


def test_a_resumed_move_takes_every_message_a_dead_run_held_when_they_turn_visible(sqs_space):
    source, target = sqs_space.name("held-src"), sqs_space.name("held-dst")
    sqs_space.create("held-src")
    sqs_space.create("held-dst")
    ids = [f"held-{i}" for i in range(len(HELD_S))]
    sqs_space.send(source, [kombu_body(i, target) for i in ids])
    for seconds in HELD_S:
        held = sqs_space.client.receive_message(QueueUrl=sqs_space.url(source), VisibilityTimeout=seconds)
        assert len(held["Messages"]) == 1
    plan = MovePlan(
        source=source,
        target=target,
        budget=9 + len(ids),
        selector=lambda message: True,
        resume_from=MoveProgress(scanned=9, moved=9),
    )
    started = time.monotonic()
    with broker_for(sqs_space.config) as broker:
        session = broker.open_move(plan)
        try:
            progress = session.step(50)
            while not progress.finished:
                assert time.monotonic() - started < 60, "the resumed run never ended"
                progress = session.step(50)
        finally:
            session.close()
    assert progress.moved == 9 + len(ids)
    assert sorted(task_ids(sqs_space.drain(target))) == ids
    assert sqs_space.drain(source) == []

"""The identity that recognises a message RabbitMQ hands back after a move (rabbitmq/move_messages.py)."""

from __future__ import annotations

import datetime

import amqp

from messaging.brokers.rabbitmq.move_messages import move_identity


def message(task_id: str = "t-1", body: bytes = b"[[1], {}, {}]", **headers) -> amqp.Message:
    death = [{"queue": "orders", "reason": "rejected", "count": 1, "time": datetime.datetime(2026, 11, 22, 4, 0)}]
    return amqp.Message(
        body,
        content_type="application/json",
        delivery_mode=2,
        application_headers={"task": "app.work", "id": task_id, "x-death": death, **headers},
    )


def test_a_redelivery_with_a_delivery_count_is_the_same_message():
    assert move_identity(message()) == move_identity(message(**{"x-delivery-count": 3}))


def test_messages_differing_in_task_id_body_or_headers_differ():
    first = move_identity(message())
    assert move_identity(message(task_id="t-2")) != first
    assert move_identity(message(body=b"[[2], {}, {}]")) != first
    assert move_identity(message(retries=1)) != first
    moved_again = message()
    moved_again.properties["message_id"] = "m-1"
    assert move_identity(moved_again) != first


def test_byte_identical_copies_share_one_identity():
    assert move_identity(message()) == move_identity(message())

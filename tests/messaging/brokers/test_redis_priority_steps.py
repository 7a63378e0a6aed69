"""The sub-queue a Redis move or restore files a message under is the one Kombu's own publish
would use, for every priority and the step lists teams configure."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kombu.transport.redis import Channel

from messaging.brokers.base import BrokerConfig
from messaging.brokers.redis.broker import RedisBroker


@pytest.mark.parametrize("steps", [[0, 3, 6, 9], list(range(10)), [0, 4, 8], [0, 2, 7], [2, 5]])
@pytest.mark.parametrize("sep", ["\x06\x16", ":", "::"])
def test_priority_step_and_key_are_kombus(steps, sep):
    broker = RedisBroker(
        BrokerConfig(name="t", url="redis://127.0.0.1:6379/0", options={"priority_steps": steps, "sep": sep})
    )
    kombu = SimpleNamespace(priority_steps=steps, sep=sep)
    kombu.priority = lambda n: Channel.priority(kombu, n)
    try:
        for priority in range(0, 12):
            step = Channel.priority(kombu, priority)
            assert broker.priority_step({"priority": priority}) == step
            message = {"properties": {"priority": priority}}
            assert broker._q_for_priority("q", message) == Channel._q_for_pri(kombu, "q", priority)
        # No priority Kombu could read: Kombu publishes and restores with priority 0; a move
        # keeps the step the message sits in.
        for properties in ({}, {"priority": None}, {"priority": "high"}, None):
            assert broker.priority_step(properties) is None
            assert broker._q_for_priority("q", {"properties": properties}) == Channel._q_for_pri(kombu, "q", 0)
    finally:
        broker.close()

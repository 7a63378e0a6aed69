"""A monitor that starts or takes over goes on with the age of the message at the head of a queue
(the lower bound Redis allows) instead of restarting it from zero."""

from __future__ import annotations

import time

from messaging.brokers.base import BrokerConfig, BrokerSample, QueueStats
from messaging.models import Queue
from messaging.sample_recorder import BrokerMemory, record_sample

CONFIG = BrokerConfig(name="main", url="redis://127.0.0.1:6379/0")


def sample_round(memory: BrokerMemory, head_digest: str | None, depth: int = 5) -> Queue:
    sample = BrokerSample(queues=[QueueStats(name="emails", depth=depth, unacked=0, head_digest=head_digest)])
    record_sample(CONFIG, memory, sample, 0.01)
    return Queue.objects.get(broker="main", name="emails")


def test_a_new_monitor_keeps_the_head_age_when_the_same_message_is_at_the_head(db):
    first = sample_round(BrokerMemory(), "digest-a")
    assert first.head_digest == "digest-a" and first.oldest_age_s is not None and first.oldest_age_s < 5
    # As if the previous monitor had first seen that head 120 s ago.
    Queue.objects.filter(pk=first.pk).update(head_first_seen_at=time.time() - 120)

    successor = sample_round(BrokerMemory(), "digest-a")
    assert successor.oldest_age_s >= 120 and successor.oldest_age_exact is False


def test_a_new_monitor_starts_from_zero_when_the_head_changed(db):
    first = sample_round(BrokerMemory(), "digest-a")
    Queue.objects.filter(pk=first.pk).update(head_first_seen_at=time.time() - 120)

    successor = sample_round(BrokerMemory(), "digest-b")
    assert successor.oldest_age_s < 5 and successor.head_digest == "digest-b"
    assert successor.head_first_seen_at > time.time() - 5


def test_an_emptied_queue_forgets_its_head(db):
    sample_round(BrokerMemory(), "digest-a")
    emptied = sample_round(BrokerMemory(), None, depth=0)
    assert emptied.oldest_age_s == 0 and emptied.head_digest == "" and emptied.head_first_seen_at is None

"""Which queues a Redis sample reports when their lists are gone (Redis deletes an empty list)."""

from __future__ import annotations

from messaging.brokers.base import BrokerConfig
from messaging.brokers.redis.broker import RedisBroker

SEP = "\x06\x16"


def broker(space) -> RedisBroker:
    config = BrokerConfig(name="test", url=space.url, options={"global_keyprefix": space.prefix})
    return RedisBroker(config)


def depths(sample) -> dict[str, int | None]:
    return {q.name: q.depth for q in sample.queues}


def test_remembered_dead_letter_queue_of_a_bound_queue_reads_zero_once_emptied(redis_space):
    source = redis_space.name("emails")
    redis_space.client.sadd(f"{redis_space.prefix}_kombu.binding.{source}", f"{source}{SEP}{SEP}{source}")
    adapter = broker(redis_space)
    try:
        # Remembered from an earlier sample (it held dead letters), now purged: no key at all.
        assert depths(adapter.sample([source, source + ".dlq"]))[source + ".dlq"] == 0
        # A remembered queue that nothing binds and whose source is unknown is gone, as before.
        stray = redis_space.name("stray") + ".dlq"
        assert stray not in depths(adapter.sample([stray]))
    finally:
        adapter.close()


def test_watched_queue_reads_zero_without_key_or_binding(redis_space):
    parked = redis_space.name("parked")
    adapter = broker(redis_space)
    try:
        assert parked not in depths(adapter.sample([parked]))
        assert depths(adapter.sample([parked], [parked]))[parked] == 0
        redis_space.client.lpush(redis_space.prefix + parked, b"m")
        assert depths(adapter.sample([], [parked]))[parked] == 1
    finally:
        adapter.close()

"""A sample round over 1,000 queues: bounded round trips, and the wall time printed.

Run with ``-s`` (or read the lines printed outside capture) to see the figures.
"""

from __future__ import annotations

import json
import time

import amqp
import pytest
import redis.connection

from messaging.brokers.base import BrokerConfig
from messaging.brokers.rabbitmq.broker import RabbitMQBroker
from messaging.brokers.redis.broker import PUBLISHED_AT_HEADER, RedisBroker

QUEUES = 1000


class RoundTrips:
    """Counts what redis-py writes to its sockets: one write per command or pipeline."""

    def __init__(self) -> None:
        self.total = 0
        self.scans = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(connection, command, check_health=True):
            self.total += 1
            head = command if isinstance(command, bytes) else bytes(command[0])
            self.scans += b"\r\nSCAN\r\n" in head[:32]
            return original(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    def reset(self) -> None:
        self.total = self.scans = 0


def fill_redis(client, prefix: str, token: str, count: int) -> list[str]:
    names = [f"q{i:05d}-{token}" for i in range(count)]
    envelope = {
        "body": "e30=",
        "content-type": "application/json",
        "headers": {PUBLISHED_AT_HEADER: time.time()},
        "properties": {"body_encoding": "base64"},
    }
    with client.pipeline(transaction=False) as pipe:
        for i, name in enumerate(names):
            pipe.sadd(f"{prefix}_kombu.binding.ex-{token}", f"{name}\x06\x16\x06\x16{name}")
            key = prefix + name + ("\x06\x163" if i % 3 == 0 else "")
            pipe.lpush(key, *[json.dumps(envelope)] * (1 + i % 4))
            if i % 10 == 0:
                pipe.hset(f"{prefix}unacked", f"tag-{i}", json.dumps([envelope, f"ex-{token}", name]))
        pipe.execute()
    return names


def test_sampling_1000_redis_queues_costs_the_same_round_trips_as_10(redis_space, monkeypatch, capsys):
    small_prefix, big_prefix = redis_space.prefix + "small:", redis_space.prefix + "big:"
    fill_redis(redis_space.client, small_prefix, redis_space.token, 10)
    names = fill_redis(redis_space.client, big_prefix, redis_space.token, QUEUES)
    small = RedisBroker(BrokerConfig(name="s", url=redis_space.url, options={"global_keyprefix": small_prefix}))
    big = RedisBroker(BrokerConfig(name="b", url=redis_space.url, options={"global_keyprefix": big_prefix}))
    small.sample(), big.sample()  # connect and load the script first
    trips = RoundTrips()
    trips.install(monkeypatch)

    small.sample()
    small_trips, small_scans = trips.total, trips.scans
    trips.reset()
    started = time.perf_counter()
    sample = big.sample()
    elapsed = time.perf_counter() - started
    big_trips, big_scans = trips.total, trips.scans

    assert len(sample.queues) == QUEUES
    assert sum(q.depth for q in sample.queues) == sum(1 + i % 4 for i in range(QUEUES))
    assert sum(q.unacked for q in sample.queues) == sample.unacked_total == QUEUES // 10
    assert all(q.head_published_at for q in sample.queues)
    # SCAN calls follow the size of the whole keyspace (shared with others), not the queue count.
    assert big_trips - big_scans == small_trips - small_scans == 2  # SMEMBERS pipeline + script
    assert big_scans <= small_scans + 1
    with capsys.disabled():
        print(
            f"\nredis: sample of {len(names)} queues in {elapsed * 1000:.1f} ms, "
            f"{big_trips} round trips ({big_scans} SCAN over "
            f"{redis_space.client.dbsize()} keys + SMEMBERS pipeline + script pipeline)"
        )


def test_sampling_1000_rabbitmq_queues(rabbit_vhost, capsys):
    address_url = rabbit_vhost.amqp_url
    broker = RabbitMQBroker(BrokerConfig(name="r", url=address_url))
    conn = amqp.Connection(host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=rabbit_vhost.name)
    conn.connect()
    try:
        channel = conn.channel()
        names = [f"q{i:05d}" for i in range(QUEUES)]
        for name in names:
            channel.queue_declare(name, durable=False, auto_delete=False)
            channel.basic_publish(amqp.Message(b"x", timestamp=int(time.time())), "", name)
    finally:
        conn.close()
    broker.sample()  # warm up: session and the cached stats mode

    started = time.perf_counter()
    sample = broker.sample()
    elapsed = time.perf_counter() - started
    fallback = RabbitMQBroker(BrokerConfig(name="r", url=address_url, management_url="http://127.0.0.1:1"))
    started = time.perf_counter()
    passive = fallback.sample(known_queues=names)
    passive_elapsed = time.perf_counter() - started

    assert len(sample.queues) == QUEUES
    assert len(passive.queues) == QUEUES and all(q.depth == 1 for q in passive.queues)
    with capsys.disabled():
        print(
            f"\nrabbitmq: sample of {QUEUES} queues in {elapsed * 1000:.1f} ms "
            f"(totals, statistics page, consumers, policies); fallback {passive_elapsed * 1000:.1f} ms"
        )

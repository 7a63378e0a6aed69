"""RedisBroker against the real Redis, messages published and consumed through Kombu."""

from __future__ import annotations

import hashlib
import json
import time

import kombu
import pytest

from messaging.brokers.base import BrokerConfig, BrokerError, QueueStats
from messaging.brokers.redis.broker import PUBLISHED_AT_HEADER, RedisBroker

SEP = "\x06\x16"


def broker(space, *, prefix: bool = True, queues: tuple[str, ...] = (), **options) -> RedisBroker:
    if prefix:
        options.setdefault("global_keyprefix", space.prefix)
    return RedisBroker(BrokerConfig(name="test", url=space.url, queues=queues, options=options))


def connection(space, *, prefix: bool = True) -> kombu.Connection:
    options = {"global_keyprefix": space.prefix} if prefix else {}
    return kombu.Connection(space.url, transport_options=options)


def declare(conn: kombu.Connection, space, base: str, **queue_arguments) -> kombu.Queue:
    name = space.name(base)
    queue = kombu.Queue(
        name,
        kombu.Exchange(space.name("ex"), type="direct"),
        routing_key=name,
        queue_arguments=queue_arguments or None,
    )
    queue(conn.default_channel).declare()
    return queue


def publish(conn: kombu.Connection, queue: kombu.Queue, body, **kwargs) -> None:
    conn.Producer().publish(body, exchange=queue.exchange, routing_key=queue.routing_key, retry=False, **kwargs)


def stats_of(sample, name: str) -> QueueStats:
    found = [q for q in sample.queues if q.name == name]
    assert len(found) == 1, f"{name} not in {[q.name for q in sample.queues][:20]}"
    return found[0]


def test_depth_counts_every_priority_sub_queue(redis_space):
    with connection(redis_space, prefix=False) as conn:
        queue = declare(conn, redis_space, "prio", **{"x-max-priority": 10})
        priorities = [0, 1, 4, 5, 7, 9, 9, None]
        for n, priority in enumerate(priorities):
            publish(conn, queue, {"n": n}, priority=priority)
    client = redis_space.client
    lengths = {step: client.llen(queue.name + (f"{SEP}{step}" if step else "")) for step in (0, 3, 6, 9)}
    assert lengths == {0: 3, 3: 2, 6: 1, 9: 2}, "Kombu should file priorities in sub-queues"

    adapter = RedisBroker(BrokerConfig(name="t", url=redis_space.url))
    stats = stats_of(adapter.sample(), queue.name)

    assert stats.depth == len(priorities)
    assert stats.consumers is None and stats.publish_rate is None and stats.consume_rate is None


def test_global_keyprefix_from_options_and_url(redis_space):
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "prefixed")
        for n in range(3):
            publish(conn, queue, {"n": n}, priority=n * 3)

    assert redis_space.client.exists(redis_space.prefix + queue.name)
    by_option = broker(redis_space).sample()
    url = f"{redis_space.url}?global_keyprefix={redis_space.prefix}"
    by_url = RedisBroker(BrokerConfig(name="t", url=url)).sample()
    unprefixed = broker(redis_space, prefix=False).sample()

    assert stats_of(by_option, queue.name).depth == 3
    assert stats_of(by_url, queue.name).depth == 3
    assert queue.name not in {q.name for q in unprefixed.queues}


def test_discovers_a_queue_only_its_binding_names(redis_space):
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "undeclared-anywhere")
        publish(conn, queue, {"hello": 1})
        empty = declare(conn, redis_space, "bound-but-empty")

    sample = broker(redis_space).sample(known_queues=())

    assert stats_of(sample, queue.name).depth == 1
    assert stats_of(sample, empty.name).depth == 0
    assert (queue.name, queue.name) in sample.bindings[redis_space.name("ex")]


def test_configured_queue_without_key_is_a_real_zero(redis_space):
    name = redis_space.name("never-used")
    config = BrokerConfig(
        name="t",
        url=redis_space.url,
        queues=(name,),
        options={"global_keyprefix": redis_space.prefix},
    )

    stats = stats_of(RedisBroker(config).sample(), name)

    assert stats.depth == 0
    assert stats.unacked == 0
    assert stats.head_digest is None and stats.head_published_at is None


def test_unacked_messages_are_attributed_to_their_queue(redis_space):
    with connection(redis_space) as conn:
        busy = declare(conn, redis_space, "busy")
        idle = declare(conn, redis_space, "idle")
        for n in range(5):
            publish(conn, busy, {"n": n})
        publish(conn, idle, {"n": 0})
        # The default exchange routes by queue name: attributed without any binding.
        conn.Producer().publish({"direct": 1}, exchange="", routing_key=idle.name, retry=False)
        channel = conn.channel()
        held = [busy(channel).get(no_ack=False) for _ in range(3)]
        held.append(idle(channel).get(no_ack=False))
        held.append(idle(channel).get(no_ack=False))
        assert all(held)

        sample = broker(redis_space).sample()
        for message in held:
            message.ack()
        after = broker(redis_space).sample()

    assert (stats_of(sample, busy.name).depth, stats_of(sample, busy.name).unacked) == (2, 3)
    assert (stats_of(sample, idle.name).depth, stats_of(sample, idle.name).unacked) == (0, 2)
    assert sample.unacked_total == 5 and sample.warning is None
    assert stats_of(after, busy.name).unacked == 0 and after.unacked_total == 0


def test_too_many_unacked_gives_only_a_total(redis_space):
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "many")
        for n in range(4):
            publish(conn, queue, {"n": n})
        channel = conn.channel()
        held = [queue(channel).get(no_ack=False) for _ in range(3)]

        sample = broker(redis_space, unacked_attribution_limit=2).sample()
        for message in held:
            message.ack()

    assert stats_of(sample, queue.name).unacked is None
    assert stats_of(sample, queue.name).depth == 1
    assert sample.unacked_total == 3


def test_head_digest_holds_while_the_head_stays_and_changes_after_a_consume(redis_space):
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "head")
        for n in range(3):
            publish(conn, queue, {"n": n})
        adapter = broker(redis_space)
        first = stats_of(adapter.sample(), queue.name).head_digest
        publish(conn, queue, {"n": "newest"})  # lands at the far end: the head does not move
        again = stats_of(adapter.sample(), queue.name).head_digest
        _, (head, *_rest) = adapter.peek(queue.name, 0, 1)
        assert queue(conn.channel()).get(no_ack=True).payload == {"n": 0}
        moved = stats_of(adapter.sample(), queue.name).head_digest

    assert first == again == hashlib.sha1(head.raw).hexdigest()
    assert moved is not None and moved != first


def test_head_published_at_is_the_oldest_header_among_sub_queue_heads(redis_space):
    base = time.time() - 100
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "aged")
        untimed = declare(conn, redis_space, "untimed")
        publish(conn, untimed, {"no": "header"})
        publish(conn, queue, {"p": 9}, priority=9, headers={PUBLISHED_AT_HEADER: base})
        publish(conn, queue, {"p": 0}, priority=0, headers={PUBLISHED_AT_HEADER: base + 50})
        publish(conn, queue, {"p": 0}, priority=0, headers={PUBLISHED_AT_HEADER: base + 60})
        # A 5 MB body must not stop the search (and is never JSON-decoded by the script).
        big = declare(conn, redis_space, "big")
        publish(conn, big, "x" * 5_000_000, headers={PUBLISHED_AT_HEADER: base + 1})

    adapter = broker(redis_space)
    sample = adapter.sample()
    stats = stats_of(sample, queue.name)

    assert stats.head_published_at == pytest.approx(base)
    # The next message out is the priority-0 one even though the priority-9 one is older.
    _, (next_out, *_) = adapter.peek(queue.name, 0, 1)
    assert json.loads(next_out.body) == {"p": 0}
    assert stats.head_digest == hashlib.sha1(next_out.raw).hexdigest()
    assert stats_of(sample, untimed.name).head_published_at is None
    assert stats_of(sample, big.name).head_published_at == pytest.approx(base + 1)


def test_header_text_inside_a_body_is_not_taken_for_the_header(redis_space):
    name = redis_space.name("tricky")
    envelope = {
        "body": json.dumps({PUBLISHED_AT_HEADER: 5}),  # a plain (not base64) JSON string body
        "content-type": "application/json",
        "headers": {PUBLISHED_AT_HEADER: 1_700_000_000.25},
        "properties": {},
    }
    redis_space.client.lpush(redis_space.prefix + name, json.dumps(envelope))

    stats = stats_of(broker(redis_space).sample([name]), name)

    assert stats.head_published_at == pytest.approx(1_700_000_000.25)


def test_peek_reads_oldest_first_in_consumer_order_without_consuming(redis_space):
    with connection(redis_space) as conn:
        queue = declare(conn, redis_space, "peek")
        order = [(0, 9), (1, 0), (2, 3), (3, 0), (4, 9), (5, 6)]
        for n, priority in order:
            publish(conn, queue, {"n": n}, priority=priority, headers={"task": f"t{n}"})
    adapter = broker(redis_space)

    count, messages = adapter.peek(queue.name, 0, 10)
    count_after, window = adapter.peek(queue.name, 1, 3)

    # Consumers read step 0 first, oldest first within a step.
    expected = [1, 3, 2, 5, 0, 4]
    assert count == count_after == 6
    assert [json.loads(m.body)["n"] for m in messages] == expected
    assert [m.position for m in messages] == list(range(6))
    assert [json.loads(m.body)["n"] for m in window] == expected[1:4]
    assert [m.position for m in window] == [1, 2, 3]
    assert messages[0].headers == {"task": "t1"}
    assert messages[0].content_type == "application/json"
    assert messages[2].priority_key == f"{redis_space.prefix}{queue.name}{SEP}3"
    stored = redis_space.client.lrange(redis_space.prefix + queue.name, -1, -1)[0]
    assert messages[0].raw == stored and messages[0].size_bytes == len(stored)
    assert stats_of(adapter.sample(), queue.name).depth == 6
    with connection(redis_space) as conn:
        assert queue(conn.channel()).get(no_ack=True).payload == {"n": 1}


def test_peek_returns_values_that_are_not_envelopes_as_raw_bytes(redis_space):
    name = redis_space.name("garbage")
    values = [b"\x80\x04\x95 pickled?", b"[1, 2, 3]", b'{"no": "body"}', b"not json"]
    for value in values:
        redis_space.client.lpush(redis_space.prefix + name, value)

    count, messages = broker(redis_space).peek(name, 0, 10)

    assert count == 4
    assert [m.raw for m in messages] == values
    assert all(m.body == m.raw and m.headers == {} and m.content_type is None for m in messages)


def test_redis_down_fails_fast_without_the_password():
    adapter = RedisBroker(BrokerConfig(name="t", url="redis://:s3cret-pw@127.0.0.1:1/0"))
    for call in (adapter.ping, adapter.sample, lambda: adapter.peek("q")):
        started = time.monotonic()
        with pytest.raises(BrokerError) as raised:
            call()
        assert time.monotonic() - started < 3
        assert "s3cret-pw" not in str(raised.value)
        assert "127.0.0.1:1" in str(raised.value)
        assert raised.value.permanent is False


def test_refused_credentials_are_permanent_and_never_show_the_password(redis_space):
    # An ACL user that does not exist: Redis answers WRONGPASS (a password alone would be
    # accepted by a server without requirepass).
    url = redis_space.url.replace("redis://", f"redis://nobody-{redis_space.token}:hunter2-x@", 1)
    adapter = RedisBroker(BrokerConfig(name="t", url=url))
    for call in (adapter.ping, adapter.sample):
        with pytest.raises(BrokerError) as raised:
            call()
        assert "hunter2-x" not in str(raised.value)
        assert "username-password" in str(raised.value)
        assert raised.value.permanent is True


def test_sample_loads_its_script_when_redis_does_not_know_it(redis_space):
    name = redis_space.name("noscript")
    redis_space.client.lpush(redis_space.prefix + name, b"x", b"y")
    adapter = broker(redis_space)
    adapter._sample_sha = "0" * 40  # as after a Redis restart: EVALSHA answers NOSCRIPT

    assert stats_of(adapter.sample([name]), name).depth == 2


def test_a_key_that_is_not_a_list_has_unknown_depth(redis_space):
    name = redis_space.name("stringy")
    redis_space.client.set(redis_space.prefix + name, "not a queue")

    stats = stats_of(broker(redis_space).sample([name]), name)

    assert stats.depth is None


def test_sample_splits_many_queues_into_chunks_without_changing_figures(redis_space):
    names = [redis_space.name(f"c{i}") for i in range(7)]
    for i, name in enumerate(names):
        for _ in range(i):
            redis_space.client.lpush(redis_space.prefix + name, b"m")

    sample = broker(redis_space, script_chunk_queues=2, queues=tuple(names)).sample(names)

    assert [stats_of(sample, n).depth for n in names] == list(range(7))


def test_a_remembered_queue_that_emptied_and_lost_its_binding_is_gone(redis_space):
    gone, busy = redis_space.name("gone"), redis_space.name("busy")
    redis_space.client.lpush(redis_space.prefix + busy, b"m")

    sample = broker(redis_space).sample([gone, busy])

    assert stats_of(sample, busy).depth == 1
    assert gone not in [s.name for s in sample.queues]


def test_unacked_attribution_reads_escaped_names_and_reports_strays(redis_space):
    client, prefix = redis_space.client, redis_space.prefix
    queue, exchange = redis_space.name("café-queue"), redis_space.name("échange")
    client.sadd(f"{prefix}_kombu.binding.{exchange}", f"rk-é{SEP}{SEP}{queue}")
    envelope = {"body": "", "headers": {}, "properties": {}}
    # Kombu's json escapes non-ASCII: the script must hand back names that decode to the binding.
    client.hset(f"{prefix}unacked", "t1", json.dumps([envelope, exchange, "rk-é"]))
    client.hset(f"{prefix}unacked", "t2", json.dumps([envelope, exchange, "no-such-key"]))
    client.hset(f"{prefix}unacked", "t3", b"\x80 garbage")

    sample = broker(redis_space).sample()

    assert stats_of(sample, queue).unacked == 1
    assert sample.unacked_total == 3
    assert sample.warning == "2 in-flight messages could not be attributed to a queue"


def test_repeated_samples_read_fresh_figures_and_follow_new_queues(redis_space):
    # The packed script calls are reused while the queues stay the same: the figures must not be.
    first, second = redis_space.name("again-a"), redis_space.name("again-b")
    adapter = broker(redis_space)
    redis_space.client.lpush(redis_space.prefix + first, b"x")
    assert stats_of(adapter.sample([first]), first).depth == 1

    redis_space.client.lpush(redis_space.prefix + first, b"y", b"z")
    assert stats_of(adapter.sample([first]), first).depth == 3

    redis_space.client.lpush(redis_space.prefix + second, b"w")
    sample = adapter.sample([first, second])
    assert (stats_of(sample, first).depth, stats_of(sample, second).depth) == (3, 1)
    redis_space.client.delete(redis_space.prefix + first)
    assert stats_of(adapter.sample([first, second]), second).depth == 1

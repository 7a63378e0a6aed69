"""The two-lane sample (messaging/brokers/rabbitmq/sampling.py) against the real RabbitMQ: cheap
figures every round, queue statistics one page of 500 at a time."""

from __future__ import annotations

from messaging.brokers.http import path_segment
from messaging.brokers.rabbitmq.sampling import PAGE_SIZE
from tests.messaging.brokers.test_rabbitmq_broker import adapter, find, open_channel, publish

QUEUES = PAGE_SIZE + 100


def declare_many(vhost) -> list[str]:
    names = [f"q{n:05d}" for n in range(QUEUES)]
    conn, channel = open_channel(vhost)
    try:
        for name in names:
            channel.queue_declare(name, durable=False, auto_delete=False)
    finally:
        conn.close()
    return names


def test_statistics_pages_reach_every_queue_of_a_large_vhost(rabbit_vhost):
    declare_many(rabbit_vhost)
    broker = adapter(rabbit_vhost)
    try:
        first = broker.sample()
        second = broker.sample()
    finally:
        broker.close()

    # Depth and consumers come every round; rates once the queue's page has been read.
    assert len(first.queues) == len(second.queues) == QUEUES
    assert all(q.depth == 0 and q.consumers == 0 for q in first.queues)
    assert sum(q.publish_rate is not None for q in first.queues) == PAGE_SIZE
    assert all(q.publish_rate == 0.0 and q.consume_rate == 0.0 for q in second.queues)


def test_the_page_where_queues_moved_is_read_next(rabbit_vhost):
    """The page is picked as the round starts, from the figures of the round before (it is read
    beside the totals): so a move seen in one round has its page read in the next."""
    names = declare_many(rabbit_vhost)
    broker = adapter(rabbit_vhost)
    moving, still = (rabbit_vhost.name, names[-1]), (rabbit_vhost.name, names[0])
    try:
        broker.sample(), broker.sample()  # both pages read once
        conn, channel = open_channel(rabbit_vhost)
        try:
            publish(channel, names[-1], b"x")
        finally:
            conn.close()
        seen = broker.sample()
        read_at = {key: broker.sampler.stats[key].at for key in (moving, still)}
        broker.sample()
    finally:
        broker.close()

    assert find(seen, names[-1]).depth == 1  # from the totals, the same round
    assert broker.sampler.stats[moving].at > read_at[moving]
    assert broker.sampler.stats[still].at == read_at[still]


def test_a_new_policy_routes_dead_letters_on_the_next_round(rabbit_vhost):
    names = declare_many(rabbit_vhost)
    broker = adapter(rabbit_vhost)
    try:
        broker.sample(), broker.sample()
        rabbit_vhost.http.put_json(
            f"/api/policies/{path_segment(rabbit_vhost.name)}/late-dlx",
            {
                "pattern": f"^{names[7]}$",
                "definition": {"dead-letter-exchange": "late", "dead-letter-routing-key": "k"},
            },
        )
        sample = broker.sample()
    finally:
        broker.close()

    assert (find(sample, names[7]).dead_letter_exchange, find(sample, names[7]).dead_letter_routing_key) == (
        "late",
        "k",
    )
    assert find(sample, names[8]).dead_letter_exchange is None


def test_without_the_policies_listing_the_statistics_give_the_policy(rabbit_vhost, wait_for):
    """Where the user may not list policies (RabbitMQ 3.10 lets any management user; others may
    not), the sample reads the effective policy from the queue statistics instead."""
    conn, channel = open_channel(rabbit_vhost)
    try:
        channel.queue_declare("ruled", durable=True, auto_delete=False)
    finally:
        conn.close()
    rabbit_vhost.http.put_json(
        f"/api/policies/{path_segment(rabbit_vhost.name)}/dlx",
        {"pattern": "^ruled$", "definition": {"dead-letter-exchange": "policy-dlx"}},
    )
    broker = adapter(rabbit_vhost)
    broker.sampler.policies_allowed = False  # as after a 401 or 403 on /api/policies
    try:
        stats = wait_for(lambda: (s := find(broker.sample(), "ruled")) and s.dead_letter_exchange and s)
    finally:
        broker.close()

    assert stats.dead_letter_exchange == "policy-dlx"


def test_no_statistics_page_is_asked_past_the_end_when_queues_go(rabbit_vhost):
    names = declare_many(rabbit_vhost)
    broker = adapter(rabbit_vhost)
    try:
        broker.sample(), broker.sample()
        conn, channel = open_channel(rabbit_vhost)
        try:
            for name in names[PAGE_SIZE - 10 :]:
                channel.queue_delete(name)
        finally:
            conn.close()
        samples = [broker.sample() for _ in range(3)]
    finally:
        broker.close()

    assert [len(s.queues) for s in samples] == [PAGE_SIZE - 10] * 3
    assert all(s.warning is None for s in samples)

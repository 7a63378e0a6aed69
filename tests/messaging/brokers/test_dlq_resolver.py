"""resolve_dead_letter_queues: broker arguments > configuration > names, one vhost at a time."""

from __future__ import annotations

from messaging.brokers.base import BrokerSample, QueueStats
from messaging.brokers.dlq import (
    dead_letter_sources,
    resolve_by_vhost,
    resolve_dead_letter_queues,
    topic_matches,
)


def q(name: str, dlx: str | None = None, rk: str | None = None, vhost: str = "") -> QueueStats:
    return QueueStats(name=name, vhost=vhost, dead_letter_exchange=dlx, dead_letter_routing_key=rk)


def test_explicit_routing_key_picks_the_queue_bound_with_it():
    queues = [q("orders", "dlx", "orders.failed"), q("a-dlq"), q("b-dlq")]
    bindings = {"dlx": [("other", "a-dlq"), ("orders.failed", "b-dlq")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"orders": "b-dlq"}


def test_missing_routing_key_keeps_the_original_key_the_queue_name():
    queues = [q("celery", "dlx"), q("celery-dead")]
    bindings = {"dlx": [("celery", "celery-dead")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"celery": "celery-dead"}


def test_missing_routing_key_also_tries_the_keys_that_bind_the_source():
    queues = [q("billing", "dlx"), q("billing-dead")]
    bindings = {
        "app": [("invoice.created", "billing")],
        "dlx": [("invoice.created", "billing-dead")],
    }
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"billing": "billing-dead"}


def test_default_exchange_routes_to_the_queue_named_by_the_key():
    queues = [q("work", "", "work.parked"), q("work.parked")]
    assert resolve_dead_letter_queues(queues, {}, {}) == {"work": "work.parked"}


def test_default_exchange_without_key_never_points_a_queue_at_itself():
    assert resolve_dead_letter_queues([q("loop", "")], {}, {}) == {}


def test_fanout_like_exchange_with_one_bound_queue():
    queues = [q("emails", "dead-fanout"), q("graveyard")]
    bindings = {"dead-fanout": [("", "graveyard")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"emails": "graveyard"}


def test_exchange_with_several_unmatched_queues_is_not_guessed():
    queues = [q("emails", "dlx", "nomatch"), q("x"), q("y")]
    bindings = {"dlx": [("a", "x"), ("b", "y")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {}


def test_topic_binding_matches_the_dead_letter_key():
    queues = [q("orders", "dlx", "dead.orders.eu"), q("all-dead")]
    bindings = {"dlx": [("dead.#", "all-dead")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"orders": "all-dead"}


def test_copies_to_several_queues_prefer_the_one_named_like_a_dlq():
    queues = [q("orders", "dlx"), q("audit"), q("orders.dlq")]
    bindings = {"dlx": [("orders", "audit"), ("orders", "orders.dlq")]}
    assert resolve_dead_letter_queues(queues, bindings, {}) == {"orders": "orders.dlq"}


def test_names_in_each_convention():
    queues = [q(n) for n in ("a", "a.dlq", "b", "b.dead", "c", "c_dlq", "d", "dlq.d", "e")]
    assert resolve_dead_letter_queues(queues, {}, {}) == {
        "a": "a.dlq",
        "b": "b.dead",
        "c": "c_dlq",
        "d": "dlq.d",
    }


def test_configuration_beats_names_but_not_broker_arguments():
    queues = [q("mail"), q("mail.dlq"), q("work", "dlx"), q("work-dead"), q("custom")]
    bindings = {"dlx": [("work", "work-dead")]}
    configured = {"mail": "custom", "work": "custom", "ghost": "custom"}
    assert resolve_dead_letter_queues(queues, bindings, configured) == {
        "mail": "custom",
        "work": "work-dead",
    }


def test_unresolvable_arguments_fall_through_to_configuration_then_names():
    queues = [q("x", "missing-exchange"), q("x.dlq"), q("y", "missing-exchange")]
    assert resolve_dead_letter_queues(queues, {}, {"y": "y-config"}) == {
        "x": "x.dlq",
        "y": "y-config",
    }


def test_resolution_stays_inside_each_vhost():
    sample = BrokerSample(
        queues=[
            q("jobs", vhost="a"),
            q("jobs.dlq", vhost="a"),
            q("jobs", vhost="b"),
            q("mail", "dlx", vhost="b"),
            q("mail-dead", vhost="b"),
            q("mail", "dlx", vhost="a"),
        ],
        bindings_by_vhost={"b": {"dlx": [("mail", "mail-dead")]}},
    )
    # a's jobs.dlq does not serve b's jobs; b's dlx binding does not serve a's mail.
    assert resolve_by_vhost(sample, {}) == {"a": {"jobs": "jobs.dlq"}, "b": {"mail": "mail-dead"}}


def test_sources_of_each_dlq():
    assert dead_letter_sources({"a": "dead", "c": "dead", "b": "b.dlq"}) == {
        "dead": ["a", "c"],
        "b.dlq": ["b"],
    }


def test_topic_matching_rules():
    assert topic_matches("a.*.c", "a.b.c")
    assert not topic_matches("a.*", "a.b.c")
    assert topic_matches("a.#", "a")
    assert topic_matches("#", "anything.at.all")
    assert topic_matches("#.c", "a.b.c")
    assert not topic_matches("a.b", "a.c")


def test_single_vhost_sample_uses_its_plain_bindings():
    sample = BrokerSample(queues=[q("celery", "dlx"), q("celery-dead")], bindings={"dlx": [("celery", "celery-dead")]})
    assert resolve_by_vhost(sample, {}) == {"": {"celery": "celery-dead"}}

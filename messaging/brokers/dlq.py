"""Which queue is each queue's dead-letter queue. Pure functions, no I/O.

Precedence, strongest first:
1. the DLQ the broker names (SQS's RedrivePolicy), then broker arguments (RabbitMQ
   ``x-dead-letter-exchange`` / ``-routing-key``, or the policy's ``dead-letter-exchange``),
   resolved through the bindings: they say where the broker really sends dead messages, which
   configuration cannot change;
2. configuration (``BrokerConfig.dead_letter_queues``): the operator's word, stronger than a
   guess;
3. names among existing queues: ``<q>.dlq``, ``<q>.dead``, ``<q>_dlq``, ``dlq.<q>``.
A source's dead-letter arguments that resolve to no queue fall through to 2 and 3. A queue is
never its own DLQ.

Queue names are unique within a RabbitMQ vhost only: :func:`resolve_dead_letter_queues` takes the
queues and bindings of ONE vhost; :func:`resolve_by_vhost` applies it to a whole sample.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from messaging.brokers.base import BrokerSample, QueueStats

NAME_PATTERNS = ("{q}.dlq", "{q}.dead", "{q}_dlq", "dlq.{q}")

Bindings = dict[str, list[tuple[str, str]]]


def resolve_dead_letter_queues(
    queues: list[QueueStats], bindings: Bindings, configured: dict[str, str]
) -> dict[str, str]:
    """Source queue name -> DLQ name for the queues of one vhost.

    ``bindings`` is exchange -> [(binding key, queue)] with ``""`` for the default exchange
    (which routes by queue name even when absent). ``configured`` applies to sources among
    ``queues``.
    """
    names = {q.name for q in queues}
    mapping: dict[str, str] = {}
    for queue in queues:
        target = (
            _from_arguments(queue, bindings, names)
            or _configured(queue.name, configured)
            or _from_names(queue.name, names)
        )
        if target:
            mapping[queue.name] = target
    return mapping


def resolve_by_vhost(sample: BrokerSample, configured: dict[str, str]) -> dict[str, dict[str, str]]:
    """Vhost -> (source -> DLQ) for every vhost of a sample (Redis: the one vhost ``""``)."""
    per_vhost: dict[str, list[QueueStats]] = defaultdict(list)
    for queue in sample.queues:
        per_vhost[queue.vhost].append(queue)

    def bindings(vhost: str) -> Bindings:
        if sample.bindings_by_vhost:
            return sample.bindings_by_vhost.get(vhost, {})
        return sample.bindings

    return {
        vhost: resolve_dead_letter_queues(queues, bindings(vhost), configured) for vhost, queues in per_vhost.items()
    }


def dead_letter_sources(mapping: dict[str, str]) -> dict[str, list[str]]:
    """DLQ -> the sources that dead-letter into it, sorted."""
    sources: dict[str, list[str]] = defaultdict(list)
    for source, dlq in mapping.items():
        sources[dlq].append(source)
    return {dlq: sorted(names) for dlq, names in sources.items()}


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more."""
    return _topic(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _from_arguments(queue: QueueStats, bindings: Bindings, names: set[str]) -> str | None:
    if queue.dead_letter_queue and queue.dead_letter_queue in names and queue.dead_letter_queue != queue.name:
        return queue.dead_letter_queue
    exchange = queue.dead_letter_exchange
    if exchange is None:
        return None
    if queue.dead_letter_routing_key is not None:
        keys = [queue.dead_letter_routing_key]
    else:
        keys = _original_keys(queue.name, bindings)
    if exchange == "":
        return next((k for k in keys if k in names and k != queue.name), None)
    bound = [(key, q) for key, q in bindings.get(exchange, []) if q != queue.name]
    for key in keys:
        exact = {q for binding_key, q in bound if binding_key == key}
        matched = exact or {q for binding_key, q in bound if topic_matches(binding_key, key)}
        if matched:
            return _prefer_named(queue.name, matched)
    targets = {q for _, q in bound}
    if len(targets) == 1:  # a fanout-like exchange ignores the key
        return targets.pop()
    return None


def _original_keys(name: str, bindings: Bindings) -> list[str]:
    """Without a dead-letter routing key a message keeps the key it was published with: the
    queue's own name (default exchange, Celery's direct routing), else any key binding it."""
    keys = [name]
    for exchange, rows in sorted(bindings.items()):
        if exchange:
            keys.extend(key for key, q in rows if q == name and key not in keys)
    return keys


def _prefer_named(source: str, candidates: set[str]) -> str:
    """Copies go to every matching queue; report the one named like a DLQ of ``source``."""
    for pattern in NAME_PATTERNS:
        if pattern.format(q=source) in candidates:
            return pattern.format(q=source)
    return min(candidates)


def _configured(name: str, configured: dict[str, str]) -> str | None:
    target = configured.get(name)
    return target if target and target != name else None


def _from_names(name: str, names: set[str]) -> str | None:
    return next(
        (p.format(q=name) for p in NAME_PATTERNS if p.format(q=name) in names),
        None,
    )


@lru_cache(maxsize=4096)
def _topic(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return _topic(rest, words) or (bool(words) and _topic(pattern, words[1:]))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _topic(rest, words[1:])

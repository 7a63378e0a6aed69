"""The anchor of a Redis sampling round: the broker's own cost of the adapter's round trips.

One sample of ``RedisBroker`` is a SCAN of the binding keys, one pipeline of the bindings script
and one pipeline of the sample script (``messaging/brokers/redis/broker.py``). Here the same
commands are packed beforehand and their replies read by hiredis (C) and dropped: what is left is
Redis running the scripts plus the wire, with no Python decoding or figure building.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from messaging.brokers.redis.layout import BINDING_PREFIX, DLQ_SUFFIX, PUBLISHED_AT_HEADER, bound_names, glob_escape


def _scan(client: Any, match: str, count: int) -> list[bytes]:
    keys: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = client.scan(cursor, match=match, count=count)
        keys.extend(batch)
        if not cursor:
            return keys


def bare_broker_call(broker: Any) -> Callable[[], float]:
    """A function timing (seconds) the raw round trips of one sample of ``broker`` (a
    ``RedisBroker`` that has sampled once, so its scripts are loaded) over the queues it has now."""
    client = broker.client
    match = glob_escape(broker.prefix + BINDING_PREFIX) + "*"
    binding_keys = _scan(client, match, broker.scan_count)
    names = bound_names(broker._binding_tables())
    listed = set(names)
    names += [n + DLQ_SUFFIX for n in names if n + DLQ_SUFFIX not in listed]
    size = broker.chunk_size
    unacked = broker._key(broker.unacked_key)
    header = f'"{PUBLISHED_AT_HEADER}"'
    bindings = [
        ("EVALSHA", broker._bindings_sha, len(chunk), *chunk)
        for chunk in (binding_keys[i : i + size] for i in range(0, len(binding_keys), size))
    ]
    samples = []
    for n, start in enumerate(range(0, len(names), size)):
        keys = [broker._key(k) for name in names[start : start + size] for k in broker._sub_queues(name)]
        keys.append(unacked)
        samples.append(
            (
                "EVALSHA",
                broker._sample_sha,
                len(keys),
                *keys,
                len(broker.steps),
                broker.attribution_limit,
                header,
                int(n == 0),
            )
        )
    connection = client.connection_pool.get_connection()
    packed_bindings = connection.pack_commands(bindings)
    packed_samples = connection.pack_commands(samples)

    def call() -> float:
        started = time.perf_counter()
        _scan(client, match, broker.scan_count)
        connection.send_packed_command(packed_bindings)
        for _ in bindings:
            connection.read_response()
        connection.send_packed_command(packed_samples)
        for _ in samples:
            connection.read_response()
        return time.perf_counter() - started

    return call

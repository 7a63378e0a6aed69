"""The Redis keys a sample reads, kept between samples: each queue's priority sub-queue keys.

A 10,000-queue sample measures 20,000 names (each queue and its ``.dlq`` candidate), 80,000 keys
with the default four priority steps; building them again every round (formatting, prefixing,
encoding) cost more of the round than Redis reading them. Only the names of the latest sample
are kept, so the memory follows the broker's queues. The packed script calls are kept too, and
sent as they are while the queues stay the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis as redis_py

from messaging.brokers.redis.layout import PUBLISHED_AT_HEADER


class SubQueueKeys:
    """The encoded keys of each queue's sub-queues, in the order consumers read them."""

    def __init__(self, prefix: str, sep: str, steps: list[int]) -> None:
        self.prefix = prefix
        self.suffixes = [f"{sep}{step}" if step else "" for step in steps]
        self._current: dict[str, list[bytes]] = {}
        self._previous: dict[str, list[bytes]] = {}

    def new_sample(self) -> None:
        """Forget the names no sample since the previous call asked for."""
        self._previous, self._current = self._current, {}

    def of(self, names: list[str]) -> list[bytes]:
        """Every sub-queue key of ``names``, queue after queue (``len(steps)`` keys each)."""
        current, previous = self._current, self._previous
        keys: list[bytes] = []
        for name in names:
            known = current.get(name)
            if known is None:
                known = previous.get(name) or self._build(name)
                current[name] = known
            keys += known
        return keys

    def script_calls(self, sha: str, names: list[str], chunk_size: int, unacked: bytes, limit: int) -> list[tuple]:
        """The sample script's calls (:data:`messaging.brokers.redis.lua.SAMPLE`) over ``names``,
        one per chunk of ``chunk_size``; the first also reads the ``unacked`` hash."""
        self.new_sample()
        header = f'"{PUBLISHED_AT_HEADER}"'
        chunks = [names[i : i + chunk_size] for i in range(0, len(names), chunk_size)] or [[]]
        calls = []
        for n, chunk in enumerate(chunks):
            keys = self.of(chunk)
            keys.append(unacked)
            calls.append(("EVALSHA", sha, len(keys), *keys, len(self.suffixes), limit, header, int(n == 0)))
        return calls

    def _build(self, name: str) -> list[bytes]:
        head = self.prefix + name
        return [(head + suffix).encode("utf-8", "surrogateescape") for suffix in self.suffixes]


class PackedCommands:
    """A pipeline's commands packed into the wire format once and sent again while they are the
    same: a sample's script calls carry every sub-queue key (80,000 arguments at 10,000 queues),
    and redis-py packing them cost a round more CPU than Redis running them."""

    #: Sets of commands kept: a caller sampling other queues in between (a bare sample of the
    #: bound queues only, beside the monitor's) does not evict the monitor's.
    KEPT = 2

    def __init__(self) -> None:
        # (key, packed, count) entries, most recent first; the tuple is replaced as one, so
        # callers in other threads see one list or the other.
        self._entries: tuple[tuple[Any, list[bytes], int], ...] = ()

    def packed(self, client: redis_py.Redis, key: Any, build: Callable[[], list[tuple]]) -> tuple[list[bytes], int]:
        """``(packed bytes, number of commands)`` of ``build()``'s commands, packed anew only when
        ``key`` (anything that determines them, compared by equality) is not among the last ones."""
        entries = self._entries
        entry = next((e for e in entries if e[0] == key), None)
        if entry is None:
            commands = build()
            connection = client.connection_pool.get_connection()
            try:
                entry = (key, connection.pack_commands(commands), len(commands))
            finally:
                client.connection_pool.release(connection)
        self._entries = (entry, *(e for e in entries if e is not entry))[: self.KEPT]
        return entry[1], entry[2]


def send_packed(client: redis_py.Redis, packed: list[bytes], count: int) -> list[Any]:
    """Send commands packed beforehand over one pooled connection and read their ``count`` replies,
    an error reply in its command's place (as ``pipeline.execute(raise_on_error=False)``). Any
    other failure drops the connection (its protocol state is unknown) and is raised."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(packed)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except redis_py.ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)

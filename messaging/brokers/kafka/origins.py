"""Which topics' records name the topic they were dead-lettered from (Spring Kafka's and Kafka
Connect's headers, :mod:`messaging.dead_letter_headers`), checked without costing every round.

A topic is checked by reading its newest record (the last one of its fullest partition, whose
offsets the round already knows): when it is first seen, when it gets its first record after
being empty, and when its start offset moved (the record read may be gone) but at most every
:data:`RECHECK_EVERY_S`. New records alone do not make a topic due: the frameworks write the
same headers on every record of a dead-letter topic. The records themselves are read with lag
as time's heads (:mod:`messaging.brokers.kafka.heads`), in the same assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.brokers.kafka.dead_letters import looks_like_dead_letter_topic
from messaging.brokers.kafka.heads import Head, Key
from messaging.brokers.kafka.sampling import Partition

#: Topics whose newest record one round asks for (dead-letter names first), and how often a
#: topic whose start offset moved is checked again.
CHECKS_PER_ROUND = 200
RECHECK_EVERY_S = 600.0


@dataclass(frozen=True)
class _Checked:
    at: float
    starts: tuple[int | None, ...]
    ends: tuple[int | None, ...]
    origin: str | None

    @property
    def empty(self) -> bool:
        return self.starts == self.ends


class DeadLetterOrigins:
    """Dead-letter topic -> the source its records name, remembered between rounds."""

    def __init__(self) -> None:
        self._checked: dict[str, _Checked] = {}
        self._due: dict[str, tuple[Key, _Checked]] = {}

    def due(self, topics: dict[str, list[Partition]], now: float) -> list[Key]:
        """The records to read this round: the newest of each topic due a check (an empty topic
        is settled here: it has no record to read)."""
        for gone in set(self._checked) - set(topics):
            del self._checked[gone]
        self._due = {}
        for name in sorted(topics, key=lambda n: (not looks_like_dead_letter_topic(n), n)):
            partitions = topics[name]
            seen = _Checked(now, tuple(p.low for p in partitions), tuple(p.high for p in partitions), None)
            if not _is_due(self._checked.get(name), seen):
                continue
            newest = _newest(partitions)
            if newest is None:
                self._checked[name] = seen
            elif len(self._due) < CHECKS_PER_ROUND:
                self._due[name] = (newest, seen)
        return [key for key, _ in self._due.values()]

    def settle(self, found: dict[Key, Head]) -> dict[str, str]:
        """Remember what the records read say (a topic whose record was not read stays due),
        then: dead-letter topic -> the source topic its records name."""
        for name, (key, seen) in self._due.items():
            head = found.get(key)
            if head is not None:
                self._checked[name] = _Checked(seen.at, seen.starts, seen.ends, head.origin)
        self._due = {}
        return {name: checked.origin for name, checked in self._checked.items() if checked.origin}


def _is_due(checked: _Checked | None, seen: _Checked) -> bool:
    if checked is None:
        return True
    if checked.empty:
        return not seen.empty
    return checked.starts != seen.starts and seen.at - checked.at >= RECHECK_EVERY_S


def _newest(partitions: list[Partition]) -> Key | None:
    filled = [p for p in partitions if p.high is not None and p.high > (p.low or 0)]
    if not filled:
        return None
    fullest = max(filled, key=lambda p: (p.high, -p.partition))
    return (fullest.topic, fullest.partition, fullest.high - 1)

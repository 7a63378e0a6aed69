"""A :class:`ClusterView` as rows: one per topic (kind "topic", depth = retained records) and one
per (group, topic) the group committed on (kind "consumer-group", name ``group@topic``, depth =
lag). Internal topics and Switchyard's own groups are system rows (hidden by default)."""

from __future__ import annotations

from messaging.brokers.base import QueueStats
from messaging.brokers.kafka.heads import Head, Key
from messaging.brokers.kafka.lag import RowMemory
from messaging.brokers.kafka.sampling import OWN_GROUP_PREFIX, ClusterView, Group, Partition
from messaging.brokers.kafka.status import WINDOW, OffsetPoint, group_status

TOPIC, CONSUMER_GROUP = "topic", "consumer-group"
#: Internal topics of Kafka (``__consumer_offsets``, ``__transaction_state``), of Kafka Connect
#: and Schema Registry, and of Tansu (which keeps its own state in ``__``-prefixed topics too).
_SYSTEM_TOPICS = {"_schemas", "connect-configs", "connect-offsets", "connect-status"}


def is_internal_topic(name: str) -> bool:
    return name.startswith("__") or name in _SYSTEM_TOPICS or name.startswith("tansu")


def row_name(group: str, topic: str) -> str:
    """Topic names cannot hold '@' (Kafka allows letters, digits, '.', '_', '-'): unambiguous."""
    return f"{group}@{topic}"


def topic_rows(view: ClusterView, memory: dict[str, RowMemory]) -> list[QueueStats]:
    rows = []
    for name, partitions in sorted(view.topics.items()):
        retained = _sum(_retained(p) for p in partitions)
        end_sum = _sum(p.high for p in partitions)
        publish, _ = memory.setdefault(f"topic:{name}", RowMemory()).rates(view.at, end_sum, None)
        rows.append(
            QueueStats(
                name=name,
                depth=retained,
                publish_rate=publish,
                kind=TOPIC,
                topic=name,
                system=is_internal_topic(name),
                partitions=[
                    {"partition": p.partition, "low": p.low, "high": p.high, "retained": _retained(p)}
                    for p in partitions
                ],
            )
        )
    return rows


def group_rows(
    view: ClusterView, memory: dict[str, RowMemory], heads: dict[Key, Head], window: int = WINDOW
) -> list[QueueStats]:
    """One row per (group, topic) the group committed on; ``heads``: the records read at
    :func:`lagging_heads` (lag as time, unknown where absent); ``window``: samples a status is
    judged over."""
    return [_group_row(view, group, topic, memory, heads, window) for group, topic in _pairs(view)]


def shortest_logs_first(view: ClusterView, keys: list[Key]) -> list[Key]:
    """``keys`` in the order to read them: records of short logs first (a new dead-letter
    topic's; and what a broker serves fastest: Tansu takes about a second for a record of a log
    of some 10,000)."""
    sizes = {(p.topic, p.partition): _retained(p) or 0 for parts in view.topics.values() for p in parts}
    return sorted(keys, key=lambda key: sizes.get(key[:2], 0))


def lagging_heads(view: ClusterView) -> list[Key]:
    """(topic, partition, offset) of the next record of each partition a group lags on: the
    records whose time is the groups' lag as time."""
    wanted = set()
    for group, topic in _pairs(view):
        for part in view.topics[topic]:
            committed = group.committed.get((topic, part.partition))
            if _lag(part, committed):
                wanted.add((topic, part.partition, max(committed, part.low or 0)))
    return sorted(wanted)


def _pairs(view: ClusterView) -> list[tuple[Group, str]]:
    return [(g, t) for g in view.groups for t in sorted({t for t, _ in g.committed}) if t in view.topics]


def _group_row(
    view: ClusterView,
    group: Group,
    topic: str,
    memory: dict[str, RowMemory],
    heads: dict[Key, Head],
    window: int,
) -> QueueStats:
    name = row_name(group.group_id, topic)
    row_memory = memory.setdefault(f"group:{name}", RowMemory())
    partitions, windows, oldest_stamp, stamps_known = [], [], None, True
    for part in view.topics[topic]:
        committed = group.committed.get((topic, part.partition))
        lag = _lag(part, committed)
        stamp = None
        if lag:
            head = heads.get((topic, part.partition, max(committed, part.low or 0)))
            stamp = head.stamp if head is not None else None
            if stamp is None:
                stamps_known = False
            elif oldest_stamp is None or stamp < oldest_stamp:
                oldest_stamp = stamp
        if committed is not None:
            windows.append(row_memory.window(part.partition, OffsetPoint(committed, part.high), window))
        partitions.append(
            {
                "partition": part.partition,
                "low": part.low,
                "high": part.high,
                "committed": committed,
                "lag": lag,
                "lag_timestamp": stamp,
            }
        )
    depth = _sum(p["lag"] for p in partitions if p["committed"] is not None)
    publish, consume = row_memory.rates(
        view.at,
        _sum(p.high for p in view.topics[topic]),
        sum(group.committed.get((topic, p.partition), 0) for p in view.topics[topic]),
    )
    members = group.member_count(topic)
    return QueueStats(
        name=name,
        depth=depth,
        consumers=members,
        publish_rate=publish,
        consume_rate=consume,
        # The oldest unconsumed record's time: lag as time (unknown when any lagging head is).
        head_published_at=oldest_stamp if stamps_known else None,
        kind=CONSUMER_GROUP,
        topic=topic,
        group=group.group_id,
        status=group_status(windows, members),
        partitions=partitions,
        system=is_internal_topic(topic) or group.group_id.startswith(OWN_GROUP_PREFIX),
        queue_type=group.state.lower().replace("_", " "),
    )


def _lag(part: Partition, committed: int | None) -> int | None:
    if committed is None or part.high is None:
        return None
    return max(part.high - committed, 0)


def _retained(part: Partition) -> int | None:
    if part.low is None or part.high is None:
        return None
    return max(part.high - part.low, 0)


def _sum(values) -> int | None:  # noqa: ANN001 - an iterable of int | None
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total

"""One bounded read of a Kafka cluster for the monitor: topics and partitions, each partition's
start and end offsets, consumer groups with their state, members and committed offsets.

A handful of admin requests whatever the cluster's size: metadata, two ListOffsets over every
partition, ListConsumerGroups, one DescribeConsumerGroups for all groups, and one OffsetFetch per
group (librdkafka sends one group per request) issued together. Every wait has a deadline, so a
dead broker makes the round fail with a reason, never hang. Nothing here joins a group or commits.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from messaging.brokers.base import BrokerError
from messaging.brokers.kafka.connection import CALL_TIMEOUT_S

#: Prefix of the consumer groups Switchyard itself owns (replay positions): shown as system rows.
OWN_GROUP_PREFIX = "switchyard."
_ACTIVE_STATES = {"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE"}
_EMPTY_STATES = {"EMPTY", "DEAD"}


@dataclass
class Partition:
    topic: str
    partition: int
    low: int | None = None
    high: int | None = None


@dataclass
class Member:
    client_id: str
    host: str
    assigned: list[tuple[str, int]]


@dataclass
class Group:
    group_id: str
    state: str = "UNKNOWN"
    members: list[Member] | None = None
    # (topic, partition) -> committed offset (only partitions the group committed on).
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    error: str | None = None

    def member_count(self, topic: str) -> int | None:
        """Members consuming ``topic`` (all members when the broker reports no assignments);
        None when the broker did not say who the members are (an active group described
        without members: Tansu)."""
        if self.members:
            assigned = [m for m in self.members if m.assigned]
            if not assigned:
                return len(self.members)
            return sum(1 for m in assigned if any(t == topic for t, _ in m.assigned))
        if self.state in _EMPTY_STATES:
            return 0
        return None


@dataclass
class ClusterView:
    at: float
    topics: dict[str, list[Partition]]
    groups: list[Group]
    warnings: list[str] = field(default_factory=list)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.until - time.monotonic(), 0.1)


def read_cluster(admin: AdminClient, timeout_s: float) -> ClusterView:
    """The cluster as it is now. Raises :class:`KafkaException` or :class:`BrokerError` when
    the metadata cannot be read in time; a group or offset request that fails is a warning."""
    deadline = Deadline(timeout_s)
    at = time.time()
    metadata = admin.list_topics(timeout=min(deadline.left(), CALL_TIMEOUT_S))
    topics = {
        name: [Partition(name, pid) for pid in sorted(meta.partitions)]
        for name, meta in metadata.topics.items()
        if meta.error is None or meta.partitions
    }
    warnings: list[str] = []
    _read_watermarks(admin, topics, deadline, warnings)
    groups = _read_groups(admin, deadline, warnings)
    return ClusterView(at=at, topics=topics, groups=groups, warnings=warnings)


def _result(future: concurrent.futures.Future, deadline: Deadline) -> Any:
    try:
        return future.result(timeout=deadline.left())
    except concurrent.futures.TimeoutError:
        raise BrokerError("no answer in time") from None


def _read_watermarks(
    admin: AdminClient, topics: dict[str, list[Partition]], deadline: Deadline, warnings: list[str]
) -> None:
    partitions = {(p.topic, p.partition): p for parts in topics.values() for p in parts}
    if not partitions:
        return
    # Both requests are sent before either answer is awaited: one round trip, not two.
    pending = [
        (
            attribute,
            admin.list_offsets({TopicPartition(t, p): spec for t, p in partitions}, request_timeout=deadline.left()),
        )
        for spec, attribute in ((OffsetSpec.earliest(), "low"), (OffsetSpec.latest(), "high"))
    ]
    failed = 0
    for attribute, futures in pending:
        for tp, future in futures.items():
            try:
                offset = _result(future, deadline).offset
            except (KafkaException, BrokerError):
                failed += 1
                continue
            setattr(partitions[(tp.topic, tp.partition)], attribute, offset if offset >= 0 else None)
    if failed:
        warnings.append(f"{failed} partition offset(s) could not be read")


def _read_groups(admin: AdminClient, deadline: Deadline, warnings: list[str]) -> list[Group]:
    listing = _result(admin.list_consumer_groups(request_timeout=deadline.left()), deadline)
    ids = sorted({g.group_id for g in listing.valid})
    if listing.errors:
        warnings.append(f"{len(listing.errors)} broker(s) did not list their consumer groups")
    if not ids:
        return []
    groups = {gid: Group(gid) for gid in ids}
    described = admin.describe_consumer_groups(ids, request_timeout=deadline.left())
    offsets = {
        gid: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)], request_timeout=deadline.left())[
            gid
        ]
        for gid in ids
    }
    for gid, future in described.items():
        try:
            _describe(groups[gid], _result(future, deadline))
        except (KafkaException, BrokerError) as exc:
            groups[gid].error = str(exc)
    for gid, future in offsets.items():
        try:
            found = _result(future, deadline)
        except (KafkaException, BrokerError) as exc:
            groups[gid].error = str(exc)
            continue
        for tp in found.topic_partitions or []:
            if tp.error is None and tp.offset >= 0:
                groups[gid].committed[(tp.topic, tp.partition)] = tp.offset
    failed = sum(1 for g in groups.values() if g.error)
    if failed:
        warnings.append(f"{failed} consumer group(s) could not be read")
    return list(groups.values())


def _describe(group: Group, description: Any) -> None:
    state = getattr(description.state, "name", str(description.state))
    group.state = state
    members = []
    for member in description.members or []:
        assigned = member.assignment.topic_partitions if member.assignment else []
        members.append(Member(member.client_id, member.host, [(tp.topic, tp.partition) for tp in assigned]))
    group.members = members
    if not members and state in _ACTIVE_STATES:
        group.members = None  # described as active without members: who they are is unknown

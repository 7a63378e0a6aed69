"""The Burrow-style evaluator over synthetic offset windows (pure: no broker)."""

from __future__ import annotations

import itertools

import pytest

from messaging.brokers.kafka.status import (
    GROWING,
    MIN_POINTS,
    NO_MEMBERS,
    OK,
    STALLED,
    STATUSES,
    STOPPED,
    OffsetPoint,
    group_status,
    partition_status,
)


def window(pairs):
    """(committed, end) pairs, oldest first."""
    return [OffsetPoint(c, e) for c, e in pairs]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(5, 5), (6, 6), (7, 7)], OK),  # no lag
        ([(0, 10), (0, 10), (10, 10)], OK),  # caught up at the end
        ([(0, 10), (4, 12), (9, 13)], OK),  # committing, lag falling (10, 8, 4)
        ([(3, 10), (3, 10), (3, 10)], STOPPED),  # lag, no commits
        ([(3, 10), (3, 15), (3, 20)], STOPPED),  # lag rising, no commits: stopped, not growing
        ([(0, 10), (2, 14), (4, 18)], GROWING),  # committing, lag 10, 12, 14
        ([(0, 10), (2, 12), (4, 14)], STALLED),  # committing, lag flat at 10
        ([(0, 10), (2, 14), (5, 15)], STALLED),  # lag 10, 12, 10: not catching up, not rising
        ([(0, 10), (1, 14), (5, 14), (6, 16)], STALLED),  # lag 10, 13, 9, 10: up then down, ends above
        ([(5, 10), (2, 10), (2, 10)], STALLED),  # rewound: committed offset went back
        ([(0, 10), (1, 10)], None),  # too few points to judge
        ([(None, 10), (None, 12), (None, 14)], None),  # never committed: unknown
        ([(0, None), (1, None), (2, None)], None),  # end offsets unknown
        ([(None, 10), (2, 12), (2, 12), (2, 12)], STOPPED),  # unknown points are skipped
    ],
)
def test_partition_status(pairs, expected):
    assert partition_status(window(pairs)) == expected


def test_lag_is_never_negative():
    assert OffsetPoint(12, 10).lag == 0
    assert OffsetPoint(None, 10).lag is None


def test_every_window_of_small_offsets_gets_a_known_status():
    """Exhaustive over every 3-point window with committed and end offsets in 0..3 (end >= committed
    is not assumed): the evaluator always answers one of the statuses, and its rules hold."""
    values = range(4)
    for points in itertools.product(itertools.product(values, values), repeat=MIN_POINTS):
        status = partition_status(window(points))
        assert status in STATUSES
        lags = [max(e - c, 0) for c, e in points]
        committed = [c for c, _ in points]
        if lags[-1] == 0:
            assert status == OK
        elif committed[-1] == committed[0]:
            assert status == STOPPED
        elif status == GROWING:
            assert lags[-1] > lags[0] and committed[-1] > committed[0]
        elif status == OK:
            assert lags[-1] < lags[0]
        else:
            assert status == STALLED and (lags[-1] >= lags[0] or committed[-1] < committed[0])


def test_group_status_is_the_worst_partition_and_no_members_comes_first():
    ok = window([(0, 1), (1, 1), (1, 1)])
    growing = window([(0, 10), (2, 14), (4, 18)])
    stalled = window([(0, 10), (2, 12), (4, 14)])
    stopped = window([(3, 10), (3, 10), (3, 10)])
    assert group_status([ok, growing], members=2) == GROWING
    assert group_status([ok, growing, stalled], members=2) == STALLED
    assert group_status([stalled, stopped, ok], members=None) == STOPPED
    assert group_status([ok], members=1) == OK
    assert group_status([ok, stopped], members=0) == NO_MEMBERS
    assert group_status([], members=0) == NO_MEMBERS
    assert group_status([window([(0, 1)])], members=3) is None

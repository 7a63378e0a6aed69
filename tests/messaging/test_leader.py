"""Leader election pieces against the real Redis and the test database: the lock only ever
extends or deletes its owner's key, a stale fencing token cannot write, and of two elections
exactly one leads at a time."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from django.db import connection

from messaging.db import call_once_in_thread
from messaging.leader import Fence, LeaderElection, LeadershipLost, RedisLock, claim_lease
from messaging.models import MonitorLease
from tests.conftest import REDIS_URL, unique


async def test_lock_is_renewed_and_released_only_by_its_owner():
    client = aioredis.Redis.from_url(REDIS_URL)
    key = unique("sy-leader")
    first, second = RedisLock(client, key, "first", 2.0), RedisLock(client, key, "second", 2.0)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert not await second.renew()
        assert not await second.release()
        assert await first.holder() == "first"
        assert await first.renew()
        assert 1000 < await first.remaining_ms() <= 2000
        assert await first.release()
        assert await second.acquire()
        assert await second.holder() == "second"
    finally:
        await client.delete(key)
        await client.aclose()


def test_a_stale_fencing_token_cannot_write(transactional_db):
    name = unique("lease")
    old = Fence(name, claim_lease(name, "old"), time.monotonic() + 60)
    old.check()
    new = Fence(name, claim_lease(name, "new"), time.monotonic() + 60)
    assert new.token == old.token + 1
    with pytest.raises(LeadershipLost):
        old.check()
    new.check()
    lease = MonitorLease.objects.get(name=name)
    assert (lease.holder, lease.token, lease.rounds) == ("new", new.token, 2)


def test_a_fence_past_its_local_validity_refuses_without_asking():
    fence = Fence("any", 1, time.monotonic() - 0.01)
    with pytest.raises(LeadershipLost):
        fence.check_local()


async def test_one_of_two_elections_leads_and_the_other_takes_over_when_it_steps_down(transactional_db):
    key = unique("sy-leader")
    ttl = 1.0
    active: list[tuple[float, str]] = []

    def job_for(name: str):
        async def job(fence: Fence, stop: asyncio.Event) -> None:
            while not stop.is_set():
                fence.check_local()
                active.append((time.monotonic(), name))
                await asyncio.sleep(0.02)

        return job

    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = LeaderElection(REDIS_URL, key, ttl, identity="first")
    second = LeaderElection(REDIS_URL, key, ttl, identity="second")
    first_task = asyncio.create_task(first.run(job_for("first"), first_stop))
    await asyncio.sleep(0.3)
    second_task = asyncio.create_task(second.run(job_for("second"), second_stop))
    await asyncio.sleep(2.5)  # several renewals
    assert {name for _, name in active} == {"first"}
    first_stop.set()
    stepped_down = time.monotonic()
    await first_task
    await asyncio.sleep(1.0)
    second_stop.set()
    await second_task
    took_over = [at for at, name in active if name == "second"]
    # A released lock is free at once; the standby notices within its retry wait (< ttl/3).
    assert took_over and took_over[0] - stepped_down < ttl / 3 + 0.2
    last_first = max(at for at, name in active if name == "first")
    assert last_first < took_over[0]
    lease = await asyncio.to_thread(read_lease, key)
    assert (lease.holder, lease.token) == ("second", 2)


def read_lease(name: str) -> MonitorLease:
    try:
        return MonitorLease.objects.get(name=name)
    finally:
        connection.close()  # this thread's connection would outlive the test database


@pytest.mark.postgres_database
def test_a_leader_paused_inside_its_round_does_not_hold_up_the_successors_claim(transactional_db):
    """SIGSTOP can land while a round's transaction holds the lease row: the successor's claim must
    not wait for the pause to end (PostgreSQL ends the idle session after the fence's timeout)."""
    import threading

    from django.db import DatabaseError, transaction

    name = unique("lease")
    old = Fence(name, claim_lease(name, "old"), time.monotonic() + 60)
    old.idle_timeout_ms = 500
    in_round, old_outcome = threading.Event(), []

    def paused_round() -> None:
        try:
            with transaction.atomic():
                old.check()
                in_round.set()
                time.sleep(3.0)  # paused, holding the row lock
                MonitorLease.objects.filter(name=name).update(holder="old wrote after the pause")
            old_outcome.append("committed")
        except DatabaseError as exc:
            old_outcome.append(type(exc).__name__)
        finally:
            connection.close()

    thread = threading.Thread(target=paused_round)
    thread.start()
    assert in_round.wait(5)
    started = time.monotonic()
    new_token = claim_lease(name, "new")
    waited = time.monotonic() - started
    thread.join(10)
    assert new_token == old.token + 1
    assert waited < 2.0, f"the claim waited {waited:.2f}s for the paused leader"
    assert old_outcome and old_outcome[0] != "committed"
    assert MonitorLease.objects.get(name=name).holder == "new"


def hold_lease_within_a_pipeline(name: str):
    """A session that holds the lease row and is paused within a pipelined statement, as psycopg's
    ``executemany`` leaves it: statements sent, no Sync, so the server is not idle and PostgreSQL's
    idle-in-transaction timeout never applies. Returns the Django connection wrapper holding it."""
    from django.db import connections

    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    raw = wrapper.connection
    raw.autocommit = False
    raw.execute("SELECT set_config('idle_in_transaction_session_timeout', '500', true)")
    raw.execute("UPDATE messaging_monitorlease SET rounds = rounds + 1 WHERE name = %s", [name])
    raw.pgconn.enter_pipeline_mode()
    raw.pgconn.send_query_params(b"SELECT 1", None)
    raw.pgconn.flush()
    return wrapper


def session_of(wrapper) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [wrapper.connection.info.backend_pid])
        return cursor.fetchone()


def end_session(wrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [wrapper.connection.info.backend_pid])


@pytest.mark.postgres_database
async def test_a_leader_paused_within_a_pipelined_statement_does_not_hold_up_the_successor(transactional_db):
    """The CI failure of the scale test: a SIGSTOP within a round's ``executemany`` kept the lease
    row locked for the whole pause. The successor, holding the lock, ends the sessions blocking its
    claim once it has waited a third of the TTL."""
    key = unique("sy-leader")
    ttl = 1.5
    old_token = await asyncio.to_thread(call_once_in_thread, claim_lease, key, "old")
    paused = await asyncio.to_thread(hold_lease_within_a_pipeline, key)
    await asyncio.sleep(1.0)  # twice the session's idle timeout: PostgreSQL has not ended it
    assert await asyncio.to_thread(call_once_in_thread, session_of, paused) == ("active",)

    led = asyncio.Event()

    async def job(fence: Fence, stop: asyncio.Event) -> None:
        led.set()
        await stop.wait()

    stop = asyncio.Event()
    election = LeaderElection(REDIS_URL, key, ttl, identity="successor")
    started = time.monotonic()
    task = asyncio.create_task(election.run(job, stop))
    try:
        await asyncio.wait_for(led.wait(), timeout=10)
        waited = time.monotonic() - started
    finally:
        stop.set()
        # Unblocks a successor that did not end the session itself, so that the test can fail.
        await asyncio.to_thread(call_once_in_thread, end_session, paused)
        await task
    assert waited < ttl / 3 + 1.0, f"the successor waited {waited:.2f}s for the paused session"
    assert await asyncio.to_thread(call_once_in_thread, session_of, paused) is None
    lease = await asyncio.to_thread(read_lease, key)
    assert (lease.holder, lease.token, lease.rounds) == ("successor", old_token + 1, 0)

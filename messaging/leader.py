"""Leader election for the monitor: several ``monitor`` (or ``serve``) processes may run, exactly one
samples and publishes at a time.

Two parts, each doing one job:

- a Redis lock (``SET key identity NX PX ttl``, renewed after every round, at least every ttl/3, and
  released by Lua scripts that first check the value, so a process only ever extends or deletes
  its own lock). A standby
  retries as the lock is due to expire, so it takes over within the lock's expiry of the active
  process dying;
- a fencing token in the database (:class:`~messaging.models.MonitorLease`): each takeover bumps
  it, and each round of writes checks it inside the round's own transaction. The active process
  also stops on its own as soon as it cannot renew (its local validity ends 10 % before the lock's
  expiry). Together: a leader that was paused or partitioned and lost the lock cannot write once a
  successor has taken over, so no round is written (or published, or alerted on) twice.

Guarantee: at most one process passes :meth:`Fence.check` for a given moment of the database's
write order. A leader paused inside a round holds the lease row at most half a TTL when paused
between statements (PostgreSQL ends its idle transaction, rolling the round back), and at most a
third of a TTL after the successor took the lock when paused in the middle of one (the successor
ends its sessions: :mod:`messaging.lease_claims`). Samples are lost only between the old
leader's last round and the successor's first: when the old leader dies without releasing, the
TTL plus the successor's start-up (about 0.1 s), or plus up to ttl/3 when rounds are slower.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from messaging import runtime
from messaging.db import call_once_in_thread
from messaging.lease_claims import ClaimSession, claim_lease, end_sessions_blocking
from messaging.models import MonitorLease
from messaging.runtime import LeaderState

log = logging.getLogger("switchyard.leader")

# Local validity ends this fraction of the TTL before the lock's expiry in Redis (clock drift, the
# time a renewal spends in flight).
SAFETY_FRACTION = 0.1

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeadershipLost(Exception):
    """This process is no longer the active monitor: it must not write or publish."""


def new_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _set_role(state: LeaderState, role: str, token: int | None = None) -> None:
    state.role = role
    state.since = timezone.now()
    state.token = token


class RedisLock:
    """A lock with expiry in Redis: acquire with SET NX PX, renew and release only if still ours."""

    def __init__(self, client: Any, key: str, identity: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.identity = identity
        self.ttl_ms = max(int(ttl_s * 1000), 100)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        return bool(await self.client.set(self.key, self.identity, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.identity, self.ttl_ms]))

    async def release(self) -> bool:
        return bool(await self._release(keys=[self.key], args=[self.identity]))

    async def remaining_ms(self) -> int:
        """Milliseconds until the current holder's lock expires (-2 when nobody holds it)."""
        return int(await self.client.pttl(self.key))

    async def holder(self) -> str | None:
        value = await self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


class Fence:
    """The active monitor's right to write, checked before each round's writes."""

    def __init__(
        self,
        name: str,
        token: int,
        valid_until: float,
        renew: Callable[[], Awaitable[bool | None]] | None = None,
    ) -> None:
        self.name = name
        self.token = token
        self.valid_until = valid_until  # time.monotonic()
        self.renewed_at = time.monotonic()
        self.renew = renew
        self.lost = False
        # How long a round's transaction may sit idle holding the lease row (PostgreSQL), set from
        # the lock's TTL by LeaderElection; None leaves the server's setting alone.
        self.idle_timeout_ms: int | None = None

    async def extend(self) -> None:
        """After a round's writes: renew the lock now, so it expires one TTL after the last round."""
        if self.renew is not None and not self.lost:
            await self.renew()

    def check_local(self) -> None:
        """Raise :class:`LeadershipLost` once the lock may have expired (no round trip)."""
        if self.lost or time.monotonic() >= self.valid_until:
            self.lost = True
            raise LeadershipLost(f"lease {self.name!r} (token {self.token}) expired locally")

    def check(self) -> None:
        """Call inside the transaction of a round's writes: raises :class:`LeadershipLost` (which
        rolls the transaction back) unless the lease still carries this process's token; the
        UPDATE's row lock orders this round against a successor's claim."""
        self.check_local()
        self._bound_idle_time()
        updated = MonitorLease.objects.filter(name=self.name, token=self.token).update(
            renewed_at=timezone.now(), rounds=F("rounds") + 1
        )
        if not updated:
            self.lost = True
            raise LeadershipLost(f"lease {self.name!r} was taken over (our token {self.token} is stale)")

    def _bound_idle_time(self) -> None:
        """A leader paused (SIGSTOP, a long GC, a frozen VM) inside a round's transaction holds the
        lease row's lock, and a successor's :func:`claim_lease` would wait for it until the pause
        ends. PostgreSQL ends such a session after ``idle_timeout_ms``, which rolls back the paused
        round and frees the row; the paused process finds its connection gone when it resumes.
        Paused within a pipelined statement, the session is not idle: the successor ends it."""
        if self.idle_timeout_ms is None or connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('idle_in_transaction_session_timeout', %s, true)", [str(self.idle_timeout_ms)]
            )


def idle_timeout_ms(ttl_s: float) -> int:
    """Half the lock's TTL (at least 0.5 s): a healthy round is never idle that long inside its
    transaction (it only runs SQL and folds rows), and a successor waiting on a paused leader's row
    lock then claims within 1.5 TTL of the pause."""
    return max(int(ttl_s * 500), 500)


LeaderJob = Callable[[Fence, asyncio.Event], Awaitable[None]]


class LeaderElection:
    """Runs ``job(fence, stop)`` while, and only while, this process holds the lock. Keeps this
    process's part in the election in ``state`` (default: the runtime's, for /api/v1/health)."""

    def __init__(
        self, redis_url: str, key: str, ttl_s: float, identity: str | None = None, state: LeaderState | None = None
    ) -> None:
        self.state = state if state is not None else runtime.current().leader
        self.key = key
        self.ttl_s = ttl_s
        self.identity = identity or new_identity()
        timeout = max(ttl_s / 3, 0.2)
        self.client = aioredis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.lock = RedisLock(self.client, key, self.identity, ttl_s)
        self.terms = 0

    async def run(self, job: LeaderJob, stop: asyncio.Event) -> None:
        """Stand by, lead when the lock is free, stand by again when it is lost, until ``stop``."""
        self.state.mode, self.state.identity = "elected", self.identity
        _set_role(self.state, "standby")
        log.info("leader: %s standing by for %s (ttl %.1fs)", self.identity, self.key, self.ttl_s)
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    acquired = await self.lock.acquire()
                except Exception as exc:
                    log.warning("leader: cannot reach the election Redis: %s", exc)
                    await _sleep_unless(stop, self.ttl_s / 3)
                    continue
                if acquired:
                    await self._lead(job, stop, started)
                    continue
                await _sleep_unless(stop, await self._until_retry())
        finally:
            _set_role(self.state, "none")
            await self.client.aclose()

    async def _until_retry(self) -> float:
        """Sleep until just after the holder's lock expires, at most ttl/3 (a renewal may come)."""
        try:
            remaining = await self.lock.remaining_ms()
        except Exception:
            remaining = -1
        if remaining < 0:
            return 0.05
        return min(self.ttl_s / 3, remaining / 1000 + 0.02)

    async def _claim(self, fence: Fence) -> int | None:
        """Bump the fencing token, renewing the lock (through ``fence``, not yet carrying a token)
        while the claim waits: a paused predecessor's round may hold the lease row. Each third of
        the TTL the claim still waits, the sessions blocking it are ended
        (:mod:`messaging.lease_claims`). Returns the token, or None when the lock was lost
        meanwhile."""
        session = ClaimSession()
        claim = asyncio.ensure_future(
            asyncio.to_thread(call_once_in_thread, claim_lease, self.key, self.identity, session)
        )
        while True:
            done, _ = await asyncio.wait([claim], timeout=self.ttl_s / 3)
            if done:
                return claim.result()
            if await self._renew(fence) is False:
                log.warning("leader: %s lost the lock while claiming the lease", self.identity)
                # The claim's thread cannot be cancelled: its token goes unused, and whoever holds
                # the lock now claims a newer one.
                await asyncio.gather(claim, return_exceptions=True)
                return None
            await self._end_blockers(session)

    async def _end_blockers(self, session: ClaimSession) -> None:
        try:
            ended = await asyncio.to_thread(call_once_in_thread, end_sessions_blocking, session)
        except Exception as exc:
            log.warning("leader: cannot end the database sessions holding the lease: %s", exc)
            return
        if ended:
            log.warning(
                "leader: %s ended %d database session(s) holding the lease (a paused or stalled predecessor)",
                self.identity,
                ended,
            )

    async def _lead(self, job: LeaderJob, stop: asyncio.Event, acquired_at: float) -> None:
        fence = Fence(self.key, 0, acquired_at + self.ttl_s * (1 - SAFETY_FRACTION), renew=None)
        fence.renewed_at = acquired_at
        fence.idle_timeout_ms = idle_timeout_ms(self.ttl_s)
        try:
            token = await self._claim(fence)
        except Exception:
            log.exception("leader: acquired the lock but cannot record the lease; releasing it")
            await self._release()
            await _sleep_unless(stop, self.ttl_s / 3)
            return
        if token is None:
            return
        fence.token = token
        fence.renew = lambda: self._renew(fence)
        self.terms += 1
        _set_role(self.state, "active", token)
        log.info("leader: %s is now the active monitor (token %d)", self.identity, token)
        job_stop = asyncio.Event()
        job_task = asyncio.create_task(job(fence, job_stop), name="leader-job")
        lost = False
        try:
            while not stop.is_set() and not job_task.done():
                # Rounds renew the lock as they write (Fence.extend); this loop renews only when
                # they have not for ttl/3 (slow rounds, no brokers), so the lock's expiry follows
                # the last round and a successor's first round follows it by at most the TTL.
                due = fence.renewed_at + self.ttl_s / 3 - time.monotonic()
                if due > 0:
                    await _sleep_unless(stop, due, also=job_task)
                    continue
                if await self._renew(fence) is False or fence.lost:
                    lost = True
                    log.warning("leader: %s lost the lock (token %d); stopping the monitor", self.identity, token)
                    break
        finally:
            job_stop.set()
            await asyncio.gather(job_task, return_exceptions=True)
            if fence.lost:
                lost = True
            if not lost:
                await self._release()
            _set_role(self.state, "standby")
            log.info("leader: %s %s; standing by", self.identity, "lost leadership" if lost else "stepped down")

    async def _renew(self, fence: Fence) -> bool | None:
        """Extend the lock: True when extended, False when it is no longer ours (``fence`` is then
        marked lost), None when Redis did not answer (lost too once the local validity ends)."""
        started = time.monotonic()
        try:
            still_ours = await self.lock.renew()
        except Exception as exc:
            log.warning("leader: renewal failed: %s", exc)
            still_ours = None
        if still_ours:
            fence.renewed_at = started
            fence.valid_until = started + self.ttl_s * (1 - SAFETY_FRACTION)
            return True
        if still_ours is False or time.monotonic() >= fence.valid_until:
            fence.lost = True
            return False
        return None

    async def _release(self) -> None:
        try:
            await self.lock.release()
        except Exception as exc:
            log.warning("leader: could not release the lock (it expires by itself): %s", exc)


async def _sleep_unless(stop: asyncio.Event, seconds: float, also: asyncio.Task | None = None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waiters.append(also)
    done, pending = await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    waiters[0].cancel()


def election_redis_url() -> str | None:
    return settings.SWITCHYARD_LEADER_REDIS_URL or settings.REDIS_URL


def describe(local: LeaderState | None = None) -> dict[str, Any]:
    """Leadership as far as this process (``local``, default the runtime's) and the database know,
    for ``GET /api/v1/health``."""
    this_process = local if local is not None else runtime.current().leader
    elected = bool(election_redis_url())
    state: dict[str, Any] = {
        "election": elected,
        "this_process": {
            "mode": this_process.mode,
            "identity": this_process.identity or None,
            "role": this_process.role,
            "since": this_process.since,
            "token": this_process.token,
        },
        "active": None,
        "since": None,
        "last_round_at": None,
        "token": None,
    }
    if elected:
        lease = MonitorLease.objects.filter(name=settings.SWITCHYARD_LEADER_KEY).first()
        if lease is not None:
            state.update(active=lease.holder or None, since=lease.since, last_round_at=lease.renewed_at)
            state["token"] = lease.token
            if lease.renewed_at:
                # Rounds that stopped for longer than the TTL mean nobody is sampling.
                state["last_round_age_s"] = round((timezone.now() - lease.renewed_at).total_seconds(), 3)
    elif this_process.mode == "in-process":
        state.update(active=this_process.identity, since=this_process.since)
    return state

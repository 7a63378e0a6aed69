"""The database locked for longer than the busy timeout while the monitor samples: the monitor
retries without crashing or losing its memory (lag history, queue cache), and its figures are
right again once the lock goes. SQLite: another connection's ``BEGIN EXCLUSIVE``; PostgreSQL (the
``make test-postgres`` pass): ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE``, then the monitor's
connection killed with ``pg_terminate_backend``."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from django.db import connection, connections

from messaging.brokers.base import BrokerConfig
from messaging.config import SwitchyardConfig
from messaging.models import Queue
from messaging.monitor import Monitor
from tests.brokers import delete_prefixed_keys, publish, redis_connection
from tests.conftest import REDIS_URL, unique
from tests.waiting import wait_for

INTERVAL = 0.3
LOCK_S = 3.0


class RunningMonitor:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.errors: list[BaseException] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.task = asyncio.create_task(self.monitor.run(self.stop_event))
            await self.task

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            self.errors.append(exc)

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)


@pytest.fixture
def redis_queue():
    prefix, name = unique("dblock") + ":", unique("jobs")
    yield prefix, name
    delete_prefixed_keys(prefix)


def depth_in_db(name: str) -> int | None:
    row = Queue.objects.filter(name=name).values("depth").first()
    return row["depth"] if row else None


class Lock:
    """An exclusive lock on the database (or on the queue table) from a connection of its own."""

    def __init__(self) -> None:
        self.vendor = connection.vendor
        settings = connection.settings_dict
        if self.vendor == "sqlite":
            import sqlite3

            self.conn = sqlite3.connect(settings["NAME"], isolation_level=None, timeout=10)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            import psycopg

            self.conn = psycopg.connect(
                host=settings["HOST"] or None,
                port=settings["PORT"] or None,
                user=settings["USER"],
                password=settings["PASSWORD"] or None,
                dbname=settings["NAME"],
            )
            self.conn.execute(f"LOCK TABLE {Queue._meta.db_table} IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        if self.vendor == "sqlite":
            self.conn.execute("ROLLBACK")
        else:
            self.conn.rollback()
        self.conn.close()


@pytest.mark.django_db(transaction=True)
def test_database_locked_past_busy_timeout_monitor_retries_and_keeps_its_memory(redis_queue, monkeypatch, caplog):
    prefix, name = redis_queue
    if connection.vendor == "sqlite":
        # A busy timeout shorter than the lock, so the monitor's writes fail (the default is 20 s).
        monkeypatch.setitem(connections.settings["default"]["OPTIONS"], "timeout", 0.5)
    config = BrokerConfig(name=unique("db"), url=f"{REDIS_URL}?global_keyprefix={prefix}")
    monitor = Monitor(SwitchyardConfig(brokers=(config,)), interval=INTERVAL)
    with redis_connection(prefix) as kombu:
        publish(kombu, name, [{"n": i} for i in range(5)])
    running = RunningMonitor(monitor)
    try:
        wait_for(lambda: depth_in_db(name) == 5, message="first figures stored")
        with redis_connection(prefix) as kombu:
            publish(kombu, name, [{"n": i} for i in range(5)])
        wait_for(lambda: depth_in_db(name) == 10, message="second figures stored")
        memory = monitor.memories[config.name]
        key = ("", name)
        history = memory.histories[key]
        head_seen = history.head_first_seen_at
        observed_before = len(history.recent)
        rounds_before = monitor.rounds

        caplog.set_level(logging.WARNING, logger="messaging.monitor")
        lock = Lock()
        locked_at = time.monotonic()
        try:
            with redis_connection(prefix) as kombu:
                publish(kombu, name, [{"n": i} for i in range(20)])
            time.sleep(LOCK_S)
            if connection.vendor == "sqlite":  # (PostgreSQL's lock blocks this read too)
                assert depth_in_db(name) == 10
        finally:
            lock.release()
        released_at = time.monotonic()
        wait_for(lambda: depth_in_db(name) == 30, timeout=10, message="figures after the lock")
        recovered_s = time.monotonic() - released_at
        print(f"\ndatabase locked {LOCK_S:.0f}s ({connection.vendor}): figures stored again {recovered_s:.2f}s after")

        assert running.thread.is_alive() and not running.errors
        assert running.task is not None and not running.task.done(), "the monitor task ended"
        assert monitor.memories[config.name].histories[key] is history, "the lag history was lost"
        rounds = monitor.rounds
        wait_for(lambda: monitor.rounds >= rounds + 2, message="rounds go on")
        assert monitor.rounds > rounds_before
        # The history goes on from before the lock: same head first seen (so the oldest message's
        # age keeps counting), more observations, and the lag figures are still computed from it.
        assert history.head_first_seen_at == head_seen
        assert len(history.recent) >= min(observed_before + 2, history.recent.maxlen)
        row = Queue.objects.get(name=name)
        assert row.oldest_age_s is not None and row.oldest_age_s >= LOCK_S, "the age restarted from zero"
        assert row.trend, "no trend computed"
        if connection.vendor == "sqlite":
            assert any("failed; retrying" in r.getMessage() for r in caplog.records), "the lock never bit"
            assert recovered_s <= 2 * INTERVAL + 2
        assert locked_at < released_at

        if connection.vendor == "postgresql":
            # A connection killed under the monitor: the next round gets a fresh one.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            with redis_connection(prefix) as kombu:
                publish(kombu, name, [{"n": i} for i in range(3)])
            wait_for(lambda: depth_in_db(name) == 33, timeout=10, message="figures after the connection was killed")
            assert running.task is not None and not running.task.done()
    finally:
        running.stop()
    assert not running.errors

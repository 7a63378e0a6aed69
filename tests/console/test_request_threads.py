"""Request threads are lent from a pool: an executor whose work is all done is lent again (its
thread kept), one with work still running is retired, and no more than ``keep`` wait idle."""

from __future__ import annotations

import threading

from console.request_threads import ExecutorPool


def test_an_idle_executor_is_lent_again_with_its_thread():
    pool = ExecutorPool(keep=4)
    first = pool.take()
    first_thread = first.submit(threading.get_ident).result(5)
    pool.give_back(first)
    again = pool.take()
    assert again is first
    assert again.submit(threading.get_ident).result(5) == first_thread
    again.shutdown()


def test_an_executor_still_running_work_is_retired_not_lent():
    pool = ExecutorPool(keep=4)
    executor = pool.take()
    release = threading.Event()
    running = executor.submit(release.wait, 10)
    pool.give_back(executor)
    assert len(pool) == 0
    assert pool.take() is not executor
    release.set()
    assert running.result(5) is True


def test_at_most_keep_executors_wait_idle():
    pool = ExecutorPool(keep=2)
    lent = [pool.take() for _ in range(5)]
    assert len({id(executor) for executor in lent}) == 5
    for executor in lent:
        executor.submit(int).result(5)
        pool.give_back(executor)
    assert len(pool) == 2

"""The detection worker pool: calls from the event loop, ordered maps, dead workers."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from redact.workers import WorkerPool

_FORK = mp.get_context("fork")


def _double(x: int) -> int:
    return 2 * x


def _fail(_: int) -> int:
    raise ValueError("no such thing (test fake)")


async def test_calls_from_the_event_loop_run_in_the_workers() -> None:
    """Concurrent calls (no more than the pool's size) each get their own answer."""
    pool = WorkerPool(2, mp_context=_FORK)
    try:
        assert await asyncio.gather(pool.run(_double, 1), pool.run(_double, 2)) == [2, 4]
        assert all(pid != os.getpid() for pid in pool._processes)
    finally:
        pool.shutdown()


def test_map_answers_in_job_order() -> None:
    """A synchronous map over more jobs than workers keeps the jobs' order."""
    pool = WorkerPool(2, mp_context=_FORK)
    try:
        assert pool.map(_double, [(i,) for i in range(7)]) == [2 * i for i in range(7)]
    finally:
        pool.shutdown()


async def test_an_error_in_a_worker_is_raised_to_the_caller() -> None:
    """An exception raised by the work reaches the caller; the worker keeps serving."""
    pool = WorkerPool(1, mp_context=_FORK)
    try:
        with pytest.raises(ValueError):
            await pool.run(_fail, 1)
        assert await pool.run(_double, 3) == 6
    finally:
        pool.shutdown()


async def test_a_killed_worker_breaks_the_pool() -> None:
    """After a worker dies every call raises BrokenProcessPool (the owner restarts it)."""
    pool = WorkerPool(1, mp_context=_FORK)
    try:
        assert await pool.run(_double, 1) == 2
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if pool._broken:
                break
            await asyncio.sleep(0.02)
        with pytest.raises(BrokenProcessPool):
            await pool.run(_double, 1)
    finally:
        pool.shutdown()

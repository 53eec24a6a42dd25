"""The detection worker pool: calls from the event loop, pipelined calls, ordered maps,
dead workers."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import time
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


def _echo_len(data: bytes, tag: int) -> tuple[int, int]:
    return len(data), tag


def _slow(tag: int) -> int:
    time.sleep(0.05)
    return tag


async def test_a_pipelined_worker_answers_each_call_in_turn() -> None:
    """With depth 2 one worker holds two calls at once; each caller gets its own answer."""
    pool = WorkerPool(1, depth=2, mp_context=_FORK)
    try:
        assert pool.capacity == 2
        assert await asyncio.gather(pool.run(_slow, 1), pool.run(_slow, 2)) == [1, 2]
    finally:
        pool.shutdown()


async def test_calls_beyond_the_capacity_are_refused() -> None:
    """More calls in flight than depth x size is the caller's bug: refused, not queued."""
    pool = WorkerPool(1, depth=2, mp_context=_FORK)
    try:
        first, second = asyncio.ensure_future(pool.run(_slow, 1)), None
        await asyncio.sleep(0)
        second = asyncio.ensure_future(pool.run(_slow, 2))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="capacity"):
            await pool.run(_slow, 3)
        assert await asyncio.gather(first, second) == [1, 2]
    finally:
        pool.shutdown()


async def test_a_new_call_goes_to_the_worker_with_fewer_calls() -> None:
    """Two workers, depth 2: the first two calls go to different workers, the third waits
    behind the call sent first."""
    pool = WorkerPool(2, depth=2, mp_context=_FORK)
    try:
        calls = [asyncio.ensure_future(pool.run(_slow, i)) for i in range(3)]
        await asyncio.sleep(0)
        assert sorted(len(w.pending) for w in pool._workers) == [1, 2]
        busier = max(pool._workers, key=lambda w: len(w.pending))
        assert [n for n, _ in busier.pending] == [1, 3]
        assert await asyncio.gather(*calls) == [0, 1, 2]
    finally:
        pool.shutdown()


async def test_large_and_small_calls_queued_on_one_worker_keep_their_order() -> None:
    """A payload larger than a pipe holds is written from a thread; a small call queued
    behind it must wait for it, or the two writes would interleave on the pipe."""
    pool = WorkerPool(1, depth=3, mp_context=_FORK)
    big = b"x" * 500_000
    try:
        answers = await asyncio.gather(
            pool.run(_slow, 0), pool.run(_echo_len, big, 1), pool.run(_echo_len, b"ab", 2)
        )
        assert answers == [0, (500_000, 1), (2, 2)]
        assert await pool.run(_double, 4) == 8  # the pipe is still in step
    finally:
        pool.shutdown()


async def test_a_cancelled_caller_does_not_shift_the_answers_of_the_others() -> None:
    """A caller that stops waiting leaves its call in the worker's queue: its answer is
    read and dropped, and the calls behind it still get their own."""
    pool = WorkerPool(1, depth=2, mp_context=_FORK)
    try:
        first = asyncio.ensure_future(pool.run(_slow, 1))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(pool.run(_slow, 2))
        await asyncio.sleep(0.01)
        first.cancel()
        assert await second == 2
        assert await pool.run(_double, 5) == 10
    finally:
        pool.shutdown()


async def test_a_killed_pipelined_worker_fails_every_call_it_held() -> None:
    """Both calls queued on a worker that dies raise BrokenProcessPool: none is lost."""
    pool = WorkerPool(1, depth=2, mp_context=_FORK)
    try:
        await pool.run(_double, 1)  # started
        calls = [asyncio.ensure_future(pool.run(_slow, i)) for i in range(2)]
        await asyncio.sleep(0.01)
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, BrokenProcessPool) for r in results)
    finally:
        pool.shutdown()

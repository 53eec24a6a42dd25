"""Detection worker processes driven straight from the event loop.

``concurrent.futures.ProcessPoolExecutor`` moves every call through two helper threads
(a manager that pickles and a queue feeder) in the calling process. On the proxy's
ingest path those threads take the GIL from the event loop at every call: profiling
showed the loop stalled ~0.5 ms per detection call, more than the call's own work in
the parent. :class:`WorkerPool` has no helper threads: a call is one pickled write to a
worker's pipe, and its answer is read by an event-loop reader callback (or, for the
synchronous :meth:`WorkerPool.map`, by blocking reads).

With ``depth`` > 1 a worker holds more than one call: the next waits in its pipe while it
runs the current one, and it starts the next as soon as it answers instead of waiting
for the event loop to read the answer and write more (a busy event loop made the
workers idle between calls).

Each worker runs :func:`_serve`: receive ``(fn, args)``, answer ``(True, result)`` or
``(False, exception)``, until it receives ``None`` or its pipe closes. A worker that dies
(killed, out of memory) closes its pipe: the pool is then *broken*, the call in flight
and every later call raise :class:`~concurrent.futures.process.BrokenProcessPool`, and
the owner starts a fresh pool (the proxy fails that request closed, 503, and serves the
retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing as mp
import pickle
import signal
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["WorkerPool"]

# Payloads larger than this are written from a thread: a pipe holds about 64 KiB, and a
# write beyond that waits for the worker to read.
_INLINE_WRITE = 60_000


def _serve(conn: Connection, init: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent shuts the pool down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)  # the parent's event-loop wake-up socket is not ours
    if init is not None:
        init(*initargs)
    # What the worker inherited (the model above all) is never garbage: keep the cyclic
    # collector off it, or a full collection pauses detection for tens of milliseconds.
    gc.freeze()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:  # shutdown (EOF alone is not enough: later workers hold a copy
            return  # of this pipe's parent end, inherited through fork)
        fn, args = job
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # sent back; the worker keeps serving
            answer = (False, exc)
        try:
            conn.send(answer)
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send((False, RuntimeError("a detection worker's error could not be sent back")))


class _Worker:
    __slots__ = ("conn", "lock", "pending", "process", "writes")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn
        # Calls sent to this worker and not yet answered, oldest first, each with its
        # number in the pool's sending order: a worker answers in the order it reads.
        self.pending: deque[tuple[int, asyncio.Future[Any]]] = deque()
        # Writes handed to a task (too large for the pipe, or queued behind one): they
        # go out one at a time, in order, under the lock.
        self.writes = 0
        self.lock = asyncio.Lock()


class WorkerPool:
    """``size`` worker processes, started on first use (see the module docstring)."""

    def __init__(
        self,
        size: int,
        *,
        depth: int = 1,
        mp_context: Any = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self._size = max(1, size)
        self._depth = max(1, depth)
        self._ctx = mp_context or mp.get_context()
        self._init, self._initargs = initializer, initargs
        self._workers: list[_Worker] = []
        self._calls = 0  # asynchronous calls sent so far (numbers each pending call)
        self._writers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken = False
        self._closed = False
        # pid -> process, as ProcessPoolExecutor names it (tests kill workers through it).
        self._processes: dict[int, BaseProcess] = {}

    @property
    def size(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        """Asynchronous calls that may be in flight at once: ``depth`` per worker."""
        return self._size * self._depth

    def _start(self) -> None:
        if self._workers or self._closed:
            return
        for _ in range(self._size):
            parent, child = self._ctx.Pipe(duplex=True)
            proc = self._ctx.Process(
                target=_serve, args=(child, self._init, self._initargs), daemon=True
            )
            proc.start()
            child.close()
            w = _Worker(proc, parent)
            self._workers.append(w)
            assert proc.pid is not None
            self._processes[proc.pid] = proc

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("the detection pool is closed")
        if self._broken:
            raise BrokenProcessPool("a detection worker died; the pool must be restarted")

    # -- asynchronous use (the event loop reads answers; no threads) --
    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            return
        self._unwatch()
        self._loop = loop
        for w in self._workers:
            loop.add_reader(w.conn.fileno(), self._on_readable, w)

    def _unwatch(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for w in self._workers:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.conn.fileno())
        self._loop = None

    def _on_readable(self, w: _Worker) -> None:
        try:
            ok, value = w.conn.recv()
        except (EOFError, OSError):
            self._break()
            return
        fut = w.pending.popleft()[1] if w.pending else None
        if fut is not None and not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _break(self) -> None:
        self._broken = True
        self._unwatch()
        exc = BrokenProcessPool("a detection worker died; the pool must be restarted")
        for w in self._workers:
            for _, fut in w.pending:
                if not fut.done():
                    fut.set_exception(exc)
            w.pending.clear()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker likely to reach it first: one with the fewest calls
        pending, and of those the one whose oldest call was sent first. A caller never
        has more than :attr:`capacity` calls in flight (the redactor's coalescer sees to
        that)."""
        self._check()
        self._start()
        loop = asyncio.get_running_loop()
        self._watch(loop)
        open_ = [w for w in self._workers if len(w.pending) < self._depth]
        if not open_:
            raise RuntimeError("every detection worker is full; at most capacity calls in flight")
        w = min(open_, key=lambda w: (len(w.pending), w.pending[0][0] if w.pending else 0))
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        fut: asyncio.Future[Any] = loop.create_future()
        self._calls += 1
        w.pending.append((self._calls, fut))
        if w.writes == 0 and len(data) <= _INLINE_WRITE:
            try:
                w.conn.send_bytes(data)  # fits in the pipe: returns at once
            except OSError:
                self._break()
        else:
            # Written by a task of its own, which finishes even if this caller is
            # cancelled: once the call is in the pending queue, its bytes must follow.
            w.writes += 1
            task = loop.create_task(self._write(w, data))
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        return await fut

    async def _write(self, w: _Worker, data: bytes) -> None:
        try:
            async with w.lock:
                # A pipe holds ~64 KiB: a larger write waits, in a thread, for the
                # worker to read (after the calls before it, when it is pipelined).
                await asyncio.get_running_loop().run_in_executor(None, w.conn.send_bytes, data)
        except OSError:
            self._break()
        finally:
            w.writes -= 1

    # -- synchronous use (blocking reads; not while asynchronous calls are in flight) --
    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[fn(*job) for job in jobs]`` across the workers, in order."""
        self._check()
        self._start()
        results: list[Any] = [None] * len(jobs)
        pending: dict[Connection, int] = {}
        idle = [w for w in self._workers if not w.pending]
        todo = list(enumerate(jobs))[::-1]
        while todo or pending:
            while todo and idle:
                w = idle.pop()
                i, job = todo.pop()
                try:
                    w.conn.send((fn, job))
                except OSError:
                    self._break()
                    self._check()
                pending[w.conn] = i
            for conn in wait(list(pending)):
                assert isinstance(conn, Connection)
                try:
                    ok, value = conn.recv()
                except (EOFError, OSError):
                    self._break()
                    self._check()
                i = pending.pop(conn)
                if not ok:
                    raise value
                results[i] = value
                idle.extend(w for w in self._workers if w.conn is conn)
        return results

    def shutdown(self, wait: bool = True, cancel_futures: bool = True) -> None:
        """Stop every worker (the same signature as an Executor's)."""
        self._closed = True
        self._unwatch()
        for w in self._workers:
            for _, fut in w.pending:
                fut.cancel()
            w.pending.clear()
            with contextlib.suppress(OSError):
                w.conn.send(None)
            w.conn.close()
        for w in self._workers:
            w.process.join(5 if wait else 0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
        self._workers.clear()
        self._processes.clear()

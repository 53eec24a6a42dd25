"""Detection worker processes driven straight from the event loop.

``concurrent.futures.ProcessPoolExecutor`` moves every call through two helper threads
(a manager that pickles and a queue feeder) in the calling process. On the proxy's
ingest path those threads take the GIL from the event loop at every call: profiling
showed the loop stalled ~0.5 ms per detection call, more than the call's own work in
the parent. :class:`WorkerPool` has no helper threads: a call is one pickled write to
an idle worker's pipe, and its answer is read by an event-loop reader callback (or, for
the synchronous :meth:`WorkerPool.map`, by blocking reads).

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
    __slots__ = ("conn", "future", "process")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn
        self.future: asyncio.Future[Any] | None = None


class WorkerPool:
    """``size`` worker processes, started on first use (see the module docstring)."""

    def __init__(
        self,
        size: int,
        *,
        mp_context: Any = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self._size = max(1, size)
        self._ctx = mp_context or mp.get_context()
        self._init, self._initargs = initializer, initargs
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken = False
        self._closed = False
        # pid -> process, as ProcessPoolExecutor names it (tests kill workers through it).
        self._processes: dict[int, BaseProcess] = {}

    @property
    def size(self) -> int:
        return self._size

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
            self._idle.append(w)
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
        fut, w.future = w.future, None
        self._idle.append(w)
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
            if w.future is not None and not w.future.done():
                w.future.set_exception(exc)
            w.future = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in an idle worker (a caller never has more calls in flight than
        the pool has workers: the redactor's coalescer sees to that)."""
        self._check()
        self._start()
        loop = asyncio.get_running_loop()
        self._watch(loop)
        if not self._idle:
            raise RuntimeError("no idle detection worker; at most size calls may be in flight")
        w = self._idle.pop()
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        fut: asyncio.Future[Any] = loop.create_future()
        w.future = fut
        try:
            if len(data) <= _INLINE_WRITE:
                w.conn.send_bytes(data)
            else:
                await loop.run_in_executor(None, w.conn.send_bytes, data)
        except OSError:
            self._break()
        return await fut

    # -- synchronous use (blocking reads; not while asynchronous calls are in flight) --
    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[fn(*job) for job in jobs]`` across the workers, in order."""
        self._check()
        self._start()
        results: list[Any] = [None] * len(jobs)
        pending: dict[Connection, int] = {}
        idle = [w for w in self._workers if w.future is None]
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
            if w.future is not None and not w.future.done():
                w.future.cancel()
            with contextlib.suppress(OSError):
                w.conn.send(None)
            w.conn.close()
        for w in self._workers:
            w.process.join(5 if wait else 0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
        self._workers.clear()
        self._idle.clear()
        self._processes.clear()

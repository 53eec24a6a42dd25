"""An open-loop HTTP load generator that does not suffer from coordinated omission.

Requests are *scheduled* at a constant arrival rate (request ``i`` at ``t0 + i / rate``)
and sent at their scheduled time whether or not earlier ones have answered. Latency is
measured from the scheduled time, so a server that stalls is charged for the queue it
causes, not just for the requests that happened to get through.

The generator shares the machine with the server it measures, so it is kept lean (as
wrk2 is): request bytes are built before the clock starts, each keep-alive connection
is a bare :class:`asyncio.Protocol` that writes those bytes and reads the status line,
``Content-Length`` and body, and a request that finds every open connection busy opens a
new one (its handshake is charged to that request). An HTTP client library costs several
times more CPU per request, and on a 2-core machine that CPU is taken from the server.

Latencies go into an HDR histogram (microseconds, 3 significant digits). Responses 429
and 503 count as *shed* (with their own histogram: shedding must be fast); any other
non-2xx, a connection error or a timeout counts as an *error*. The run is bounded in
count and time and only ever targets loopback addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]  # no stubs published

MAX_LATENCY_US = 120_000_000  # two minutes: anything slower is recorded as this
# A response head larger than this is not an HTTP server we measure: the request fails.
_MAX_HEAD = 64 * 1024


def _new_hist() -> HdrHistogram:
    return HdrHistogram(1, MAX_LATENCY_US, 3)


@dataclass
class Result:
    rate: float
    duration_s: float
    sent: int = 0
    ok: int = 0
    shed: int = 0
    errors: int = 0
    messages_ok: int = 0
    wall_s: float = 0.0
    connections: int = 0
    client_cpu_s: float = 0.0  # CPU the generator itself used while sending
    hist: HdrHistogram = field(default_factory=_new_hist)
    shed_hist: HdrHistogram = field(default_factory=_new_hist)

    def percentiles(self, hist: HdrHistogram | None = None) -> dict[str, float]:
        h = hist or self.hist
        if h.get_total_count() == 0:
            return {}
        ms = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)}
        ms["max"] = h.get_max_value() / 1000
        return {k: round(v, 2) for k, v in ms.items()}

    def record(self, status: int, latency_s: float, n_messages: int) -> None:
        latency_us = min(max(int(latency_s * 1e6), 1), MAX_LATENCY_US)
        if 200 <= status < 300:
            self.ok += 1
            self.messages_ok += n_messages
            self.hist.record_value(latency_us)
        elif status in (429, 503):
            self.shed += 1
            self.shed_hist.record_value(latency_us)
        else:
            self.errors += 1
            self.hist.record_value(latency_us)

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered_rps": self.rate,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "shed": self.shed,
            "errors": self.errors,
            "connections": self.connections,
            "client_cpu_ms_per_request": round(self.client_cpu_s * 1000 / self.sent, 3)
            if self.sent
            else 0.0,
            "achieved_rps": round(self.ok / self.wall_s, 1) if self.wall_s else 0.0,
            "achieved_msgs_per_s": round(self.messages_ok / self.wall_s, 1) if self.wall_s else 0.0,
            "latency_ms": self.percentiles(),
            "shed_latency_ms": self.percentiles(self.shed_hist),
        }


def require_loopback(url: str) -> None:
    """Refuse any target that is not on this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError("load generator only targets loopback addresses (127.0.0.0/8, ::1, localhost)")


def _head_status(head: bytes) -> tuple[int, int | None, bool, bool]:
    """(status, Content-Length or None, chunked, server closes) of a response head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("not an HTTP/1.x response")
    length: int | None = None
    chunked = False
    close = parts[0] == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return int(parts[1]), length, chunked, close


class _Conn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.pending: tuple[float, int] | None = None  # (scheduled time, messages)
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, data: bytes, scheduled: float, n_messages: int) -> None:
        assert self.transport is not None
        self.pending = (scheduled, n_messages)
        self.buf.clear()
        self.timer = self.pool.loop.call_at(
            self.pool.loop.time() + self.pool.timeout_s, self._timed_out
        )
        self.transport.write(data)

    def _finish(self, status: int, keep: bool) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending = self.pending, None
        if pending is not None:
            self.pool.done(status, pending[0], pending[1])
        if keep and not self.closed:
            self.pool.idle.append(self)
        else:
            self._close()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _timed_out(self) -> None:
        self.timer = None
        self._finish(0, keep=False)

    def data_received(self, data: bytes) -> None:
        if self.pending is None:  # bytes nobody asked for: not a server we measure
            self._close()
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > _MAX_HEAD:
                self._finish(0, keep=False)
            return
        try:
            status, length, chunked, close = _head_status(bytes(self.buf[:end]))
        except ValueError:
            self._finish(0, keep=False)
            return
        body = len(self.buf) - end - 4
        if chunked:
            if not self.buf.endswith(b"0\r\n\r\n"):
                return
        elif length is not None:
            if body < length:
                return
        else:  # no length: the body ends with the connection
            return
        self._finish(status, keep=not close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.pending is not None:
            self._finish(0, keep=False)
        self.pool.lost(self)


class _Pool:
    def __init__(self, host: str, port: int, res: Result, timeout_s: float, limit: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.res = res
        self.timeout_s = timeout_s
        self.limit = limit
        self.idle: list[_Conn] = []
        self.open = 0
        self.outstanding = 0
        self.drained = asyncio.Event()
        self.drained.set()

    def done(self, status: int, scheduled: float, n_messages: int) -> None:
        self.res.record(status, time.perf_counter() - scheduled, n_messages)
        self.outstanding -= 1
        if self.outstanding == 0:
            self.drained.set()

    def lost(self, conn: _Conn) -> None:
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)

    def submit(self, data: bytes, scheduled: float, n_messages: int) -> bool:
        """Send now on an idle connection, or open one; False if at the connection limit."""
        self.outstanding += 1
        self.drained.clear()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                conn.send(data, scheduled, n_messages)
                return True
        if self.open >= self.limit:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.drained.set()
            return False
        self.open += 1
        self.res.connections += 1
        self.loop.create_task(self._connect(data, scheduled, n_messages))
        return True

    async def _connect(self, data: bytes, scheduled: float, n_messages: int) -> None:
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Conn(self), self.host, self.port),
                self.timeout_s,
            )
        except (OSError, TimeoutError):
            self.open -= 1
            self.done(0, scheduled, n_messages)
            return
        if conn.closed:  # the server hung up at once
            self.done(0, scheduled, n_messages)
            return
        conn.send(data, scheduled, n_messages)


def _request(url: str, payload: bytes, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    host = parts.netloc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}"]
    head += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload


async def run(
    url: str,
    rate: float,
    duration_s: float,
    body: Callable[[int], tuple[bytes, int]],
    headers: dict[str, str],
    timeout_s: float = 10.0,
    max_outstanding: int = 4096,
) -> Result:
    """Offer ``rate`` requests/s for ``duration_s``; ``body(i)`` gives (payload, n_messages).

    Request bodies are built before the first scheduled send, so building them costs the
    measurement nothing. At most ``max_outstanding`` connections are open; a request that
    finds none free is counted as an error (the generator never delays a request).
    """
    require_loopback(url)
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError("load generator speaks plain http:// only")
    res = Result(rate, duration_s)
    total = max(1, int(rate * duration_s))
    requests = []
    for i in range(total):
        payload, n = body(i)
        requests.append((_request(url, payload, headers), n))
    pool = _Pool(parts.hostname, parts.port or 80, res, timeout_s, max_outstanding)
    with _no_gc_pauses():
        await _send(requests, rate, pool, res, timeout_s)
    return res


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No cyclic garbage collection in the generator while it measures.

    A full collection here stops the sending loop for as long as it takes to walk every
    object this process holds (tens of milliseconds in the suite, which keeps the corpus
    and the report), and every request scheduled meanwhile is charged for it as if the
    server had stalled. So what exists now is frozen out of the collector and collection
    is off until the run ends; a run leaves little cyclic garbage (it is bounded in
    requests), collected once it is over.
    """
    gc.collect()
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


async def _send(
    requests: list[tuple[bytes, int]], rate: float, pool: _Pool, res: Result, timeout_s: float
) -> None:
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.05
    try:
        for i, (data, n) in enumerate(requests):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            res.sent += 1
            if not pool.submit(data, scheduled, n):
                # The client itself is saturated: charge the request as an error rather
                # than silently delaying it (which would hide latency).
                res.errors += 1
        if pool.outstanding:
            with contextlib.suppress(TimeoutError):
                # A connect and its request each have timeout_s: nothing outlives both.
                await asyncio.wait_for(pool.drained.wait(), 2 * timeout_s + 1)
        res.errors += pool.outstanding  # unanswered, whatever the reason
        res.wall_s = time.perf_counter() - t0
        res.client_cpu_s = time.process_time() - cpu0
    finally:
        for conn in list(pool.idle):
            conn._close()

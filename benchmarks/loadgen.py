"""An open-loop HTTP load generator that does not suffer from coordinated omission.

Requests are *scheduled* at a constant arrival rate (request ``i`` at ``t0 + i / rate``)
and sent at their scheduled time whether or not earlier ones have answered. Latency is
measured from the scheduled time, so a server that stalls is charged for the queue it
causes, not just for the requests that happened to get through.

Latencies go into an HDR histogram (microseconds, 3 significant digits). Responses 429
and 503 count as *shed* (with their own histogram: shedding must be fast); any other
non-2xx, a connection error or a timeout counts as an *error*. The run is bounded in
count and time and only ever targets loopback addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from hdrh.histogram import HdrHistogram

MAX_LATENCY_US = 120_000_000  # two minutes: anything slower is recorded as this


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
    hist: HdrHistogram = field(default_factory=_new_hist)
    shed_hist: HdrHistogram = field(default_factory=_new_hist)

    def percentiles(self, hist: HdrHistogram | None = None) -> dict[str, float]:
        h = hist or self.hist
        if h.get_total_count() == 0:
            return {}
        ms = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)}
        ms["max"] = h.get_max_value() / 1000
        return {k: round(v, 2) for k, v in ms.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered_rps": self.rate,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "ok": self.ok,
            "shed": self.shed,
            "errors": self.errors,
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


async def run(
    url: str,
    rate: float,
    duration_s: float,
    body: Callable[[int], tuple[bytes, int]],
    headers: dict[str, str],
    timeout_s: float = 10.0,
    max_outstanding: int = 4096,
) -> Result:
    """Offer ``rate`` requests/s for ``duration_s``; ``body(i)`` gives (payload, n_messages)."""
    require_loopback(url)
    res = Result(rate, duration_s)
    total = max(1, int(rate * duration_s))
    conn = aiohttp.TCPConnector(limit=max_outstanding, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout_s)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=conn, timeout=client_timeout) as session:

        async def one(i: int, scheduled: float) -> None:
            payload, n = body(i)
            try:
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            latency_us = int((time.perf_counter() - scheduled) * 1e6)
            latency_us = min(max(latency_us, 1), MAX_LATENCY_US)
            if 200 <= status < 300:
                res.ok += 1
                res.messages_ok += n
                res.hist.record_value(latency_us)
            elif status in (429, 503):
                res.shed += 1
                res.shed_hist.record_value(latency_us)
            else:
                res.errors += 1
                res.hist.record_value(latency_us)

        t0 = time.perf_counter() + 0.05
        for i in range(total):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(tasks) >= max_outstanding:
                # The client itself is saturated: charge the request as an error rather
                # than silently delaying it (which would hide latency).
                res.errors += 1
                res.sent += 1
                continue
            task = asyncio.create_task(one(i, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            res.sent += 1
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s + 1)
        res.wall_s = time.perf_counter() - t0
    return res

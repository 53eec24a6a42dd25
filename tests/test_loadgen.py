"""The load generator refuses non-loopback targets and reports what it measured."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from aiohttp import web

from benchmarks import loadgen


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080/v1/messages",  # private range: never a target
        "http://192.168.1.2/v1/messages",  # private range: never a target
        "http://example.com/v1/messages",  # public host name
    ],
)
def test_refuses_non_loopback_targets(url: str) -> None:
    """Only loopback addresses may be loaded."""
    with pytest.raises(ValueError, match="loopback"):
        loadgen.require_loopback(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/x", "http://127.9.9.9/x", "http://[::1]:80/x", "http://localhost/x"]
)
def test_accepts_loopback_targets(url: str) -> None:
    """127.0.0.0/8, ::1 and localhost are accepted."""
    loadgen.require_loopback(url)


async def test_connection_errors_count_as_errors_not_latency_wins() -> None:
    """Requests to a port nobody listens on are all counted as errors."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = await loadgen.run(
        f"http://127.0.0.1:{port}/v1/messages", 50, 0.2, lambda i: (b"{}", 1), {}, timeout_s=2
    )
    assert res.sent == 10 and res.errors == 10 and res.ok == 0


async def _serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/x", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/x"


async def test_statuses_are_sorted_into_ok_shed_and_errors() -> None:
    """2xx is ok (its messages counted), 429/503 shed, anything else an error; a chunked
    answer and one that closes the connection are read to their end."""
    seen: list[bytes] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append(body)
        i = int(body)
        if i % 5 == 0:
            return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
        if i % 5 == 1:
            return web.Response(status=429, text="slow down")
        if i % 5 == 2:
            return web.Response(status=500, text="boom")
        if i % 5 == 3:  # chunked transfer encoding
            resp = web.StreamResponse(status=201)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(b"part one,")
            await resp.write(b"part two")
            await resp.write_eof()
            return resp
        return web.Response(status=201, text="ok", headers={"Connection": "close"})

    runner, url = await _serve(handler)
    try:
        res = await loadgen.run(url, 200, 0.5, lambda i: (str(i).encode(), 3), {}, timeout_s=5)
    finally:
        await runner.cleanup()
    assert res.sent == 100 and len(seen) == 100
    assert sorted(int(b) for b in seen) == list(range(100))  # every body, once
    assert (res.ok, res.shed, res.errors) == (40, 40, 20)
    assert res.messages_ok == 120
    assert res.hist.get_total_count() == 60  # ok and errors; shed has its own histogram
    assert res.shed_hist.get_total_count() == 40


async def test_a_server_that_never_answers_is_charged_the_timeout() -> None:
    """A stalled request is an error with its full wait recorded, not dropped."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=201)

    runner, url = await _serve(handler)
    try:
        res = await loadgen.run(url, 20, 0.2, lambda i: (b"{}", 1), {}, timeout_s=0.5)
    finally:
        release.set()
        await runner.cleanup()
    assert res.sent == 4 and res.errors == 4 and res.ok == 0
    assert res.hist.get_min_value() >= 500_000  # microseconds: the whole timeout


async def test_latency_is_measured_from_the_scheduled_send_time() -> None:
    """A server that answers slowly makes later requests open new connections rather
    than wait for a free one: no request is sent late (no coordinated omission)."""

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)
        return web.Response(status=201)

    runner, url = await _serve(handler)
    try:
        res = await loadgen.run(url, 50, 0.4, lambda i: (b"{}", 1), {}, timeout_s=5)
    finally:
        await runner.cleanup()
    assert res.ok == 20 and res.errors == 0
    assert res.connections >= 10  # 50/s with 0.2 s answers needs ~10 in flight
    assert res.hist.get_max_value() < 1_000_000


@pytest.mark.parametrize("enabled_before", [True, False])
async def test_no_garbage_collection_pauses_while_measuring(enabled_before: bool) -> None:
    """While requests are on the clock the collector is off and what existed before is
    frozen out of it (a full collection would stall the sending loop, and the stall
    would be charged to the server); afterwards the collector is as it was."""
    during: list[tuple[bool, int]] = []

    async def handler(request: web.Request) -> web.Response:
        # The test's server shares the generator's process, so it sees its state.
        during.append((gc.isenabled(), gc.get_freeze_count()))
        return web.Response(status=201)

    runner, url = await _serve(handler)
    if not enabled_before:
        gc.disable()
    try:
        res = await loadgen.run(url, 50, 0.1, lambda i: (b"{}", 1), {})
        after = (gc.isenabled(), gc.get_freeze_count())
    finally:
        gc.enable()
        await runner.cleanup()
    assert res.ok == 5 and len(during) == 5
    assert all(not enabled and frozen > 0 for enabled, frozen in during)
    assert after == (enabled_before, 0)


def test_refuses_https_and_other_schemes() -> None:
    """The generator speaks plain HTTP/1.1 on loopback only."""
    with pytest.raises(ValueError, match="http://"):
        asyncio.run(loadgen.run("https://127.0.0.1:1/x", 10, 0.1, lambda i: (b"", 1), {}))

"""Upstream forwarding through the durable outbox."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.app import STORAGE
from proxy.metrics import METRICS
from proxy.outbox import OUTBOX, backoff
from tests.app_testing import CARD, make_env, message, serve

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Upstream:
    """A fake upstream that fails the first ``fail`` posts, then records the bodies."""

    def __init__(self, fail: int = 0, hang: bool = False) -> None:
        self.fail, self.hang = fail, hang
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=500)
        self.received.append(await request.json())
        self.keys.append(request.headers["Idempotency-Key"])
        self.got.set()
        return web.Response(status=204)


async def start(upstream: Upstream) -> TestServer:
    app = web.Application()
    app.router.add_post("/copies", upstream.handle)
    server = TestServer(app)
    await server.start_server()
    return server


async def wait_for(pred: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


def test_backoff_grows_and_is_capped() -> None:
    """The delay doubles per attempt, never exceeds the cap, and jitter keeps it above half."""
    assert [backoff(n, 1.0, 10.0, rand=lambda: 1.0) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert backoff(3, 1.0, 10.0, rand=lambda: 0.0) == 4.0


async def test_redacted_copy_is_forwarded_upstream(tmp_path: Path) -> None:
    """An ingested message reaches the upstream redacted, keyed by its message_id."""
    upstream = Upstream()
    server = await start(upstream)
    try:
        env = make_env(tmp_path, upstream={"url": str(server.make_url("/copies"))})
        async with serve(env) as client:
            resp = await client.post("/v1/messages", json=message(), headers=env.auth())
            assert resp.status == 201
            await wait_for(lambda: upstream.received)
    finally:
        await server.close()
    body = upstream.received[0]
    assert body["message_id"] == "m-1" and upstream.keys == ["m-1"]
    assert "[CREDIT_CARD_1]" in body["redacted"] and CARD not in json.dumps(body)


async def test_failed_deliveries_are_retried_until_accepted(tmp_path: Path) -> None:
    """An upstream failing twice still receives the message exactly once afterwards."""
    upstream = Upstream(fail=2)
    server = await start(upstream)
    try:
        env = make_env(tmp_path, upstream={"url": str(server.make_url("/copies"))})
        async with serve(env) as client:
            client.app[OUTBOX].base_backoff = 0.05
            await client.post("/v1/messages", json=message(), headers=env.auth())
            await wait_for(lambda: upstream.received)
            await asyncio.sleep(0.2)
            due = await client.app[STORAGE].outbox_fetch_due(FAR_FUTURE, 10)
    finally:
        await server.close()
    assert len(upstream.received) == 1
    assert due == []


async def test_a_hanging_upstream_does_not_slow_ingest_or_lose_messages(tmp_path: Path) -> None:
    """With an upstream that never answers, ingest still acks and the rows stay queued."""
    upstream = Upstream(hang=True)
    server = await start(upstream)
    try:
        env = make_env(tmp_path, upstream={"url": str(server.make_url("/copies")), "timeout": 0.2})
        async with serve(env) as client:
            statuses = [
                (await client.post("/v1/messages", json=message(i), headers=env.auth())).status
                for i in range(5)
            ]
            await asyncio.sleep(0.5)
            storage = client.app[STORAGE]
            rows = await storage.outbox_fetch_due(FAR_FUTURE, 100)
    finally:
        await server.close()
    assert statuses == [201] * 5
    assert sorted(r.message_id for r in rows) == [f"m-{i}" for i in range(5)]


async def test_after_max_attempts_a_row_is_parked_not_dropped(tmp_path: Path) -> None:
    """An upstream that keeps failing gets the row parked for an hour; it stays queued."""
    upstream = Upstream(fail=1000)
    server = await start(upstream)
    try:
        env = make_env(
            tmp_path, upstream={"url": str(server.make_url("/copies")), "max_attempts": 1}
        )
        async with serve(env) as client:
            await client.post("/v1/messages", json=message(), headers=env.auth())
            metrics = client.app[METRICS]
            await wait_for(lambda: metrics.outbox.get(outcome="parked") == 1)
            soon = await client.app[STORAGE].outbox_fetch_due(datetime.now(UTC), 10)
            later = await client.app[STORAGE].outbox_fetch_due(FAR_FUTURE, 10)
    finally:
        await server.close()
    assert soon == []
    assert [(r.message_id, r.attempts, r.last_error) for r in later] == [("m-1", 1, "http_500")]

"""The HTTP service on PostgreSQL (the real server at 127.0.0.1:5432, database ``test``):
ingest, replay and concurrent duplicates behave as on SQLite. Never skipped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proxy.app import STORAGE
from tests.app_testing import CARD, message, postgres_env, serve


@pytest.fixture
async def pg_env(tmp_path: Path) -> AsyncIterator[Any]:
    async with postgres_env(tmp_path, "cw_app") as env:
        yield env


async def test_ingest_replay_and_concurrent_duplicates_on_postgres(pg_env: Any) -> None:
    """On PostgreSQL: 201 then 200 with the same body, and 6 concurrent posts store one record."""
    async with serve(pg_env) as client:
        first = await client.post("/v1/messages", json=message(1), headers=pg_env.auth())
        again = await client.post("/v1/messages", json=message(1), headers=pg_env.auth())
        racing = await asyncio.gather(
            *(client.post("/v1/messages", json=message(2), headers=pg_env.auth()) for _ in range(6))
        )
        page = await client.app[STORAGE].query_messages(pg_env.config.tenant, purpose=None)
        body = await first.read()
        assert (first.status, again.status) == (201, 200)
        assert body == await again.read()
        assert sorted(r.status for r in racing) == [200] * 5 + [201]
    assert sorted(m.message_id for m in page.items) == ["m-1", "m-2"]
    assert all(CARD not in m.redacted for m in page.items)


async def test_reused_message_id_is_a_409_on_postgres(pg_env: Any) -> None:
    """On PostgreSQL: a true replay is 200 with the first body; the same id with another text
    or conversation is 409 conflict, and a batch holding such a message stores nothing."""
    other = "a different message under a reused id"
    async with serve(pg_env) as client:
        first = await client.post("/v1/messages", json=message(1), headers=pg_env.auth())
        body = await first.read()
        replay = await client.post("/v1/messages", json=message(1), headers=pg_env.auth())
        assert (first.status, replay.status) == (201, 200) and await replay.read() == body
        for change in ({"text": other}, {"conversation_id": "c-2"}):
            r = await client.post("/v1/messages", json=message(1, **change), headers=pg_env.auth())
            raw = await r.text()
            assert r.status == 409 and other not in raw
            assert json.loads(raw)["error"]["field"] == "message_id"
        batch = {"messages": [message(2), message(1, text=other)]}
        r = await client.post("/v1/messages", json=batch, headers=pg_env.auth())
        assert r.status == 409
        racing = await asyncio.gather(
            client.post("/v1/messages", json=message(3), headers=pg_env.auth()),
            client.post("/v1/messages", json=message(3, text=other), headers=pg_env.auth()),
        )
        assert sorted(x.status for x in racing) == [201, 409]
        page = await client.app[STORAGE].query_messages(pg_env.config.tenant, purpose=None)
    assert sorted(m.message_id for m in page.items) == ["m-1", "m-3"]

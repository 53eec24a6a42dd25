"""The audit trail inside an aiohttp app: lifecycle, fail-closed reads, responsive health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.audit import AuditUnavailable
from proxy.audit.events import Actor, AuditEvent, Decision
from proxy.audit.http import response_for
from proxy.audit.runtime import AUDIT_TRAIL, subject_hasher, trail_context
from proxy.audit.settings import AuditSettings
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import BrokenStore, StalledStore
from proxy.audit.verify import verify_store
from proxy.keys import generate_keyring

SECRET_TEXT = "my card is 4111 1111 1111 1111"


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    # Stands in for the service's one error middleware.
    try:
        return await handler(request)
    except AuditUnavailable as exc:
        return response_for(exc)


async def read_messages(request: web.Request) -> web.Response:
    """A read as the service does it: decide, record, and only then answer with data."""
    await request.app[AUDIT_TRAIL].record(
        AuditEvent(
            kind="read",
            actor=Actor("tok-1", "dispute_agent"),
            decision=Decision(True, "dispute_agent.dispute_handling"),
            purpose="dispute_handling",
            justification="ticket 9",
            message_ids=("m1",),
            count=1,
        )
    )
    return web.json_response({"messages": [{"message_id": "m1", "text": SECRET_TEXT}]})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    ring = generate_keyring(tmp_path / "keys.json")
    settings = AuditSettings(
        store_url=f"sqlite:///{tmp_path / 'cw.db'}", timeout=0.2, checkpoint_every=100
    )
    app = web.Application(middlewares=[errors])
    app.cleanup_ctx.append(trail_context(settings, ring))
    app.router.add_get("/v1/messages", read_messages)
    app.router.add_get("/healthz", healthz)
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


async def test_read_is_recorded_and_checkpointed_at_shutdown(tmp_path: Path, client: Any) -> None:
    """A read answers after its event is stored; shutdown signs a checkpoint covering it."""
    assert (await client.get("/v1/messages")).status == 200
    await client.close()
    store = SQLiteAuditStore(tmp_path / "cw.db", read_only=True)
    await store.open()
    cps = await store.checkpoints()
    rows = await store.all_rows()
    await store.close()
    assert len(rows) == 1 and cps[-1].checkpoint.size == 1
    assert SECRET_TEXT.encode() not in (tmp_path / "cw.db").read_bytes()


async def test_unwritable_audit_store_gives_503_without_data(client: Any) -> None:
    """With the audit store failing, the read answers 503, Retry-After, and no messages."""
    trail = client.server.app[AUDIT_TRAIL]
    trail.store = BrokenStore(trail.store)
    resp = await client.get("/v1/messages")
    body = await resp.text()
    assert resp.status == 503 and "Retry-After" in resp.headers
    assert "messages" not in body and "4111" not in body


async def test_stalled_audit_store_gives_503_while_health_answers(client: Any) -> None:
    """With the audit store hanging, the read answers 503 within the timeout and
    /healthz answers meanwhile."""
    trail = client.server.app[AUDIT_TRAIL]
    stalled = StalledStore(trail.store)
    trail.store = stalled
    read = asyncio.create_task(client.get("/v1/messages"))
    while stalled.started == 0:  # the read is now waiting on the stalled store
        await asyncio.sleep(0.005)
    health = await client.get("/healthz")
    assert health.status == 200 and not read.done()
    resp = await read
    assert resp.status == 503 and "messages" not in await resp.text()
    assert trail.metrics.failures["timeout"] == 1
    stalled.release()


def test_subject_hasher_is_keyed_and_stable(tmp_path: Path) -> None:
    """Same key, same id -> same ref; another keyring -> another ref; never the raw id."""
    a = generate_keyring(tmp_path / "a.json")
    b = generate_keyring(tmp_path / "b.json")
    ref = subject_hasher(a)("buyer-17")
    assert ref == subject_hasher(a)("buyer-17") and ref != subject_hasher(b)("buyer-17")
    assert len(ref) == 64 and "buyer" not in ref


async def test_trail_context_with_no_store_url_refuses_to_start(tmp_path: Path) -> None:
    """Without a storage url the app does not start (no trail, no reads)."""
    from proxy.errors import UsageError

    ring = generate_keyring(tmp_path / "keys.json")
    app = web.Application()
    app.cleanup_ctx.append(trail_context(AuditSettings(), ring))
    with pytest.raises(UsageError):
        async with TestClient(TestServer(app)):
            pass


async def test_verify_after_a_served_session(tmp_path: Path, client: Any) -> None:
    """The trail a served app leaves behind verifies under the keyring's public key."""
    from proxy.audit.runtime import signer_of
    from proxy.keys import load_keyring

    for _ in range(3):
        await client.get("/v1/messages")
    await client.close()
    store = SQLiteAuditStore(tmp_path / "cw.db", read_only=True)
    await store.open()
    verifier = signer_of(load_keyring(tmp_path / "keys.json")).verifier()  # type: ignore[attr-defined]
    report = await verify_store(store, verifier)
    await store.close()
    assert report.ok and report.size == 3


async def test_record_once_appends_from_outside_serve(tmp_path: Path) -> None:
    """A CLI command can record one event (e.g. a key rotation) durably."""
    from proxy.audit.runtime import record_once

    ring = generate_keyring(tmp_path / "keys.json")
    settings = AuditSettings(store_url=f"sqlite:///{tmp_path / 'cw.db'}")
    event = AuditEvent(
        kind="key.rotate",
        actor=Actor("cli", "admin"),
        decision=Decision(True, "keys.rotate"),
        detail=(("region", "eu"), ("version", 2)),
    )
    await record_once(settings, ring, event)
    store = SQLiteAuditStore(tmp_path / "cw.db", read_only=True)
    await store.open()
    row = await store.find(event.event_id)
    await store.close()
    assert row is not None and row.kind == "key.rotate"


async def test_metrics_text_reports_recorded_events(client: Any) -> None:
    """metrics_text(app) renders the trail's counters for /metrics."""
    from proxy.audit.runtime import metrics_text

    await client.get("/v1/messages")
    text = metrics_text(client.server.app)
    assert "chatwarden_audit_events_total 1" in text


async def test_shutdown_does_not_hang_on_a_hung_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the audit store never finishes closing, the app still shuts down."""
    from proxy.audit import runtime

    inner = SQLiteAuditStore(tmp_path / "cw.db")

    class HungClose(StalledStore):
        async def close(self) -> None:
            await asyncio.Event().wait()  # never set

    hung = HungClose(inner)
    hung.release()  # appends work; only close hangs
    monkeypatch.setattr(runtime, "store_from_url", lambda url, **kw: hung)
    ring = generate_keyring(tmp_path / "keys.json")
    settings = AuditSettings(store_url="sqlite:///unused.db", timeout=0.2)
    app = web.Application()
    app.cleanup_ctx.append(trail_context(settings, ring))
    async with TestClient(TestServer(app)):
        pass  # leaving the block shuts the app down; it must return
    await inner.close()

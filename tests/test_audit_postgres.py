"""The PostgreSQL audit store against the machine's real server (127.0.0.1:5432)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from proxy.audit import AuditUnavailable
from proxy.audit.log import AuditQuery, AuditTrail, CheckpointPolicy
from proxy.audit.store import PostgresAuditStore, store_from_url
from proxy.audit.testing import FakeSigner, FrozenClock, make_event
from proxy.audit.verify import verify_store

asyncpg = pytest.importorskip("asyncpg")

BASE = os.environ.get("CHATWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SIGNER = FakeSigner()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(BASE)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway database for this module, dropped afterwards."""
    name = f"cw_audit_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable for the audit store tests ({type(exc).__name__})")
    yield BASE.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresAuditStore]:
    s = PostgresAuditStore(pg_url)
    await s.open()
    async with s._pool.acquire() as conn:
        # A fresh log per test: the tables are append-only, so recreate them.
        await conn.execute(
            "DROP TABLE IF EXISTS audit_events, audit_subjects, audit_checkpoints, "
            "audit_head, audit_meta"
        )
    await s.close()
    s = PostgresAuditStore(pg_url)
    await s.open()
    yield s
    await s.close()


def _trail(store: PostgresAuditStore, **kw: object) -> AuditTrail:
    return AuditTrail(
        store, SIGNER, policy=CheckpointPolicy(every=4, interval=None), clock=FrozenClock(), **kw
    )  # type: ignore[arg-type]


def test_url_selects_the_postgres_store(pg_url: str) -> None:
    """A postgresql:// storage url gives the PostgreSQL store."""
    assert isinstance(store_from_url(pg_url), PostgresAuditStore)


async def test_recorded_trail_verifies(store: PostgresAuditStore) -> None:
    """Events recorded on PostgreSQL verify with their checkpoints."""
    trail = _trail(store)
    for i in range(9):
        await trail.record(make_event(i))
    await trail.checkpoint(force=True)
    report = await verify_store(store, SIGNER)
    assert report.ok, str(report.problem)
    assert (report.size, report.checkpoints) == (9, 3)


async def test_concurrent_writers_get_consecutive_positions(
    pg_url: str, store: PostgresAuditStore
) -> None:
    """Two store instances (two replicas) appending at once never fork or skip."""
    other = PostgresAuditStore(pg_url)
    await other.open()
    a, b = _trail(store), _trail(other)
    await asyncio.gather(*(t.record(make_event(i)) for i, t in enumerate([a, b] * 10)))
    await other.close()
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 20


async def test_update_and_delete_are_refused(store: PostgresAuditStore) -> None:
    """The append-only triggers reject UPDATE, DELETE and TRUNCATE of audit rows."""
    await _trail(store).record(make_event(0))
    async with store._pool.acquire() as conn:
        for sql in (
            "UPDATE audit_events SET purpose = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute(sql)


async def test_altered_row_is_named_by_verify(store: PostgresAuditStore) -> None:
    """A row edited behind the triggers' back is reported at its index."""
    trail = _trail(store)
    for i in range(6):
        await trail.record(make_event(i))
    async with store._pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE audit_events SET body = overlay(body placing '\\x21'::bytea from 20 for 1) "
            "WHERE idx = 3"
        )
    report = await verify_store(store, SIGNER)
    assert report.problem is not None and report.problem.index == 3


async def test_query_by_subject_and_case(store: PostgresAuditStore) -> None:
    """Subject and case filters select the same rows as on SQLite."""
    alice = hashlib.sha256(b"alice").hexdigest()
    trail = _trail(store)
    for i in range(4):
        await trail.record(make_event(i, subjects=(alice,) if i != 2 else ()))
    rows = await store.query(AuditQuery(subject=alice, case_id="case-1"))
    assert [r.event_id for r in rows] == ["ev000001", "ev000003"]


async def test_locked_head_row_times_out_without_blocking(store: PostgresAuditStore) -> None:
    """While another session holds the head row lock, record() answers AuditUnavailable
    within the timeout, the loop keeps running, and the log stays intact."""
    await _trail(store).record(make_event(0))
    trail = _trail(store, timeout=0.2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    blocker = await asyncpg.connect(store._dsn)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("SELECT frontier FROM chatwarden.audit_head WHERE id = 1 FOR UPDATE")
    t = asyncio.create_task(ticker())
    try:
        with pytest.raises(AuditUnavailable) as err:
            await trail.record(make_event(1))
    finally:
        t.cancel()
        await tx.rollback()
        await blocker.close()
    assert err.value.cause == "timeout" and ticks > 1
    while trail._pending:  # the shielded write completes once the lock is released
        await asyncio.sleep(0.01)
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 2


async def test_duplicate_event_id_fails_alone(store: PostgresAuditStore) -> None:
    """On PostgreSQL too, a duplicate id fails only its own record in a batch."""
    from proxy.audit import InvalidEvent

    trail = _trail(store)
    await trail.record(make_event(0))
    results = await asyncio.gather(
        *(trail.record(make_event(i)) for i in (1, 0, 2)), return_exceptions=True
    )
    assert isinstance(results[1], InvalidEvent)
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 3


async def test_scan_pages_through_every_row_in_order(store: PostgresAuditStore) -> None:
    """The server-side cursor yields every row once, in log order, in pages."""
    trail = _trail(store)
    for i in range(7):
        await trail.record(make_event(i))
    pages = [page async for page in store.scan(batch=3)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.index for p in pages for r in p] == list(range(7))


async def test_schema_parameter_keeps_logs_apart(pg_url: str) -> None:
    """?schema=NAME puts the audit tables in that schema: two schemas, two logs."""
    a = PostgresAuditStore(pg_url + "?schema=audit_a")
    b = PostgresAuditStore(pg_url + "?schema=audit_b")
    await a.open()
    await b.open()
    try:
        await _trail(a).record(make_event(0))
        assert a.origin != b.origin
        assert (await verify_store(b, SIGNER)).size == 0
        assert (await verify_store(a, SIGNER)).size == 1
    finally:
        await a.close()
        await b.close()


# --- corruptions on PostgreSQL: the same kinds as the SQLite table, done in SQL by
# someone with table-owner rights (triggers disabled, constraints dropped).

PG_N = 8


async def _tamper(store: PostgresAuditStore, *sql: str) -> None:
    async with store._pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        await conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        await conn.execute("ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_pkey")
        await conn.execute(
            "ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_event_id_key"
        )
        for stmt in sql:
            await conn.execute(stmt)


def _pg_cases() -> list[tuple[str, list[str], int | None, int | None]]:
    cases: list[tuple[str, list[str], int | None, int | None]] = []
    for i in (0, 3, PG_N - 1):
        cases += [
            (
                f"flip-byte-{i}",
                [
                    "UPDATE audit_events SET body = set_byte(body, 30, get_byte(body, 30) # 1) "
                    f"WHERE idx = {i}"
                ],
                i,
                None,
            ),
            (f"delete-{i}", [f"DELETE FROM audit_events WHERE idx = {i}"], i, None),
            (
                f"delete-renumber-{i}",
                [
                    f"DELETE FROM audit_events WHERE idx = {i}",
                    f"UPDATE audit_events SET idx = idx - 1 WHERE idx > {i}",
                ],
                i,
                None,
            ),
            (
                f"duplicate-{i}",
                [f"INSERT INTO audit_events SELECT * FROM audit_events WHERE idx = {i}"],
                i + 1,
                None,
            ),
            (
                f"truncate-to-{i}",
                [f"DELETE FROM audit_events WHERE idx >= {i}"],
                i,
                None,
            ),
        ]
    cases.append(
        (
            "swap-1-and-5",
            [
                "UPDATE audit_events SET idx = -1 WHERE idx = 1",
                "UPDATE audit_events SET idx = 1 WHERE idx = 5",
                "UPDATE audit_events SET idx = 5 WHERE idx = -1",
            ],
            1,
            None,
        )
    )
    for seq in (1, 2):
        cases.append(
            (
                f"forge-checkpoint-{seq}",
                [
                    "UPDATE audit_checkpoints SET signature = "
                    f"set_byte(signature, 0, get_byte(signature, 0) # 1) WHERE seq = {seq}"
                ],
                None,
                seq,
            )
        )
    return cases


PG_CASES = _pg_cases()


@pytest.mark.parametrize(
    ("name", "sql", "index", "checkpoint"), PG_CASES, ids=[c[0] for c in PG_CASES]
)
async def test_corruption_on_postgres_is_named(
    store: PostgresAuditStore, name: str, sql: list[str], index: int | None, checkpoint: int | None
) -> None:
    """Each corruption of a PostgreSQL trail fails verification at the expected place."""
    trail = _trail(store)
    for i in range(PG_N):
        await trail.record(make_event(i))
    pin = (await verify_store(store, SIGNER)).pin(store.origin)
    await _tamper(store, *sql)
    report = await verify_store(store, SIGNER, pin)
    assert report.problem is not None, f"{name}: not detected"
    assert report.problem.index == index, f"{name}: {report.problem}"
    if checkpoint is not None:
        assert report.problem.checkpoint == checkpoint, f"{name}: {report.problem}"

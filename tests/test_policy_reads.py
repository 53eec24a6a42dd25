"""Purpose-bound reads, four-eyes cases, retention with holds and erasure, end to end on SQLite."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from policies.loader import load_default_policy
from policies.views import hash_message
from proxy.audit.errors import AuditUnavailable
from proxy.audit.events import AuditEvent
from proxy.cases import CaseStatus, CaseStore, SQLiteCaseStore
from proxy.cases_pg import PostgresCaseStore
from proxy.errors import DecryptionError
from proxy.policy_http import PolicyService, register
from proxy.retention import expire_cases, run_retention
from proxy.sealing import SealContext, Sealer
from proxy.storage import open_storage
from proxy.storage.base import Storage, StoredMessage
from proxy.storage.errors import StorageUnavailable
from proxy.testing import FakeKeyStore, FrozenClock

IBAN = "DE89 3704 0044 0532 0130 00"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Sink:
    """Records audit events in memory; ``down`` makes it refuse like a broken trail."""

    events: list[AuditEvent] = field(default_factory=list)
    down: bool = False

    async def record(self, event: AuditEvent) -> None:
        if self.down:
            raise AuditUnavailable("audit store unwritable (test)", "unwritable")
        self.events.append(event)


@dataclass(frozen=True)
class Caller:
    token_id: str
    role: str


async def authenticate(request: web.Request) -> Caller:
    token_id, _, role = (
        request.headers.get("Authorization", "").removeprefix("Bearer ").partition(":")
    )
    if not role:
        raise web.HTTPUnauthorized()
    return Caller(token_id, role)


def view_hasher(entity_type: str, value: str) -> str:
    return hmac.new(b"v" * 32, hash_message(entity_type, value), hashlib.sha256).hexdigest()[:16]


def subject_hasher(subject: str) -> str:
    return hashlib.sha256(b"s" + subject.encode()).hexdigest()


@dataclass
class World:
    client: TestClient
    storage: Storage
    cases: CaseStore
    sealer: Sealer
    audit: Sink
    clock: FrozenClock
    # Runs SQL (DDL) on the backend directly: fault injection with triggers.
    execute: Callable[[str], Awaitable[None]]

    async def put(
        self,
        mid: str,
        cid: str,
        sender: str,
        text: str,
        value: str,
        etype: str,
        purposes: set[str],
        minutes: int = 0,
    ) -> StoredMessage:
        start = text.index(value)
        sent = T0 + timedelta(minutes=minutes)
        sealed = await self.sealer.seal(SealContext("default", cid, mid, "default"), text.encode())
        rec = StoredMessage(
            tenant="default",
            message_id=mid,
            conversation_id=cid,
            sender_id=sender,
            sender_role="seller",
            recipient_id="buyer-" + cid,
            sent_at=sent,
            region="default",
            redacted=text[:start] + f"[{etype}_1]" + text[start + len(value) :],
            sealed=sealed,
            ingested_at=sent,
            entities=((start, start + len(value), etype),),
            purposes=frozenset(purposes),
            retention_until=sent + timedelta(days=30),
        )
        ((stored, _),) = await self.storage.put_messages([rec])
        return stored

    async def get(
        self, who: str, params: dict[str, str], justification: str | None = "ticket 42"
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {who}"}
        if justification is not None:
            headers["X-Justification"] = justification
        r = await self.client.get("/v1/messages", params=params, headers=headers)
        return r.status, await r.json()

    async def post(self, who: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = await self.client.post(path, json=body, headers={"Authorization": f"Bearer {who}"})
        return r.status, await r.json()


PG_BASE = os.environ.get("CHATWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    schema = f"cw_policy_{uuid.uuid4().hex[:10]}"
    cases: CaseStore
    if request.param == "sqlite":
        db = tmp_path / "cw.db"
        storage = await open_storage(f"sqlite:///{db}")
        cases = await SQLiteCaseStore(db).open()

        async def execute(sql: str) -> None:
            conn = sqlite3.connect(db)
            try:
                conn.executescript(sql)
            finally:
                conn.close()

    else:
        storage = await open_storage(f"{PG_BASE}?schema={schema}")
        cases = await PostgresCaseStore(f"{PG_BASE}?schema={schema}").open()

        async def execute(sql: str) -> None:
            import asyncpg  # type: ignore[import-untyped]  # no stubs published

            conn = await asyncpg.connect(PG_BASE, server_settings={"search_path": schema})
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

    sealer = Sealer(FakeKeyStore(), storage)
    clock = FrozenClock(T0 + timedelta(days=1))
    sink = Sink()
    app = web.Application()
    register(
        app,
        PolicyService(
            policy=load_default_policy(),
            storage=storage,
            cases=cases,
            sealer=sealer,
            audit=sink,
            authenticate=authenticate,
            view_hasher=view_hasher,
            subject_hasher=subject_hasher,
            clock=clock,
        ),
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield World(client, storage, cases, sealer, sink, clock, execute)
    finally:
        await client.close()
        await cases.close()
        await storage.close()
        if request.param == "postgres":
            import asyncpg  # type: ignore[import-untyped]  # no stubs published

            conn = await asyncpg.connect(PG_BASE)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()


RISK = {"risk_control"}
DISPUTE = {"dispute_handling"}


async def test_same_iban_same_keyed_hash_in_risk_view(world: World) -> None:
    """Two sellers' conversations with one IBAN show one keyed hash, never the IBAN."""
    await world.put("m1", "c1", "s1", f"New account {IBAN} please", IBAN, "IBAN", RISK)
    await world.put("m2", "c2", "s2", f"pay to {IBAN}", IBAN, "IBAN", RISK)
    status, body = await world.get("r1:risk_analyst", {"purpose": "risk_control"})
    assert status == 200
    texts = [m["text"] for m in body["messages"]]
    tags = {t.split("<", 1)[1].split(">", 1)[0] for t in texts}
    assert len(texts) == 2 and len(tags) == 1
    assert not any("3704" in t for t in texts)


async def test_only_messages_tagged_with_the_purpose_are_returned(world: World) -> None:
    """A risk read does not return a dispute-only conversation."""
    await world.put("m1", "c1", "s1", f"refund to {IBAN}", IBAN, "IBAN", DISPUTE)
    await world.put("m2", "c2", "s2", f"new account {IBAN}", IBAN, "IBAN", RISK)
    _, body = await world.get("r1:risk_analyst", {"purpose": "risk_control"})
    assert [m["message_id"] for m in body["messages"]] == ["m2"]


async def test_read_needs_purpose_and_justification(world: World) -> None:
    """Without purpose or X-Justification a read is refused before any decision."""
    assert (await world.get("r1:risk_analyst", {}))[0] == 400
    assert (await world.get("r1:risk_analyst", {"purpose": "risk_control"}, justification=None))[
        0
    ] == 400


async def test_denial_is_an_answer_and_is_recorded(world: World) -> None:
    """A dispute agent without a case gets 403 with a reason, and the denial is audited."""
    status, body = await world.get("d1:dispute_agent", {"purpose": "dispute_handling"})
    assert status == 403 and body["reason"] and body["rule"]
    assert [(e.kind, e.decision.allow) for e in world.audit.events] == [("read", False)]


async def test_allowed_read_is_recorded_before_the_answer(world: World) -> None:
    """An allowed read records the message ids it returns."""
    await world.put("m1", "c1", "s1", f"new account {IBAN}", IBAN, "IBAN", RISK)
    await world.get("r1:risk_analyst", {"purpose": "risk_control"})
    (ev,) = world.audit.events
    assert ev.decision.allow and ev.message_ids == ("m1",) and ev.justification == "ticket 42"


async def test_audit_down_returns_nothing(world: World) -> None:
    """When the trail cannot record the read, the answer is 503 and carries no message."""
    await world.put("m1", "c1", "s1", f"new account {IBAN}", IBAN, "IBAN", RISK)
    world.audit.down = True
    status, body = await world.get("r1:risk_analyst", {"purpose": "risk_control"})
    assert status == 503 and "messages" not in body


async def test_pages_are_stable_and_bounded(world: World) -> None:
    """Pages follow ingest order with a cursor; page sizes outside 1..200 are refused."""
    for i in range(5):
        await world.put(f"m{i}", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK, minutes=i)
    seen: list[str] = []
    params = {"purpose": "risk_control", "limit": "2"}
    while True:
        _, body = await world.get("r1:risk_analyst", params)
        seen += [m["message_id"] for m in body["messages"]]
        if body["next_cursor"] is None:
            break
        params = {**params, "cursor": body["next_cursor"]}
    assert seen == [f"m{i}" for i in range(5)]
    assert (await world.get("r1:risk_analyst", {"purpose": "risk_control", "limit": "0"}))[0] == 400
    assert (await world.get("r1:risk_analyst", {"purpose": "risk_control", "limit": "1000"}))[
        0
    ] == 400


def case_body(**over: Any) -> dict[str, Any]:
    body = {
        "purpose": "regulatory_request",
        "subjects": ["s1"],
        "since": (T0 - timedelta(days=1)).isoformat(),
        "until": (T0 + timedelta(hours=1)).isoformat(),
        "authority": "Data protection authority",
        "legal_basis": "Art. 58 order",
        "expires_at": (T0 + timedelta(days=10)).isoformat(),
    }
    body.update(over)
    return body


async def test_four_eyes_and_case_scope(world: World) -> None:
    """Self-approval is refused; after a second officer's approval the subject's messages read."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    await world.put("m2", "c2", "s2", f"acct {IBAN}", IBAN, "IBAN", RISK)
    await world.put("m3", "c3", "s1", f"late {IBAN}", IBAN, "IBAN", RISK, minutes=120)
    status, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    assert status == 201 and case["status"] == "pending"
    path = f"/v1/cases/{case['case_id']}/approve"
    status, body = await world.post("alice:compliance_officer", path, {})
    assert status == 403 and body["rule"] == "four-eyes"
    assert (
        await world.get(
            "alice:compliance_officer",
            {"purpose": "regulatory_request", "case_id": case["case_id"]},
        )
    )[0] == 403
    status, _ = await world.post("bob:compliance_officer", path, {})
    assert status == 200
    status, body = await world.get(
        "alice:compliance_officer", {"purpose": "regulatory_request", "case_id": case["case_id"]}
    )
    assert status == 200
    assert [m["message_id"] for m in body["messages"]] == ["m1"]
    assert "3704" in body["messages"][0]["text"]
    assert "case.refuse" in [e.kind for e in world.audit.events]


async def test_expired_case_reads_nothing(world: World) -> None:
    """Once a case expires, reads under it are denied."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {})
    world.clock.advance(timedelta(days=20).total_seconds())
    status, body = await world.get(
        "alice:compliance_officer", {"purpose": "regulatory_request", "case_id": case["case_id"]}
    )
    assert status == 403 and "expired" in body["reason"]


async def test_retention_shreds_unheld_and_keeps_held(world: World) -> None:
    """With an injected clock, expired unheld messages no longer open; held ones still do."""
    held = await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    gone = await world.put("m2", "c2", "s2", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post(
        "alice:compliance_officer",
        "/v1/cases",
        case_body(expires_at=(T0 + timedelta(days=90)).isoformat()),
    )
    await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {})
    report = await run_retention(world.cases, world.sealer, world.audit, T0 + timedelta(days=45))
    assert (
        report.messages_deleted,
        report.messages_kept_on_hold,
        report.conversations_shredded,
    ) == (1, 1, 1)
    with pytest.raises(DecryptionError):
        await world.sealer.open(SealContext("default", "c2", "m2", "default"), gone.sealed)
    assert await world.sealer.open(SealContext("default", "c1", "m1", "default"), held.sealed)
    assert world.audit.events[-1].kind == "retention.run"


async def test_case_expiry_releases_the_hold(world: World) -> None:
    """After its case expires, a held conversation is destroyed by the next retention run."""
    held = await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {})
    report = await run_retention(world.cases, world.sealer, world.audit, T0 + timedelta(days=45))
    assert report.cases_expired == 1 and report.conversations_shredded == 1
    with pytest.raises(DecryptionError):
        await world.sealer.open(SealContext("default", "c1", "m1", "default"), held.sealed)


async def test_erasure_lists_what_was_kept_under_which_hold(world: World) -> None:
    """An erasure shreds the subject's unheld conversations and names the case holding the rest."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    erased = await world.put("m2", "c2", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK, minutes=120)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {})
    status, body = await world.post("carol:admin", "/v1/erasures", {"subject_id": "s1"})
    assert status == 200
    assert body["erased_conversations"] == ["c2"]
    assert body["kept"] == [
        {"conversation_id": "c1", "held_by_cases": [case["case_id"]], "reason": "legal hold"}
    ]
    with pytest.raises(DecryptionError):
        await world.sealer.open(SealContext("default", "c2", "m2", "default"), erased.sealed)


async def test_erasure_needs_the_admin_action(world: World) -> None:
    """A compliance officer may not erase; the refusal is recorded."""
    status, _ = await world.post("alice:compliance_officer", "/v1/erasures", {"subject_id": "s1"})
    assert status == 403 and world.audit.events[-1].kind == "erasure"


async def test_retention_judges_current_purposes(world: World) -> None:
    """A message past its stored term whose conversation now serves a longer purpose is kept."""
    kept = await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", DISPUTE)
    policy = load_default_policy()
    report = await run_retention(
        world.cases,
        world.sealer,
        world.audit,
        T0 + timedelta(days=45),
        retention_days=policy.retention_days,
    )
    assert report.messages_deleted == 0
    assert await world.sealer.open(SealContext("default", "c1", "m1", "default"), kept.sealed)


async def test_case_metadata_denial_is_recorded(world: World) -> None:
    """A role that does not manage cases cannot read one, and the refusal is audited."""
    r = await world.client.get(
        "/v1/cases/case_x", headers={"Authorization": "Bearer r1:risk_analyst"}
    )
    assert r.status == 403 and world.audit.events[-1].decision.allow is False


async def test_time_outside_the_representable_range_is_a_400(world: World) -> None:
    """A 'since' that overflows when moved to UTC is refused naming the field, not a 500."""
    status, body = await world.get(
        "r1:risk_analyst", {"purpose": "risk_control", "since": "0001-01-01T00:00:00+14:00"}
    )
    assert status == 400 and "since" in json.dumps(body)


# A trigger that fails one step of an approval, per backend: after the status update.
_FAIL_SQLITE = """
CREATE TRIGGER fail_step BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
"""
_FAIL_PG = """
CREATE FUNCTION fail_step() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
CREATE TRIGGER fail_step BEFORE {op} ON {table} FOR EACH ROW EXECUTE FUNCTION fail_step();
"""


@pytest.mark.parametrize(
    ("op", "table"),
    [
        ("INSERT", "holds"),  # the hold step fails after the status was written
        ("UPDATE", "conversations"),  # the re-tag step fails after status and holds
    ],
)
async def test_approval_is_all_or_nothing(world: World, op: str, table: str) -> None:
    """A failure midway through an approval keeps nothing of it; a retry then succeeds."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    path = f"/v1/cases/{case['case_id']}/approve"
    sqlite_backend = isinstance(world.cases, SQLiteCaseStore)
    await world.execute((_FAIL_SQLITE if sqlite_backend else _FAIL_PG).format(op=op, table=table))
    status, _ = await world.post("bob:compliance_officer", path, {})
    assert status == 503
    stored = await world.cases.get_case("default", case["case_id"])
    assert stored is not None
    assert (stored.status.value, stored.approved_by) == ("pending", None)
    assert await world.cases.holds("default", ["c1"]) == {}
    assert await world.storage.conversation_purposes("default", "c1") == frozenset(RISK)
    m1 = await world.storage.get_message("default", "m1")
    assert m1 is not None and m1.purposes == frozenset(RISK)

    await world.execute(
        "DROP TRIGGER fail_step;" if sqlite_backend else f"DROP TRIGGER fail_step ON {table};"
    )
    status, body = await world.post("bob:compliance_officer", path, {})
    assert status == 200 and body["status"] == "approved" and body["held_conversations"] == 1
    assert await world.cases.holds("default", ["c1"]) == {"c1": (case["case_id"],)}
    assert "regulatory_request" in await world.storage.conversation_purposes("default", "c1")
    m1 = await world.storage.get_message("default", "m1")
    assert m1 is not None and "regulatory_request" in m1.purposes


async def test_losing_approval_race_writes_nothing(world: World) -> None:
    """An approval that finds the case no longer pending adds no holds and no purposes."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, filed = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    case = await world.cases.get_case("default", filed["case_id"])
    assert case is not None
    assert await world.cases.set_status(case, CaseStatus.CLOSED, expected=CaseStatus.PENDING)
    approved = await world.cases.approve(
        case, approved_by="bob", conversation_ids=["c1"], purposes=["regulatory_request"]
    )
    assert approved is False
    assert await world.cases.holds("default", ["c1"]) == {}
    assert await world.storage.conversation_purposes("default", "c1") == frozenset(RISK)


async def test_close_is_all_or_nothing(world: World) -> None:
    """A close whose hold release fails keeps the case approved with its holds; a retry closes."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    assert (await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {}))[0] == 200
    sqlite_backend = isinstance(world.cases, SQLiteCaseStore)
    await world.execute(
        (_FAIL_SQLITE if sqlite_backend else _FAIL_PG).format(op="DELETE", table="holds")
    )
    path = f"/v1/cases/{case['case_id']}/close"
    assert (await world.post("alice:compliance_officer", path, {}))[0] == 503
    stored = await world.cases.get_case("default", case["case_id"])
    assert stored is not None and stored.status is CaseStatus.APPROVED
    assert await world.cases.holds("default", ["c1"]) == {"c1": (case["case_id"],)}

    await world.execute(
        "DROP TRIGGER fail_step;" if sqlite_backend else "DROP TRIGGER fail_step ON holds;"
    )
    status, body = await world.post("alice:compliance_officer", path, {})
    assert status == 200 and body["released_conversations"] == 1
    assert await world.cases.holds("default", ["c1"]) == {}


async def test_expiry_releases_holds_with_the_status_change(world: World) -> None:
    """Expiry closes a case and releases its holds in one step, or (on failure) does neither."""
    await world.put("m1", "c1", "s1", f"acct {IBAN}", IBAN, "IBAN", RISK)
    _, case = await world.post("alice:compliance_officer", "/v1/cases", case_body())
    await world.post("bob:admin", f"/v1/cases/{case['case_id']}/approve", {})
    sqlite_backend = isinstance(world.cases, SQLiteCaseStore)
    await world.execute(
        (_FAIL_SQLITE if sqlite_backend else _FAIL_PG).format(op="DELETE", table="holds")
    )
    later = T0 + timedelta(days=20)
    with pytest.raises(StorageUnavailable):
        await expire_cases(world.cases, world.audit, later)
    stored = await world.cases.get_case("default", case["case_id"])
    assert stored is not None and stored.status is CaseStatus.APPROVED
    await world.execute(
        "DROP TRIGGER fail_step;" if sqlite_backend else "DROP TRIGGER fail_step ON holds;"
    )
    assert await expire_cases(world.cases, world.audit, later) == 1
    stored = await world.cases.get_case("default", case["case_id"])
    assert stored is not None and stored.status is CaseStatus.CLOSED
    assert await world.cases.holds("default", ["c1"]) == {}

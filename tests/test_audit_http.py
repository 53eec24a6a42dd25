"""Audit HTTP endpoints: audit queries, disclosure reports, case exports, fail-closed."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.audit.bundle import verify_bundle
from proxy.audit.events import Actor, AuditEvent, Decision, subject_refs
from proxy.audit.http import (
    AUDIT_SERVICE,
    AUDIT_TRAIL,
    AuditService,
    ExportCase,
    ExportMessage,
    register,
)
from proxy.audit.log import AuditQuery, AuditTrail, CheckpointPolicy
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import BrokenStore, FakeSigner, FrozenClock

SIGNER = FakeSigner()
SUBJECT_KEY = b"subject-key-for-tests"


def hash_subject(subject_id: str) -> str:
    return hmac.new(SUBJECT_KEY, subject_id.encode(), "sha256").hexdigest()


async def authenticate(request: web.Request) -> Actor:
    role = request.headers.get("X-Test-Role")
    if role is None:
        raise web.HTTPUnauthorized()
    return Actor(token_id=request.headers.get("X-Test-Token", f"tok-{role}"), role=role)


class Cases:
    def __init__(self) -> None:
        self.cases: dict[str, ExportCase] = {
            "reg-1": ExportCase("reg-1", "regulatory_request", "approved", "tok-co1", "tok-co2"),
            "reg-self": ExportCase(
                "reg-self", "regulatory_request", "approved", "tok-co1", "tok-co1"
            ),
            "reg-pending": ExportCase(
                "reg-pending", "regulatory_request", "pending", "tok-co1", None
            ),
        }

    async def get_case(self, case_id: str) -> ExportCase | None:
        return self.cases.get(case_id)

    async def export_messages(self, case_id: str, actor: Actor) -> Sequence[ExportMessage]:
        return [
            ExportMessage(
                {"message_id": "m1", "conversation_id": "c1", "text": "[IBAN_1] sent"},
                ("buyer-1", "seller-1"),
            ),
            ExportMessage(
                {"message_id": "m2", "conversation_id": "c1", "text": "ok"}, ("seller-1", "buyer-1")
            ),
        ]


def read_event(
    n: int, token: str, subjects: Sequence[str], allow: bool = True, **kw: Any
) -> AuditEvent:
    return AuditEvent(
        kind="read",
        actor=Actor(token, "dispute_agent"),
        decision=Decision(allow, "dispute_agent.dispute_handling"),
        purpose="dispute_handling",
        case_id=kw.pop("case_id", None),
        justification="ticket 7",
        message_ids=(f"m{n}",),
        count=1 if allow else 0,
        subjects=subject_refs(hash_subject, subjects),
        event_id=f"read{n:03d}",
        **kw,
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], AuditTrail]]:
    store = SQLiteAuditStore(tmp_path / "audit.db")
    await store.open()
    trail = AuditTrail(
        store, SIGNER, policy=CheckpointPolicy(every=50, interval=None), clock=FrozenClock()
    )
    app = web.Application()
    register(app, AuditService(SIGNER, authenticate, hash_subject, Cases(), FrozenClock()))
    app[AUDIT_TRAIL] = trail
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, trail
    await client.close()
    await store.close()


def h(role: str, token: str | None = None) -> dict[str, str]:
    return {"X-Test-Role": role, "X-Test-Token": token or f"tok-{role}"}


async def test_audit_query_requires_the_auditor_role(env: Any) -> None:
    """A dispute agent may not read the audit trail, and the refusal is recorded."""
    client, trail = env
    resp = await client.get("/v1/audit", headers=h("dispute_agent"))
    assert resp.status == 403
    rows = await trail.store.query(AuditQuery(kind="audit.query"))
    assert [r.actor_role for r in rows] == ["dispute_agent"]
    assert '"allow":false' in rows[0].body.decode()


def _hook_policy(client: Any, *, allow: str) -> list[tuple[str, str]]:
    """Hook a test policy into the audit service that allows ``allow`` alone (rule
    ``roles.test``); returns the list of (role, action) it is asked, in order."""
    asked: list[tuple[str, str]] = []

    def authorize(role: str, action: str) -> Decision:
        asked.append((role, action))
        return Decision(role == allow, "roles.test", "test policy")

    client.server.app[AUDIT_SERVICE].authorize = authorize
    return asked


async def test_policy_engine_decides_when_given(env: Any) -> None:
    """With an authorize hook, its decision (and rule) replaces the built-in role sets."""
    client, trail = env
    asked = _hook_policy(client, allow="risk_analyst")
    assert (await client.get("/v1/audit", headers=h("auditor"))).status == 403
    assert (await client.get("/v1/audit", headers=h("risk_analyst"))).status == 200
    assert asked == [("auditor", "audit.read"), ("risk_analyst", "audit.read")]
    rows = await trail.store.query(AuditQuery(kind="audit.query"))
    assert all('"rule":"roles.test"' in r.body.decode() for r in rows)


async def test_audit_query_filters_by_actor_and_is_itself_audited(env: Any) -> None:
    """Filter by actor returns that actor's events; the query is recorded afterwards."""
    client, trail = env
    for n in range(5):
        await trail.record(read_event(n, f"tok{n % 2}", ["buyer-1"]))
    resp = await client.get("/v1/audit", params={"actor": "tok1"}, headers=h("auditor"))
    body = await resp.json()
    assert resp.status == 200
    assert [e["event_id"] for e in body["events"]] == ["read001", "read003"]
    resp = await client.get("/v1/audit", params={"kind": "audit.query"}, headers=h("auditor"))
    assert [e["actor"]["role"] for e in (await resp.json())["events"]] == ["auditor"]


async def test_audit_query_pages_with_a_cursor(env: Any) -> None:
    """limit and next_after walk the log without gaps or repeats."""
    client, trail = env
    for n in range(5):
        await trail.record(read_event(n, "tok", ["buyer-1"]))
    seen: list[str] = []
    after = -1
    while after is not None:
        resp = await client.get(
            "/v1/audit",
            params={"kind": "read", "limit": "2", "after": str(after)},
            headers=h("auditor"),
        )
        body = await resp.json()
        seen += [e["event_id"] for e in body["events"]]
        after = body["next_after"]
    assert seen == [f"read{n:03d}" for n in range(5)]


async def test_audit_query_rejects_a_bad_time(env: Any) -> None:
    """since must be RFC 3339."""
    client, _ = env
    resp = await client.get("/v1/audit", params={"since": "yesterday"}, headers=h("auditor"))
    assert resp.status == 400


async def test_disclosures_list_exactly_the_reads_that_touched_the_subject(env: Any) -> None:
    """The report holds every allowed read of the subject's messages, and nothing else."""
    client, trail = env
    touched: list[str] = []
    plan = [  # (subjects of the read, allowed?)
        (["buyer-1", "seller-1"], True),
        (["seller-2"], True),
        (["buyer-1"], False),  # denied: nothing was disclosed
        (["seller-1", "buyer-1"], True),
        ([], True),
        (["buyer-10"], True),  # a different subject with a common prefix
    ]
    for n, (subjects, allow) in enumerate(plan):
        await trail.record(read_event(n, "tok", subjects, allow))
        if allow and "buyer-1" in subjects:
            touched.append(f"read{n:03d}")
    resp = await client.get("/v1/subjects/buyer-1/disclosures", headers=h("compliance_officer"))
    body = await resp.json()
    assert [d["event_id"] for d in body["disclosures"]] == touched
    assert body["disclosures"][0]["purpose"] == "dispute_handling"
    assert "buyer-1" not in await (await client.get("/v1/audit", headers=h("auditor"))).text()


async def test_disclosures_fail_closed_when_the_trail_is_down(env: Any, tmp_path: Path) -> None:
    """If the report's own audit record cannot be written, the answer is 503 with no data."""
    client, trail = env
    await trail.record(read_event(0, "tok", ["buyer-1"]))
    trail.store = BrokenStore(trail.store)  # type: ignore[assignment]
    resp = await client.get("/v1/subjects/buyer-1/disclosures", headers=h("auditor"))
    body = await resp.json()
    assert resp.status == 503 and "disclosures" not in body
    assert body["error"]["code"] == "unavailable" and resp.headers["Retry-After"] == "1"


async def test_export_builds_a_bundle_that_verifies(env: Any) -> None:
    """An approved four-eyes case exports a bundle holding its events, export included."""
    client, trail = env
    await trail.record(read_event(0, "tok", ["buyer-1"], case_id="reg-1"))
    await trail.record(read_event(1, "tok", ["buyer-1"], case_id="other"))
    resp = await client.post("/v1/cases/reg-1/exports", headers=h("compliance_officer", "tok-co3"))
    assert resp.status == 201
    bundle = await resp.json()
    assert "2 messages and 2 audit events" in verify_bundle(bundle, SIGNER)
    kinds = [e["entry"] for e in bundle["events"]]
    assert '"kind":"case.export"' in kinds[-1]


@pytest.mark.parametrize(
    ("case_id", "role", "status"),
    [
        ("reg-self", "compliance_officer", 403),  # approved by its own requester
        ("reg-pending", "compliance_officer", 403),  # not approved yet
        ("reg-1", "dispute_agent", 403),  # wrong role
        ("nope", "compliance_officer", 404),  # unknown case
    ],
)
async def test_export_refusals_are_answered_and_recorded(
    env: Any, case_id: str, role: str, status: int
) -> None:
    """A refused export returns no bundle and leaves a denied case.export event."""
    client, trail = env
    resp = await client.post(f"/v1/cases/{case_id}/exports", headers=h(role))
    assert resp.status == status
    rows = await trail.store.query(AuditQuery(kind="case.export"))
    assert len(rows) == 1 and '"allow":false' in rows[0].body.decode()


async def test_export_appears_in_the_subjects_disclosures(env: Any) -> None:
    """An export discloses its subjects' messages, so it is listed for each of them."""
    client, _ = env
    await client.post("/v1/cases/reg-1/exports", headers=h("compliance_officer", "tok-co3"))
    resp = await client.get("/v1/subjects/seller-1/disclosures", headers=h("auditor"))
    kinds = [(d["kind"], d["case_id"]) for d in (await resp.json())["disclosures"]]
    assert kinds == [("case.export", "reg-1")]


async def test_audit_query_with_an_unreadable_store_is_503(env: Any) -> None:
    """A store that cannot be read gives 503, not a 500 or a partial answer."""
    client, trail = env

    class Unreadable(BrokenStore):
        async def query(self, q: Any) -> Any:
            raise OSError("disk gone")

    trail.store = Unreadable(trail.store)
    resp = await client.get("/v1/audit", headers=h("auditor"))
    assert resp.status == 503


async def test_proof_endpoint_gives_a_proof_that_verifies(env: Any) -> None:
    """GET /v1/audit/proofs/{id} returns an inclusion proof checkable offline."""
    from proxy.audit.proofs import check_inclusion

    client, trail = env
    for n in range(5):
        await trail.record(read_event(n, "tok", ["buyer-1"]))
    await trail.checkpoint(force=True)
    resp = await client.get("/v1/audit/proofs/read003", headers=h("auditor"))
    entry, cp = check_inclusion(await resp.json(), SIGNER)
    assert entry.index == 3 and cp.size == 5


async def test_proof_of_an_uncovered_event_is_404(env: Any) -> None:
    """An event after the latest checkpoint has no proof yet."""
    client, trail = env
    await trail.record(read_event(0, "tok", ["buyer-1"]))
    await trail.checkpoint(force=True)
    await trail.record(read_event(1, "tok", ["buyer-1"]))
    resp = await client.get("/v1/audit/proofs/read001", headers=h("auditor"))
    assert resp.status == 404


async def test_consistency_endpoint_proves_the_log_grew(env: Any) -> None:
    """Pin the first checkpoint, append, then check the consistency proof to the latest."""
    from proxy.audit.proofs import check_consistency

    client, trail = env
    await trail.record(read_event(0, "tok", ["buyer-1"]))
    await trail.checkpoint(force=True)
    pinned = await (await client.get("/v1/audit/checkpoint", headers=h("auditor"))).json()
    for n in range(1, 6):
        await trail.record(read_event(n, "tok", ["buyer-1"]))
    await trail.checkpoint(force=True)
    resp = await client.get(
        "/v1/audit/consistency", params={"from": str(pinned["number"])}, headers=h("auditor")
    )
    doc = await resp.json()
    old, new = check_consistency(doc, SIGNER)
    assert doc["old"] == pinned["checkpoint"] and new.size > old.size


async def test_proof_endpoints_need_the_auditor_role(env: Any) -> None:
    """A dispute agent cannot fetch checkpoints or proofs."""
    client, _ = env
    for path in ("/v1/audit/checkpoint", "/v1/audit/proofs/x", "/v1/audit/consistency"):
        assert (await client.get(path, headers=h("dispute_agent"))).status == 403


@pytest.mark.parametrize(
    "case_id",
    [
        "reg-1",  # a case that exists
        "nope",  # a case that does not: still 403, nothing learned
    ],
)
async def test_export_by_a_role_without_the_action_is_403_either_way(
    env: Any, case_id: str
) -> None:
    """A role that may not export gets 403 for an existing and an unknown case alike,
    and the refusal is recorded."""
    client, trail = env
    resp = await client.post(f"/v1/cases/{case_id}/exports", headers=h("risk_analyst"))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    rows = await trail.store.query(AuditQuery(kind="case.export"))
    assert len(rows) == 1 and '"allow":false' in rows[0].body.decode()


async def test_export_permission_comes_from_the_policy(env: Any) -> None:
    """With the policy's decide_action hooked in, it alone decides who may export: the
    action asked is cases.export, its rule is recorded, a role it allows may export."""
    client, trail = env
    asked = _hook_policy(client, allow="admin")
    refused = await client.post("/v1/cases/nope/exports", headers=h("compliance_officer"))
    allowed = await client.post("/v1/cases/reg-1/exports", headers=h("admin"))
    assert (refused.status, allowed.status) == (403, 201)
    assert asked == [("compliance_officer", "cases.export"), ("admin", "cases.export")]
    rows = await trail.store.query(AuditQuery(kind="case.export"))
    assert (
        '"allow":false' in rows[0].body.decode() and '"rule":"roles.test"' in rows[0].body.decode()
    )

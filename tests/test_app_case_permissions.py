"""Who may act on a case, through the real app and the default policy: a role without the
permission is refused (403, audited) before the case is looked up, so it cannot learn which
cases exist; a role with it gets 404 for an unknown case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from proxy.app import Overrides
from proxy.audit.http import AUDIT_TRAIL
from proxy.audit.log import AuditQuery
from tests.app_testing import Env, make_env, regulatory_case, serve


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[Env, TestClient[Any, Any], str]]:
    """A running app with one pending case filed by the compliance officer."""
    env = make_env(tmp_path)
    async with serve(env, Overrides()) as client:
        r = await client.post(
            "/v1/cases", json=regulatory_case(), headers=env.auth("compliance_officer")
        )
        assert r.status == 201
        yield env, client, (await r.json())["case_id"]


async def _refusals(client: TestClient[Any, Any], kind: str) -> list[str]:
    rows = await client.app[AUDIT_TRAIL].store.query(AuditQuery(kind=kind))
    return [r.actor_role for r in rows if '"allow":false' in r.body.decode()]


@pytest.mark.parametrize("existing", [True, False], ids=["existing-case", "unknown-case"])
async def test_export_by_a_role_the_policy_does_not_allow_is_403(app: Any, existing: bool) -> None:
    """A risk analyst gets 403 for an existing and an unknown case alike, recorded."""
    env, client, case_id = app
    target = case_id if existing else "case_doesnotexist"
    r = await client.post(f"/v1/cases/{target}/exports", headers=env.auth("risk_analyst"))
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    assert await _refusals(client, "case.export") == ["risk_analyst"]


async def test_export_of_an_unknown_case_by_an_exporter_is_404(app: Any) -> None:
    """A compliance officer (allowed by the policy) learns that the case does not exist."""
    env, client, _ = app
    r = await client.post(
        "/v1/cases/case_doesnotexist/exports", headers=env.auth("compliance_officer")
    )
    assert r.status == 404


CASE_ACTIONS = [
    ("approve", "case.refuse"),  # a role without cases.approve
    ("close", "case.close"),  # a role without cases.close
]


@pytest.mark.parametrize(("action", "kind"), CASE_ACTIONS, ids=[a for a, _ in CASE_ACTIONS])
@pytest.mark.parametrize("existing", [True, False], ids=["existing-case", "unknown-case"])
async def test_case_action_by_a_role_that_cannot_manage_cases_is_403(
    app: Any, action: str, kind: str, existing: bool
) -> None:
    """Approve and close answer a role without the permission 403 for an existing and an
    unknown case alike (no existence leak), record the refusal and change nothing."""
    env, client, case_id = app
    target = case_id if existing else "case_doesnotexist"
    for role in ("risk_analyst", "dispute_agent", "auditor"):
        r = await client.post(f"/v1/cases/{target}/{action}", headers=env.auth(role))
        assert r.status == 403, role
    assert await _refusals(client, kind) == ["risk_analyst", "dispute_agent", "auditor"]
    r = await client.get(f"/v1/cases/{case_id}", headers=env.auth("compliance_officer"))
    assert (await r.json())["status"] == "pending"


@pytest.mark.parametrize("action", ["approve", "close"])
async def test_unknown_case_is_404_for_a_role_that_manages_cases(app: Any, action: str) -> None:
    """An admin (who may approve and close) learns that a case does not exist."""
    env, client, _ = app
    r = await client.post(f"/v1/cases/case_doesnotexist/{action}", headers=env.auth("admin"))
    assert r.status == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("compliance_officer", 200),  # answers the data subject: the policy grants it
        ("auditor", 200),
        ("admin", 200),
        ("risk_analyst", 403),  # reads messages for risk, not who else read them
        ("dispute_agent", 403),
    ],
)
async def test_disclosure_report_follows_the_policy(app: Any, role: str, status: int) -> None:
    """Through the real app and the default policy: the disclosure report is the
    subjects.disclosures action, which compliance officers hold (not audit.read)."""
    env, client, _ = app
    r = await client.get("/v1/subjects/buyer-1/disclosures", headers=env.auth(role))
    assert r.status == status
    if status == 403:
        assert await _refusals(client, "subject.disclosures") == [role]

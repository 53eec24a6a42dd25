"""What `chatwarden serve` and the key commands wire together: a bad policy stops serve, the
start of serve and every key change are audit events, and ingest takes its retention
deadline from the policy."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies.loader import default_policy_files, load_policy
from proxy.app import Overrides, create_app
from proxy.audit.log import AuditQuery
from proxy.audit.store import SQLiteAuditStore
from proxy.cli import main
from proxy.keys import load_keyring
from proxy.storage import open_storage
from tests.app_testing import make_env, message, running


def _kinds(db: Path) -> list[str]:
    async def go() -> list[str]:
        store = SQLiteAuditStore(db)
        await store.open()
        try:
            return [r.kind for r in await store.query(AuditQuery(limit=500))]
        finally:
            await store.close()

    return asyncio.run(go())


def _init(tmp_path: Path) -> Path:
    d = tmp_path / "svc"
    assert main(["init", str(d)]) == 0
    return d / "chatwarden.toml"


def test_serve_with_a_malformed_policy_file_exits_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real `chatwarden serve` stops before listening, non-zero, naming FILE:LINE."""
    cfg = _init(tmp_path)
    capsys.readouterr()  # init prints the tokens
    bad = cfg.parent / "bad.toml"
    bad.write_text('version = 1\n\n[purposes.x]\nretention_days = "long"\n', encoding="utf-8")
    with cfg.open("a", encoding="utf-8") as f:
        f.write('\n[policies]\nfiles = ["bad.toml"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", str(cfg), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode != 0
    assert f"{bad.resolve()}:4:" in done.stderr and "retention_days" in done.stderr


async def test_serve_start_records_the_config_digest_and_the_policy_load(tmp_path: Path) -> None:
    """Starting the service appends config.change (with the config's digest) and policy.load."""
    env = make_env(tmp_path)
    async with running(create_app(env.config, keyring=env.ring, overrides=Overrides())) as c:
        assert (await c.get("/healthz")).status == 200
    kinds = await asyncio.to_thread(_kinds, tmp_path / "chatwarden.db")
    assert "config.change" in kinds and "policy.load" in kinds


async def test_ingest_retention_deadline_comes_from_the_policy(tmp_path: Path) -> None:
    """Risk and untagged messages get the policy's retention terms, not [retention]."""
    env = make_env(tmp_path, retention={"default_days": 1})  # the config value is not used
    policy = load_policy(default_policy_files())
    app = create_app(env.config, keyring=env.ring, overrides=Overrides(audit=False))
    risky = message(1, conversation_id="c-r", text="our bank account has changed, pay the new one")
    plain = message(2, conversation_id="c-p", text="what is the price for 100 units?")
    async with running(app) as c:
        for m in (risky, plain):
            r = await c.post("/v1/messages", json=m, headers=env.auth("ingest"))
            assert r.status == 201
            m["purposes"] = (await r.json())["purposes"]
    storage = await open_storage(env.config.storage.url)
    try:
        for m in (risky, plain):
            stored = await storage.get_message(env.config.tenant, m["message_id"])
            assert stored is not None and stored.retention_until is not None
            sent = datetime.fromisoformat(m["sent_at"].replace("Z", "+00:00")).astimezone(UTC)
            days = policy.retention_days(m["purposes"])
            assert stored.retention_until == sent + timedelta(days=days)
    finally:
        await storage.close()
    assert risky["purposes"] == ["risk_control"] and plain["purposes"] == []


def test_key_rotation_and_retirement_are_audit_events(tmp_path: Path) -> None:
    """`keys rotate`, `keys rewrap` and `keys retire` each append their event to the trail."""
    cfg = _init(tmp_path)
    assert main(["keys", "rotate", "--config", str(cfg), "--region", "default"]) == 0
    assert main(["keys", "rewrap", "--config", str(cfg)]) == 0
    assert main(["keys", "retire", "--config", str(cfg), "--key-id", "default:1"]) == 0
    db = next(cfg.parent.glob("*.db"))
    assert _kinds(db) == ["key.rotate", "key.rewrap", "key.retire"]


def test_key_rotation_is_refused_when_the_trail_cannot_record_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With an unwritable audit store the rotation fails and the keyring keeps its versions."""
    cfg = _init(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the audit directory should be", encoding="utf-8")
    with cfg.open("a", encoding="utf-8") as f:
        f.write(f'\n[audit]\nurl = "sqlite:///{blocked}/audit.db"\n')
    keys = json.loads(cfg.parent.joinpath("keys.json").read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["keys", "rotate", "--config", str(cfg), "--region", "default"]) == 2
    assert "audit trail cannot record" in capsys.readouterr().err
    after = json.loads(cfg.parent.joinpath("keys.json").read_text(encoding="utf-8"))
    assert after == keys
    assert [k.key_id for k in load_keyring(cfg.parent / "keys.json").kek_infos()] == ["default:1"]


async def test_retention_and_erasure_through_the_app_respect_holds(tmp_path: Path) -> None:
    """With an injected clock: expired unheld messages are gone, held ones still open, and an
    erasure names the hold that kept a conversation."""
    from proxy.policy_http import POLICY_SERVICE
    from proxy.retention import run_retention

    env = make_env(tmp_path)
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    now = [t0]
    app = create_app(env.config, keyring=env.ring, overrides=Overrides(clock=lambda: now[0]))
    iban = "DE89 3704 0044 0532 0130 00"
    text = f"our bank account has changed, pay to {iban}"
    async with running(app) as c:
        for n, conv in ((1, "c-held"), (2, "c-gone"), (3, "c-erased")):
            m = message(n, conversation_id=conv, sender_id="seller-9", recipient_id="buyer-9")
            m["text"], m["sent_at"] = text, "2026-03-01T10:00:00Z"
            assert (await c.post("/v1/messages", json=m, headers=env.auth("ingest"))).status == 201
        case = {
            "purpose": "regulatory_request",
            "conversation_ids": ["c-held"],
            "since": "2026-01-01T00:00:00Z",
            "until": "2027-01-01T00:00:00Z",
            "authority": "court",
            "legal_basis": "order 12",
            "expires_at": (t0 + timedelta(days=2000)).isoformat(),
        }
        r = await c.post("/v1/cases", json=case, headers=env.auth("compliance_officer"))
        case_id = (await r.json())["case_id"]
        assert (
            await c.post(f"/v1/cases/{case_id}/approve", headers=env.auth("admin"))
        ).status == 200

        now[0] = t0 + timedelta(days=1900)  # past every purpose's term, inside the case
        svc = app[POLICY_SERVICE]
        assert svc.cases is not None
        report = await run_retention(
            svc.cases, svc.sealer, svc.audit, now[0], retention_days=svc.policy.retention_days
        )
        assert (report.messages_deleted, report.messages_kept_on_hold) == (2, 1)

        hdrs = {**env.auth("compliance_officer"), "X-Justification": "court order 12"}
        r = await c.get(
            "/v1/messages",
            params={"purpose": "regulatory_request", "case_id": case_id},
            headers=hdrs,
        )
        texts = [m["text"] for m in (await r.json())["messages"]]
        assert texts == [text]  # the held message still opens, in plaintext, under the case
        risk = {**env.auth("risk_analyst"), "X-Justification": "sweep"}
        r = await c.get("/v1/messages", params={"purpose": "risk_control"}, headers=risk)
        assert [m["conversation_id"] for m in (await r.json())["messages"]] == ["c-held"]

        r = await c.post("/v1/erasures", json={"subject_id": "buyer-9"}, headers=env.auth("admin"))
        body = await r.json()
    assert body["kept"] == [
        {"conversation_id": "c-held", "held_by_cases": [case_id], "reason": "legal hold"}
    ]
    storage = await open_storage(env.config.storage.url)
    try:
        for conv in ("c-gone", "c-erased"):
            assert await storage.get_data_key(env.config.tenant, conv) is None
    finally:
        await storage.close()

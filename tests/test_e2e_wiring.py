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

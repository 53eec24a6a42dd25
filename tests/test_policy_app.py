"""The policy endpoints in the real app: ingest, tag, read for a purpose; a bad policy stops it.

The app factory installs the policy (``policy_runtime.install``) itself."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from aiohttp import web

from policies.loader import default_policy_files
from proxy.app import Overrides, create_app
from proxy.config import parse_config
from proxy.errors import UsageError
from tests.app_testing import Env, make_env, message, running

IBAN = "DE89 3704 0044 0532 0130 00"


def policy_app(env: Env, *, audit: bool = True) -> web.Application:
    return create_app(env.config, keyring=env.ring, overrides=Overrides(audit=audit))


async def test_ingested_risk_message_reads_with_keyed_hash(tmp_path: Path) -> None:
    """A message tagged risk_control at ingest reads back to a risk analyst with the IBAN hashed."""
    env = make_env(tmp_path)
    app = policy_app(env)
    async with running(app) as client:
        risky = message(
            1, conversation_id="c-9", text=f"Our bank account has changed, pay to {IBAN}"
        )
        plain = message(2, conversation_id="c-8", text="What is the price for 100 units?")
        for m in (risky, plain):
            r = await client.post("/v1/messages", json=m, headers=env.auth("ingest"))
            assert r.status == 201
        r = await client.get(
            "/v1/messages",
            params={"purpose": "risk_control"},
            headers={**env.auth("risk_analyst"), "X-Justification": "fraud review 7"},
        )
        assert r.status == 200
        body = await r.json()
        assert [m["message_id"] for m in body["messages"]] == ["m-1"]
        text = body["messages"][0]["text"]
        assert "<IBAN:" in text and "3704" not in text


async def test_read_without_token_is_unauthorized(tmp_path: Path) -> None:
    """A read without a bearer token is refused with 401."""
    env = make_env(tmp_path)
    app = policy_app(env)
    async with running(app) as client:
        r = await client.get(
            "/v1/messages", params={"purpose": "risk_control"}, headers={"X-Justification": "x"}
        )
        assert r.status == 401


async def test_reads_fail_closed_without_audit_trail(tmp_path: Path) -> None:
    """With the audit trail switched off, an otherwise allowed read answers 503."""
    env = make_env(tmp_path)
    app = policy_app(env, audit=False)
    async with running(app) as client:
        r = await client.get(
            "/v1/messages",
            params={"purpose": "risk_control"},
            headers={**env.auth("risk_analyst"), "X-Justification": "x"},
        )
        assert r.status == 503


def test_malformed_policy_file_stops_the_app_naming_file_and_line(tmp_path: Path) -> None:
    """A policy file with a mistake stops app creation with FILE:LINE, not a partial policy."""
    env = make_env(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n[purposes.x]\nretention_days = "long"\n', encoding="utf-8")
    cfg_file = tmp_path / "chatwarden.toml"
    cfg_file.write_text('[policies]\nfiles = ["bad.toml"]\n', encoding="utf-8")
    config = parse_config({"storage": {"url": "sqlite:cw.db"}}, base=tmp_path, path=cfg_file)
    with pytest.raises(UsageError) as info:
        create_app(config, keyring=env.ring, overrides=Overrides(audit=False))
    assert f"{bad.resolve()}:3:" in str(info.value)


async def test_rule_added_in_a_policy_file_tags_at_ingest(tmp_path: Path) -> None:
    """A tagging rule in an extra policy file named in [policies] tags ingested messages."""
    env = make_env(tmp_path)
    extra = tmp_path / "team.toml"
    extra.write_text(
        'version = 1\n[[tagging.rules]]\nid = "risk.team.mule"\npurpose = "risk_control"\n'
        'any = ["mule account"]\n',
        encoding="utf-8",
    )
    cfg_file = tmp_path / "chatwarden.toml"
    files = [str(p) for p in default_policy_files()] + [str(extra)]
    cfg_file.write_text(f"[policies]\nfiles = {json.dumps(files)}\n", encoding="utf-8")
    env = dataclasses.replace(env, config=dataclasses.replace(env.config, path=cfg_file))
    app = policy_app(env)
    async with running(app) as client:
        m = message(1, conversation_id="c-5", text="use the mule account for this one")
        assert (await client.post("/v1/messages", json=m, headers=env.auth("ingest"))).status == 201
        r = await client.get(
            "/v1/messages",
            params={"purpose": "risk_control"},
            headers={**env.auth("risk_analyst"), "X-Justification": "team rule check"},
        )
        assert [m["message_id"] for m in (await r.json())["messages"]] == ["m-1"]

"""Helpers for the HTTP service tests: a config in a temporary directory, a running test
client, and fakes that make storage or detection fail on demand."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy import crypto
from proxy.app import Overrides, create_app
from proxy.auth import mint_token
from proxy.config import ROLES, Config, parse_config
from proxy.keys import Keyring, generate_keyring
from proxy.storage import Storage, StorageUnavailable, open_storage
from redact import DetectionFailed, Redactor

CARD = "4111 1111 1111 1111"
# The local PostgreSQL the backend tests use (a real server, never a mock).
PG_BASE = os.environ.get("CHATWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def regulatory_case(
    authority: str = "Financial regulator", legal_basis: str = "statutory request"
) -> dict[str, Any]:
    """A valid ``POST /v1/cases`` body: a regulatory request about buyer-1 over the last
    30 days, expiring in a week."""
    now = datetime.now(UTC)
    return {
        "purpose": "regulatory_request",
        "subjects": ["buyer-1"],
        "since": (now - timedelta(days=30)).isoformat(),
        "until": now.isoformat(),
        "authority": authority,
        "legal_basis": legal_basis,
        "expires_at": (now + timedelta(days=7)).isoformat(),
    }


@contextlib.asynccontextmanager
async def postgres_env(tmp_path: Path, prefix: str) -> AsyncIterator[Env]:
    """An app environment on a PostgreSQL schema of its own, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]  # no stubs published

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield make_env(tmp_path, storage={"url": f"{PG_BASE}?schema={schema}"})
    finally:
        conn = await asyncpg.connect(PG_BASE)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


def message(n: int = 1, **fields: Any) -> dict[str, Any]:
    """A valid ingest message; ``n`` varies its id."""
    doc: dict[str, Any] = {
        "message_id": f"m-{n}",
        "conversation_id": "c-1",
        "sender_id": "buyer-1",
        "sender_role": "buyer",
        "recipient_id": "seller-1",
        "sent_at": "2026-03-01T10:00:00Z",
        "text": f"card {CARD} please",
    }
    doc.update(fields)
    return doc


@dataclass
class Env:
    config: Config
    ring: Keyring
    tokens: dict[str, str]
    dir: Path

    def auth(self, role: str = "ingest") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_env(tmp_path: Path, **sections: dict[str, Any]) -> Env:
    """Keys, one token per role and a config (pattern-only detection, in-process) in
    ``tmp_path``; ``sections`` override config tables."""
    ring = generate_keyring(tmp_path / "keys.json", ("default", "eu"))
    key = ring.hmac_key("token")
    tokens: dict[str, str] = {}
    entries = []
    for role in ROLES:
        token, entry = mint_token(role, lambda b: crypto.keyed_digest(key, b))
        tokens[role] = token
        entries.append({"id": entry.id, "role": entry.role, "hash": entry.hash})
    doc: dict[str, Any] = {
        "storage": {"url": "sqlite:chatwarden.db"},
        "keys": {"file": "keys.json", "regions": ["default", "eu"]},
        "redact": {"ner": False, "workers": 0},
        "auth": {"tokens": entries},
    }
    for name, table in sections.items():
        doc[name] = {**doc.get(name, {}), **table}
    return Env(parse_config(doc, base=tmp_path), ring, tokens, tmp_path)


@contextlib.asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def serve(env: Env, overrides: Overrides | None = None) -> AsyncIterator[TestClient]:
    app = create_app(env.config, keyring=env.ring, overrides=overrides or Overrides(audit=False))
    async with running(app) as client:
        yield client


class FlakyStorage:
    """A real storage whose every call raises StorageUnavailable while ``down`` is set."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name in ("close", "iter_data_keys"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StorageUnavailable("storage is down (test fake)", "FakeDown")
            return await attr(*args, **kwargs)

        return call


def flaky_opener(holder: list[FlakyStorage]) -> Callable[[str], Any]:
    """An ``Overrides.open_storage`` that wraps the real storage and hands it out."""

    async def opener(url: str) -> Storage:
        flaky = FlakyStorage(await open_storage(url))
        holder.append(flaky)
        return flaky  # type: ignore[return-value]  # duck-typed Storage

    return opener


class BrokenRedactor(Redactor):
    """A redactor whose detection fails while ``fail`` is set."""

    fail: bool = False

    async def analyze_async(self, texts: Any) -> Any:
        if self.fail and texts != ["warm up"]:
            raise DetectionFailed("detector crashed (test fake)")
        return await Redactor.analyze_async(self, texts)

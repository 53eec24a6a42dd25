"""``chatwarden retention run``: destroys what is past retention, records it, keeps held data."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.commands.init import CONFIG_NAME, init_dir
from proxy.config import load_config
from proxy.keys import load_keyring
from proxy.sealing import SealContext, Sealer
from proxy.storage import open_storage
from proxy.testing import make_message

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _seed(config_path: Path) -> bytes:
    """Store one sealed, untagged message (stored term 30 days, policy term 180)."""
    config = load_config(config_path)
    storage = await open_storage(config.storage.url)
    try:
        sealer = Sealer(load_keyring(config.keys.file), storage)
        sealed = await sealer.seal(SealContext("default", "c1", "m1", "default"), b"secret text")
        rec = make_message(
            1,
            tenant="default",
            message_id="m1",
            conversation_id="c1",
            sealed=sealed,
            retention_until=T0 + timedelta(days=30),
        )
        await storage.put_messages([rec])
        return sealed
    finally:
        await storage.close()


async def _opens(config_path: Path, sealed: bytes) -> bool:
    config = load_config(config_path)
    storage = await open_storage(config.storage.url)
    try:
        await Sealer(load_keyring(config.keys.file), storage).open(
            SealContext("default", "c1", "m1", "default"), sealed
        )
        return True
    except Exception:
        return False
    finally:
        await storage.close()


def test_run_before_expiry_keeps_and_after_destroys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pass before the retention date keeps the message; one after shreds it for good."""
    init_dir(tmp_path / "cw")
    cfg = tmp_path / "cw" / CONFIG_NAME
    capsys.readouterr()
    sealed = asyncio.run(_seed(cfg))
    assert main(["retention", "run", "--config", str(cfg), "--now", "2026-01-15T00:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)["messages_deleted"] == 0
    assert asyncio.run(_opens(cfg, sealed))
    assert main(["retention", "run", "--config", str(cfg), "--now", "2026-08-01T00:00:00Z"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["messages_deleted"], report["conversations_shredded"]) == (1, 1)
    assert not asyncio.run(_opens(cfg, sealed))


def test_bad_now_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --now without a UTC offset is refused before anything runs."""
    init_dir(tmp_path / "cw")
    assert (
        main(
            [
                "retention",
                "run",
                "--config",
                str(tmp_path / "cw" / CONFIG_NAME),
                "--now",
                "2026-01-01",
            ]
        )
        == 2
    )
    assert "UTC offset" in capsys.readouterr().err

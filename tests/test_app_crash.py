"""Crash safety: SIGKILL the real server in the middle of a 2,000-message load; after a
restart every acknowledged message is stored, and retrying everything stores none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from proxy.commands.init import init_dir
from proxy.config import load_config
from proxy.storage import open_storage
from tests.app_testing import message

TOTAL = 2000
BATCH = 20
CLIENTS = 4
CHATWARDEN = Path(sys.executable).with_name("chatwarden")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 -- owned by the child for its life
    return subprocess.Popen(
        [str(CHATWARDEN), "serve", "--config", str(config), "--port", str(port)],
        stdout=out,
        stderr=out,
    )


async def _wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    async with asyncio.timeout(90):
        while True:
            try:
                async with session.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


def _batches() -> list[list[dict[str, Any]]]:
    msgs = [
        message(i, conversation_id=f"c-{i % 50}", text=f"order {i} card 4111 1111 1111 1111")
        for i in range(TOTAL)
    ]
    return [msgs[i : i + BATCH] for i in range(0, TOTAL, BATCH)]


async def _load(
    session: aiohttp.ClientSession,
    base: str,
    token: str,
    batches: list[list[dict[str, Any]]],
    acked: set[str],
    halfway: asyncio.Event | None,
) -> dict[str, int]:
    """Post every batch (CLIENTS at a time; a shed batch is posted again); record
    acknowledged ids; status per id."""
    queue = list(batches)
    statuses: dict[str, int] = {}

    async def worker() -> None:
        while queue:
            batch = queue.pop(0)
            try:
                async with session.post(
                    f"{base}/v1/messages",
                    json={"messages": batch},
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    await r.read()
                    if r.status in (200, 201):
                        acked.update(m["message_id"] for m in batch)
                        statuses.update({m["message_id"]: r.status for m in batch})
                    elif r.status == 503:  # shed (admission): retry it, as a client must
                        queue.append(batch)
                        await asyncio.sleep(0.05)
            except (TimeoutError, aiohttp.ClientError):
                pass  # the server died under us: not acknowledged
            if halfway is not None and len(acked) >= TOTAL // 2:
                halfway.set()

    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return statuses


async def test_sigkill_mid_load_loses_no_acknowledged_message_and_duplicates_none(
    tmp_path: Path,
) -> None:
    """Acknowledged before the kill => stored after it; a full retry leaves 2,000 unique records."""
    created = init_dir(tmp_path / "cw", workers=0)
    cfg_path = created.config
    cfg_path.write_text(cfg_path.read_text().replace("ner = true", "ner = false"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    token = created.tokens["ingest"]
    batches = _batches()
    acked: set[str] = set()

    proc = _start(cfg_path, port, log)
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_ready(session, base)
            halfway = asyncio.Event()
            load = asyncio.create_task(_load(session, base, token, batches, acked, halfway))
            await asyncio.wait_for(halfway.wait(), 120)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            await load
        acked_before_kill = set(acked)
        assert 0 < len(acked_before_kill) < TOTAL

        proc = _start(cfg_path, port, log)
        async with aiohttp.ClientSession() as session:
            await _wait_ready(session, base)
            retried: set[str] = set()
            statuses = await _load(session, base, token, batches, retried, None)
        # Every message answered; those acknowledged before the kill are replays now.
        assert len(retried) == TOTAL
        lost = [mid for mid in acked_before_kill if statuses[mid] != 200]
        assert lost == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

    storage = await open_storage(load_config(cfg_path).storage.url)
    try:
        ids: list[str] = []
        cursor = None
        while True:
            page = await storage.query_messages("default", purpose=None, after=cursor, limit=500)
            ids.extend(m.message_id for m in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        await storage.close()
    assert len(ids) == len(set(ids)) == TOTAL
    assert acked_before_kill <= set(ids)
    assert os.path.getsize(log) > 0

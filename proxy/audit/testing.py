"""Test helpers for the audit trail, public so the service's tests can use them too.

* :class:`FrozenClock` — time as a parameter.
* :class:`StalledStore` / :class:`BrokenStore` — wrap a real store; appends block until
  released, or raise, so fail-closed behaviour can be tested without timing tricks.
* :func:`make_event` — a valid event with defaults.
* :class:`Tamper` — edits a SQLite audit database the way an attacker with the file
  would (triggers dropped first), for the corruption tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from proxy.audit.checkpoint import SignedCheckpoint
from proxy.audit.events import Actor, AuditEvent, Decision
from proxy.audit.log import AppendStep, AuditQuery, LogRow


@dataclass(slots=True)
class FrozenClock:
    """A clock that moves only when told to."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_event(n: int = 0, **overrides: Any) -> AuditEvent:
    """A read event with plausible, content-free fields; ``n`` varies ids and time."""
    fields: dict[str, Any] = {
        "kind": "read",
        "actor": Actor(token_id=f"tok{n % 3}", role="dispute_agent"),
        "decision": Decision(allow=True, rule="dispute_agent.dispute_handling", reason="assigned"),
        "time": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        "purpose": "dispute_handling",
        "case_id": f"case-{n % 2}",
        "justification": "ticket review",
        "message_ids": (f"m{n}",),
        "conversation_ids": (f"c{n % 4}",),
        "count": 1,
        "event_id": f"ev{n:06d}",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


class _Wrapper:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def origin(self) -> str:
        return str(self.inner.origin)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def read_rows(self, start: int, limit: int) -> list[LogRow]:
        return list(await self.inner.read_rows(start, limit))

    async def scan(self, batch: int = 5000) -> AsyncIterator[list[LogRow]]:
        async for page in self.inner.scan(batch):
            yield page

    async def checkpoints(self) -> list[SignedCheckpoint]:
        return list(await self.inner.checkpoints())

    async def find(self, event_id: str) -> LogRow | None:
        r: LogRow | None = await self.inner.find(event_id)
        return r

    async def leaf_hashes(self, size: int) -> list[bytes]:
        return list(await self.inner.leaf_hashes(size))

    async def query(self, q: AuditQuery) -> list[LogRow]:
        return list(await self.inner.query(q))


class StalledStore(_Wrapper):
    """Appends block in a worker thread until :meth:`release` — a disk or lock that hangs.

    The thread is real, as in the SQLite store, so the test shows the event loop is not
    blocked and that the trail's timeout does not depend on cancelling the write.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.gate = threading.Event()
        self.started = 0

    def release(self) -> None:
        self.gate.set()

    async def append(self, step: AppendStep) -> tuple[LogRow | None, SignedCheckpoint | None]:
        self.started += 1
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait)
        r: tuple[LogRow | None, SignedCheckpoint | None] = await self.inner.append(step)
        return r


class BrokenStore(_Wrapper):
    """Appends raise ``exc`` — a full disk, a read-only file, a dropped connection."""

    def __init__(self, inner: Any, exc: Exception | None = None) -> None:
        super().__init__(inner)
        self.exc = exc or OSError("no space left on device")

    async def append(self, step: AppendStep) -> tuple[LogRow | None, SignedCheckpoint | None]:
        raise self.exc


class Tamper:
    """Direct edits of a SQLite audit database, bypassing the append-only triggers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        return conn

    def rows(self) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute("SELECT * FROM audit_events ORDER BY idx").fetchall()
        finally:
            conn.close()

    def rewrite_events(self, edit: Callable[[list[list[Any]]], list[list[Any]]]) -> None:
        """Replace the events table by ``edit(rows)``; columns as in ``SELECT *``. The
        table is rebuilt without constraints, as an attacker could."""
        conn = self._conn()
        try:
            cols = [r[1] for r in conn.execute("PRAGMA table_info(audit_events)")]
            rows = [list(r) for r in conn.execute("SELECT * FROM audit_events ORDER BY idx")]
            new = edit(rows)
            conn.execute("BEGIN")
            conn.execute("DROP TABLE audit_events")
            conn.execute(f"CREATE TABLE audit_events ({', '.join(cols)})")
            marks = ",".join("?" * len(cols))
            conn.executemany(f"INSERT INTO audit_events VALUES ({marks})", new)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        conn = self._conn()
        try:
            conn.execute(sql, args)
        finally:
            conn.close()


class FakeSigner:
    """A stand-in signer for unit tests of log logic: HMAC-SHA256 under a test key. It is
    its own verifier. Real trails sign with Ed25519 (:mod:`proxy.audit.signing`)."""

    def __init__(self, secret: bytes = b"test-audit-key", key_id: str = "fa4e000000000000") -> None:
        self._secret = secret
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        import hmac

        return hmac.new(self._secret, message, "sha256").digest()

    def verify(self, message: bytes, signature: bytes) -> bool:
        import hmac

        return hmac.compare_digest(self.sign(message), signature)

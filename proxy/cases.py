"""Cases and legal holds: the records behind case-bound reads, retention and erasure.

A :class:`Case` is filed by a compliance officer for one purpose (a regulatory request, or
a dispute handed to assigned agents): its scope is a set of data subjects (sender or
recipient ids) and/or conversations inside a time range; it names the requesting
authority and legal basis and expires. A second, different officer or admin approves it
(four eyes, decided by :meth:`policies.engine.DecisionTable.decide_approval`). An approved
case holds every conversation in its scope (crypto-shredding is per conversation, so a
hold is too); closing or expiry releases the holds.

:class:`CaseStore` is what the handlers, retention and erasure need from the database.
:class:`SQLiteCaseStore` keeps ``cases`` and ``holds`` tables in the storage's SQLite file
and reads (and, for retention and erasure, deletes) rows of the storage's ``messages``
table; :class:`proxy.cases_pg.PostgresCaseStore` does the same on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar

from policies.model import CaseContext, CaseState
from proxy.storage.errors import StorageUnavailable
from proxy.storage.sqlite import merge_purposes

__all__ = ["Case", "CaseStatus", "CaseStore", "SQLiteCaseStore"]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CaseStatus(StrEnum):
    """The stored status of a case; expiry is computed from ``expires_at``."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    tenant: str
    purpose: str
    subjects: tuple[str, ...]
    conversation_ids: tuple[str, ...]
    since: datetime
    until: datetime
    authority: str
    legal_basis: str
    expires_at: datetime
    requested_by: str  # token id of the filing officer
    created_at: datetime
    status: CaseStatus = CaseStatus.PENDING
    approved_by: str | None = None
    assignees: tuple[str, ...] = ()  # token ids that may read under it (assigned_case)

    def state(self, now: datetime) -> CaseState:
        """The case state a read decision sees at ``now``."""
        if self.status is CaseStatus.PENDING:
            return CaseState.EXPIRED if now >= self.expires_at else CaseState.PENDING
        if self.status is CaseStatus.APPROVED:
            return CaseState.EXPIRED if now >= self.expires_at else CaseState.APPROVED
        return CaseState.CLOSED

    def context(self, reader_token_id: str, now: datetime) -> CaseContext:
        return CaseContext(self.state(now), self.purpose, reader_token_id in self.assignees)

    def in_scope(
        self, sender_id: str, recipient_id: str | None, conversation_id: str, sent_at: datetime
    ) -> bool:
        """Whether one message is inside the case: its subjects or conversations, its time range."""
        if not self.since <= sent_at < self.until:
            return False
        if conversation_id in self.conversation_ids:
            return True
        return sender_id in self.subjects or (
            recipient_id is not None and recipient_id in self.subjects
        )

    def to_json(self) -> dict[str, object]:
        return {
            "case_id": self.case_id,
            "purpose": self.purpose,
            "status": self.status.value,
            "subjects": list(self.subjects),
            "conversation_ids": list(self.conversation_ids),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "authority": self.authority,
            "legal_basis": self.legal_basis,
            "expires_at": _iso(self.expires_at),
            "requested_by": self.requested_by,
            "approved_by": self.approved_by,
            "assignees": list(self.assignees),
            "created_at": _iso(self.created_at),
        }


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ExpiredMessage:
    """A message whose stored ``retention_until`` passed, with what retention is judged on."""

    tenant: str
    conversation_id: str
    message_id: str
    ingested_at: datetime
    purposes: frozenset[str]


class CaseStore(Protocol):
    """Cases, holds and the message look-ups retention and erasure need."""

    async def create_case(self, case: Case) -> None: ...

    async def get_case(self, tenant: str, case_id: str) -> Case | None: ...

    async def list_cases(self, tenant: str | None, status: CaseStatus) -> list[Case]: ...

    async def set_status(
        self,
        case: Case,
        status: CaseStatus,
        *,
        expected: CaseStatus,
        approved_by: str | None = None,
    ) -> bool:
        """Compare-and-set the status; False when another officer changed it first."""
        ...

    async def approve(
        self,
        case: Case,
        *,
        approved_by: str,
        conversation_ids: Sequence[str],
        purposes: Iterable[str] = (),
    ) -> bool:
        """In ONE transaction: compare-and-set the case from pending to approved (by
        ``approved_by``), hold every conversation in ``conversation_ids`` and add
        ``purposes`` to them (re-tagging their stored messages). False, with nothing
        written, when another officer changed the case first; on any failure nothing of
        the approval is kept."""
        ...

    async def close_case(self, case: Case, *, expected: CaseStatus) -> int | None:
        """In ONE transaction: compare-and-set the status from ``expected`` to closed and
        release the case's holds. The number of holds released, or None (nothing
        written) when the case was no longer ``expected``."""
        ...

    async def conversations_in_scope(self, case: Case) -> list[str]: ...

    async def add_holds(
        self, tenant: str, case_id: str, conversation_ids: Iterable[str]
    ) -> None: ...

    async def release_holds(self, tenant: str, case_id: str) -> int: ...

    async def holds(
        self, tenant: str, conversation_ids: Iterable[str]
    ) -> Mapping[str, tuple[str, ...]]:
        """Conversation id -> ids of the cases holding it (only held ones appear)."""
        ...

    async def conversations_of_subject(self, tenant: str, subject_id: str) -> list[str]: ...

    async def expired_messages(self, now: datetime, limit: int) -> list[ExpiredMessage]: ...

    async def delete_messages(self, tenant: str, message_ids: Sequence[str]) -> int: ...

    async def delete_conversation(self, tenant: str, conversation_id: str) -> int: ...

    async def conversation_size(self, tenant: str, conversation_id: str) -> int: ...

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    tenant      TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    body        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, case_id)
);
CREATE TABLE IF NOT EXISTS holds (
    tenant          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    PRIMARY KEY (tenant, conversation_id, case_id)
);
CREATE INDEX IF NOT EXISTS holds_case ON holds (tenant, case_id);
"""


def to_us(dt: datetime) -> int:
    return (dt.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _encode(case: Case) -> str:
    return json.dumps(case.to_json(), sort_keys=True, separators=(",", ":"))


def _decode(tenant: str, body: str) -> Case:
    d = json.loads(body)

    def t(k: str) -> datetime:
        return datetime.fromisoformat(str(d[k]).replace("Z", "+00:00"))

    return Case(
        case_id=d["case_id"],
        tenant=tenant,
        purpose=d["purpose"],
        subjects=tuple(d["subjects"]),
        conversation_ids=tuple(d["conversation_ids"]),
        since=t("since"),
        until=t("until"),
        authority=d["authority"],
        legal_basis=d["legal_basis"],
        expires_at=t("expires_at"),
        requested_by=d["requested_by"],
        created_at=t("created_at"),
        status=CaseStatus(d["status"]),
        approved_by=d["approved_by"],
        assignees=tuple(d["assignees"]),
    )


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SQLiteCaseStore:
    """:class:`CaseStore` in the storage's SQLite file (its own connection and thread)."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self._path = str(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatwarden-cases")
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteCaseStore(path={self._path!r})"

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        def call() -> T:
            c = self._conn
            if c is None:
                raise sqlite3.OperationalError("not open")
            if not write:
                return fn(c)
            c.execute("BEGIN IMMEDIATE")
            try:
                out = fn(c)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return out

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StorageUnavailable(
                "the SQLite database did not complete the case operation; retry later",
                type(exc).__name__,
            ) from None

    async def open(self) -> SQLiteCaseStore:
        def o() -> None:
            c = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            c.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            c.execute("PRAGMA journal_mode = WAL")
            c.execute("PRAGMA synchronous = FULL")
            c.execute("PRAGMA secure_delete = ON")
            c.executescript(_SCHEMA)
            self._conn = c

        await asyncio.get_running_loop().run_in_executor(self._executor, o)
        return self

    async def close(self) -> None:
        def c() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, c)
        self._executor.shutdown(wait=True)

    async def create_case(self, case: Case) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO cases (tenant, case_id, status, body, expires_at) VALUES (?,?,?,?,?)",
                (
                    case.tenant,
                    case.case_id,
                    case.status.value,
                    _encode(case),
                    to_us(case.expires_at),
                ),
            ),
            write=True,
        )

    async def get_case(self, tenant: str, case_id: str) -> Case | None:
        row = await self._run(
            lambda c: c.execute(
                "SELECT body FROM cases WHERE tenant=? AND case_id=?", (tenant, case_id)
            ).fetchone()
        )
        return None if row is None else _decode(tenant, row[0])

    async def list_cases(self, tenant: str | None, status: CaseStatus) -> list[Case]:
        def q(c: sqlite3.Connection) -> list[tuple[str, str]]:
            if tenant is None:
                return c.execute(
                    "SELECT tenant, body FROM cases WHERE status=? ORDER BY case_id",
                    (status.value,),
                ).fetchall()
            return c.execute(
                "SELECT tenant, body FROM cases WHERE tenant=? AND status=? ORDER BY case_id",
                (tenant, status.value),
            ).fetchall()

        return [_decode(t, b) for t, b in await self._run(q)]

    async def set_status(
        self,
        case: Case,
        status: CaseStatus,
        *,
        expected: CaseStatus,
        approved_by: str | None = None,
    ) -> bool:
        new = replace(
            case,
            status=status,
            approved_by=approved_by if approved_by is not None else case.approved_by,
        )

        def w(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE cases SET status=?, body=? WHERE tenant=? AND case_id=? AND status=?",
                (status.value, _encode(new), case.tenant, case.case_id, expected.value),
            )
            return cur.rowcount == 1

        return await self._run(w, write=True)

    async def approve(
        self,
        case: Case,
        *,
        approved_by: str,
        conversation_ids: Sequence[str],
        purposes: Iterable[str] = (),
    ) -> bool:
        new = replace(case, status=CaseStatus.APPROVED, approved_by=approved_by)
        cids, add = list(conversation_ids), frozenset(purposes)

        def w(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE cases SET status=?, body=? WHERE tenant=? AND case_id=? AND status=?",
                (
                    CaseStatus.APPROVED.value,
                    _encode(new),
                    case.tenant,
                    case.case_id,
                    CaseStatus.PENDING.value,
                ),
            )
            if cur.rowcount != 1:
                return False
            self._hold(c, case.tenant, case.case_id, cids)
            if add:
                for cid in cids:
                    merge_purposes(c, case.tenant, cid, add)
            return True

        return await self._run(w, write=True)

    async def close_case(self, case: Case, *, expected: CaseStatus) -> int | None:
        new = replace(case, status=CaseStatus.CLOSED)

        def w(c: sqlite3.Connection) -> int | None:
            cur = c.execute(
                "UPDATE cases SET status=?, body=? WHERE tenant=? AND case_id=? AND status=?",
                (CaseStatus.CLOSED.value, _encode(new), case.tenant, case.case_id, expected.value),
            )
            if cur.rowcount != 1:
                return None
            return c.execute(
                "DELETE FROM holds WHERE tenant=? AND case_id=?", (case.tenant, case.case_id)
            ).rowcount

        return await self._run(w, write=True)

    async def conversations_in_scope(self, case: Case) -> list[str]:
        subj, convs = list(case.subjects), list(case.conversation_ids)

        def q(c: sqlite3.Connection) -> list[str]:
            clauses = []
            args: list[object] = [case.tenant, to_us(case.since), to_us(case.until)]
            if subj:
                clauses.append(
                    f"sender_id IN ({_marks(len(subj))}) OR recipient_id IN ({_marks(len(subj))})"
                )
                args += subj + subj
            if convs:
                clauses.append(f"conversation_id IN ({_marks(len(convs))})")
                args += convs
            if not clauses:
                return []
            rows = c.execute(
                "SELECT DISTINCT conversation_id FROM messages"
                " WHERE tenant=? AND sent_at>=? AND sent_at<?"
                f" AND ({' OR '.join(clauses)}) ORDER BY conversation_id",
                args,
            ).fetchall()
            return [r[0] for r in rows]

        return await self._run(q)

    @staticmethod
    def _hold(c: sqlite3.Connection, tenant: str, case_id: str, cids: Iterable[str]) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO holds (tenant, conversation_id, case_id) VALUES (?,?,?)",
            [(tenant, cid, case_id) for cid in cids],
        )

    async def add_holds(self, tenant: str, case_id: str, conversation_ids: Iterable[str]) -> None:
        cids = list(conversation_ids)
        await self._run(lambda c: self._hold(c, tenant, case_id, cids), write=True)

    async def release_holds(self, tenant: str, case_id: str) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM holds WHERE tenant=? AND case_id=?", (tenant, case_id)
                ).rowcount
            ),
            write=True,
        )

    async def holds(
        self, tenant: str, conversation_ids: Iterable[str]
    ) -> Mapping[str, tuple[str, ...]]:
        cids = list(conversation_ids)

        def q(c: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
            out: dict[str, list[str]] = {}
            for i in range(0, len(cids), 500):
                part = cids[i : i + 500]
                for cid, case_id in c.execute(
                    "SELECT conversation_id, case_id FROM holds WHERE tenant=?"
                    f" AND conversation_id IN ({_marks(len(part))})"
                    " ORDER BY case_id",
                    [tenant, *part],
                ):
                    out.setdefault(cid, []).append(case_id)
            return {k: tuple(v) for k, v in out.items()}

        return await self._run(q)

    async def conversations_of_subject(self, tenant: str, subject_id: str) -> list[str]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT DISTINCT conversation_id FROM messages"
                " WHERE tenant=? AND (sender_id=? OR recipient_id=?)"
                " ORDER BY conversation_id",
                (tenant, subject_id, subject_id),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def expired_messages(self, now: datetime, limit: int) -> list[ExpiredMessage]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT tenant, conversation_id, message_id, ingested_at, purposes FROM messages"
                " WHERE retention_until IS NOT NULL AND retention_until<=?"
                " ORDER BY retention_until, seq LIMIT ?",
                (to_us(now), limit),
            ).fetchall()
        )
        return [
            ExpiredMessage(
                t,
                c,
                m,
                _EPOCH + timedelta(microseconds=at),
                frozenset(p for p in ps.split(",") if p),
            )
            for t, c, m, at, ps in rows
        ]

    async def delete_messages(self, tenant: str, message_ids: Sequence[str]) -> int:
        ids = list(message_ids)

        def w(c: sqlite3.Connection) -> int:
            n = 0
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                n += c.execute(
                    f"DELETE FROM messages WHERE tenant=? AND message_id IN ({_marks(len(part))})",
                    [tenant, *part],
                ).rowcount
            return n

        return await self._run(w, write=True)

    async def delete_conversation(self, tenant: str, conversation_id: str) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM messages WHERE tenant=? AND conversation_id=?",
                    (tenant, conversation_id),
                ).rowcount
            ),
            write=True,
        )

    async def conversation_size(self, tenant: str, conversation_id: str) -> int:
        row = await self._run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM messages WHERE tenant=? AND conversation_id=?",
                (tenant, conversation_id),
            ).fetchone()
        )
        return int(row[0])

""":class:`~proxy.cases.CaseStore` on PostgreSQL, beside :mod:`proxy.storage.postgres`.

Same URL as the message storage (``postgresql://...[?schema=NAME]``, default schema
``chatwarden``); its own small pool. Tables ``cases`` and ``holds`` are keyed by
``(tenant, ...)`` and ``holds`` starts with ``(tenant, conversation_id)`` like the
storage's conversation-scoped tables, so a Citus deployment can colocate it. Message
look-ups, deletions (retention, erasure) run on the storage's ``messages`` table; a deleted
message's ``message_ids`` row stays as the storage's idempotency tombstone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from proxy.cases import Case, CaseStatus, ExpiredMessage, _decode, _encode
from proxy.storage.errors import InvalidStorageUrl, StorageUnavailable
from proxy.storage.postgres import widen_conversations

__all__ = ["PostgresCaseStore"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _split(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None) or "chatwarden"
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    if not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidStorageUrl("a schema name is lower-case letters, digits and _")
    return urlunparse(parsed._replace(query=rest)), schema


class PostgresCaseStore:
    def __init__(self, url: str, *, pool_size: int = 2, command_timeout: float = 10.0) -> None:
        self._dsn, self._schema = _split(url)
        self._pool_size = pool_size
        self._timeout = command_timeout
        self._pool: Any = None

    def __repr__(self) -> str:
        return f"PostgresCaseStore(schema={self._schema!r})"

    async def _q(self, fn: Any) -> Any:
        import asyncpg  # type: ignore[import-untyped]  # no stubs published

        try:
            async with self._pool.acquire() as conn:
                return await fn(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StorageUnavailable(
                "PostgreSQL did not complete the case operation; retry later", type(exc).__name__
            ) from None

    async def open(self) -> PostgresCaseStore:
        import asyncpg

        s = f'"{self._schema}"'
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._timeout,
                server_settings={
                    "search_path": self._schema,
                    "application_name": "chatwarden-cases",
                },
            )
        except (asyncpg.PostgresError, OSError, TimeoutError, ValueError) as exc:
            raise StorageUnavailable(
                "cannot connect to PostgreSQL for cases", type(exc).__name__
            ) from None

        async def setup(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chatwarden.cases'))")
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {s}.cases (
                        tenant text NOT NULL, case_id text NOT NULL, status text NOT NULL,
                        body text NOT NULL, expires_at timestamptz NOT NULL,
                        PRIMARY KEY (tenant, case_id))"""
                )
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {s}.holds (
                        tenant text NOT NULL, conversation_id text NOT NULL, case_id text NOT NULL,
                        PRIMARY KEY (tenant, conversation_id, case_id))"""
                )
                await conn.execute(
                    f"CREATE INDEX IF NOT EXISTS holds_case ON {s}.holds (tenant, case_id)"
                )

        await self._q(setup)
        return self

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def create_case(self, case: Case) -> None:
        await self._q(
            lambda c: c.execute(
                "INSERT INTO cases (tenant, case_id, status, body, expires_at)"
                " VALUES ($1,$2,$3,$4,$5)",
                case.tenant,
                case.case_id,
                case.status.value,
                _encode(case),
                case.expires_at,
            )
        )

    async def get_case(self, tenant: str, case_id: str) -> Case | None:
        body = await self._q(
            lambda c: c.fetchval(
                "SELECT body FROM cases WHERE tenant=$1 AND case_id=$2", tenant, case_id
            )
        )
        return None if body is None else _decode(tenant, body)

    async def list_cases(self, tenant: str | None, status: CaseStatus) -> list[Case]:
        rows = await self._q(
            lambda c: c.fetch(
                "SELECT tenant, body FROM cases WHERE status=$1"
                " AND ($2::text IS NULL OR tenant=$2) ORDER BY case_id",
                status.value,
                tenant,
            )
        )
        return [_decode(r["tenant"], r["body"]) for r in rows]

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
        res = await self._q(
            lambda c: c.execute(
                "UPDATE cases SET status=$1, body=$2 WHERE tenant=$3 AND case_id=$4 AND status=$5",
                status.value,
                _encode(new),
                case.tenant,
                case.case_id,
                expected.value,
            )
        )
        return bool(res == "UPDATE 1")

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

        async def tx(c: Any) -> bool:
            async with c.transaction():
                res = await c.execute(
                    "UPDATE cases SET status=$1, body=$2"
                    " WHERE tenant=$3 AND case_id=$4 AND status=$5",
                    CaseStatus.APPROVED.value,
                    _encode(new),
                    case.tenant,
                    case.case_id,
                    CaseStatus.PENDING.value,
                )
                if res != "UPDATE 1":
                    return False
                await self._hold(c, case.tenant, case.case_id, cids)
                if add:
                    await widen_conversations(c, case.tenant, cids, add)
                return True

        return bool(await self._q(tx))

    async def close_case(self, case: Case, *, expected: CaseStatus) -> int | None:
        new = replace(case, status=CaseStatus.CLOSED)

        async def tx(c: Any) -> int | None:
            async with c.transaction():
                res = await c.execute(
                    "UPDATE cases SET status=$1, body=$2"
                    " WHERE tenant=$3 AND case_id=$4 AND status=$5",
                    CaseStatus.CLOSED.value,
                    _encode(new),
                    case.tenant,
                    case.case_id,
                    expected.value,
                )
                if res != "UPDATE 1":
                    return None
                res = await c.execute(
                    "DELETE FROM holds WHERE tenant=$1 AND case_id=$2", case.tenant, case.case_id
                )
                return int(str(res).split()[-1])

        released: int | None = await self._q(tx)
        return released

    async def conversations_in_scope(self, case: Case) -> list[str]:
        if not case.subjects and not case.conversation_ids:
            return []
        rows = await self._q(
            lambda c: c.fetch(
                "SELECT DISTINCT conversation_id FROM messages"
                " WHERE tenant=$1 AND sent_at>=$2 AND sent_at<$3"
                " AND (sender_id = ANY($4::text[]) OR recipient_id = ANY($4::text[])"
                " OR conversation_id = ANY($5::text[])) ORDER BY conversation_id",
                case.tenant,
                case.since,
                case.until,
                list(case.subjects),
                list(case.conversation_ids),
            )
        )
        return [r["conversation_id"] for r in rows]

    @staticmethod
    async def _hold(c: Any, tenant: str, case_id: str, cids: list[str]) -> None:
        await c.execute(
            "INSERT INTO holds (tenant, conversation_id, case_id)"
            " SELECT $1, x, $2 FROM unnest($3::text[]) AS x ON CONFLICT DO NOTHING",
            tenant,
            case_id,
            cids,
        )

    async def add_holds(self, tenant: str, case_id: str, conversation_ids: Iterable[str]) -> None:
        cids = list(conversation_ids)
        await self._q(lambda c: self._hold(c, tenant, case_id, cids))

    async def release_holds(self, tenant: str, case_id: str) -> int:
        res = await self._q(
            lambda c: c.execute("DELETE FROM holds WHERE tenant=$1 AND case_id=$2", tenant, case_id)
        )
        return int(str(res).split()[-1])

    async def holds(
        self, tenant: str, conversation_ids: Iterable[str]
    ) -> Mapping[str, tuple[str, ...]]:
        rows = await self._q(
            lambda c: c.fetch(
                "SELECT conversation_id, case_id FROM holds"
                " WHERE tenant=$1 AND conversation_id = ANY($2::text[])"
                " ORDER BY case_id",
                tenant,
                list(conversation_ids),
            )
        )
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["conversation_id"], []).append(r["case_id"])
        return {k: tuple(v) for k, v in out.items()}

    async def conversations_of_subject(self, tenant: str, subject_id: str) -> list[str]:
        rows = await self._q(
            lambda c: c.fetch(
                "SELECT DISTINCT conversation_id FROM messages"
                " WHERE tenant=$1 AND (sender_id=$2 OR recipient_id=$2)"
                " ORDER BY conversation_id",
                tenant,
                subject_id,
            )
        )
        return [r["conversation_id"] for r in rows]

    async def expired_messages(self, now: datetime, limit: int) -> list[ExpiredMessage]:
        rows = await self._q(
            lambda c: c.fetch(
                "SELECT tenant, conversation_id, message_id, ingested_at, purposes FROM messages"
                " WHERE retention_until IS NOT NULL AND retention_until<=$1"
                " ORDER BY retention_until, seq LIMIT $2",
                now,
                limit,
            )
        )
        return [
            ExpiredMessage(
                r["tenant"],
                r["conversation_id"],
                r["message_id"],
                r["ingested_at"],
                frozenset(p for p in r["purposes"].split(",") if p),
            )
            for r in rows
        ]

    async def delete_messages(self, tenant: str, message_ids: Sequence[str]) -> int:
        res = await self._q(
            lambda c: c.execute(
                "DELETE FROM messages WHERE tenant=$1 AND message_id = ANY($2::text[])",
                tenant,
                list(message_ids),
            )
        )
        return int(str(res).split()[-1])

    async def delete_conversation(self, tenant: str, conversation_id: str) -> int:
        res = await self._q(
            lambda c: c.execute(
                "DELETE FROM messages WHERE tenant=$1 AND conversation_id=$2",
                tenant,
                conversation_id,
            )
        )
        return int(str(res).split()[-1])

    async def conversation_size(self, tenant: str, conversation_id: str) -> int:
        n = await self._q(
            lambda c: c.fetchval(
                "SELECT COUNT(*) FROM messages WHERE tenant=$1 AND conversation_id=$2",
                tenant,
                conversation_id,
            )
        )
        return int(n)

"""Audit stores on SQLite and PostgreSQL: their own tables, append-only, durable commits.

Tables (the same on both backends):

``audit_events``       one row per entry: ``idx`` (position), ``event_id``, ``body`` (the
                       canonical entry bytes that are hashed), ``leaf_hash`` and query
                       columns copied from the event (time, kind, actor, purpose, case).
``audit_subjects``     (subject keyed hash, idx): which entries touched which data subject.
``audit_checkpoints``  signed checkpoints in signing order.
``audit_head``         one row: the Merkle frontier after the last entry, so an append is
                       O(log n). It is a cache the writer checks against ``MAX(idx)``,
                       never trusted by the verifier.
``audit_meta``         the log's origin (``chatwarden.audit/<uuid>``), set once.

Triggers refuse UPDATE and DELETE on the first three (and TRUNCATE on PostgreSQL): the
service cannot rewrite history even by mistake. Someone with the database file can, and
``chatwarden audit verify`` is what catches that.

An append runs in one write transaction (SQLite ``BEGIN IMMEDIATE`` with WAL and
``synchronous=FULL``; PostgreSQL ``SELECT ... FOR UPDATE`` on the head row), so entries
from many writers — threads or proxy replicas — get consecutive positions, and returns
only after COMMIT.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

from proxy.audit.checkpoint import ORIGIN_PREFIX, Checkpoint, SignedCheckpoint
from proxy.audit.errors import AuditError, InvalidEvent
from proxy.audit.events import format_time
from proxy.audit.log import AppendStep, AuditQuery, AuditStore, LogRow
from proxy.audit.merkle import Frontier

T = TypeVar("T")

_COLUMNS = (
    "idx, event_id, body, leaf_hash, time, kind, actor_token_id, actor_role, purpose, case_id"
)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_events (
    idx INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_token_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    purpose TEXT,
    case_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor_token_id, idx);
CREATE INDEX IF NOT EXISTS audit_events_purpose ON audit_events (purpose, idx);
CREATE INDEX IF NOT EXISTS audit_events_case ON audit_events (case_id, idx);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time);
CREATE TABLE IF NOT EXISTS audit_subjects (
    subject TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (subject, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    note BLOB NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), frontier BLOB NOT NULL
);
"""

_APPEND_ONLY = ("audit_events", "audit_subjects", "audit_checkpoints")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _sqlite_triggers() -> str:
    out = []
    for table in _APPEND_ONLY:
        for op in ("UPDATE", "DELETE"):
            out.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit tables are append-only'); END;"
            )
    return "\n".join(out)


class DuplicateEvent(InvalidEvent):
    """An event id that is already in the log; the caller built two events with one id."""


class StoreCorrupt(AuditError):
    """The store's head does not match its entries; the writer refuses to extend it."""


def _idx(v: Any) -> int:
    """A stored position; -1 for anything that is not an integer (someone edited the
    file), which the verifier then reports at that place instead of crashing."""
    return v if isinstance(v, int) and not isinstance(v, bool) else -1


def _blob(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    return b""


def _row(r: Sequence[Any], subjects: tuple[str, ...] = ()) -> LogRow:
    # Every column is coerced, never trusted: the verifier reads rows an attacker may have
    # retyped, and must report them rather than crash on them.
    return LogRow(
        index=_idx(r[0]),
        event_id=str(r[1]),
        body=_blob(r[2]),
        leaf_hash=_blob(r[3]),
        time=str(r[4]),
        kind=str(r[5]),
        actor_token_id=str(r[6]),
        actor_role=str(r[7]),
        purpose=r[8],
        case_id=r[9],
        subjects=subjects,
    )


def _checkpoint_row(r: Sequence[Any]) -> SignedCheckpoint:
    return SignedCheckpoint(note=_blob(r[0]), key_id=str(r[1]), signature=_blob(r[2]))


Result = tuple[LogRow | None, SignedCheckpoint | None]


def _asyncpg_integrity_error() -> type[Exception]:
    import asyncpg  # type: ignore[import-untyped]  # no type information shipped

    err: type[Exception] = asyncpg.IntegrityConstraintViolationError
    return err


class GroupCommit:
    """Appends that arrive while a batch is being written wait and go together into the
    next transaction: one commit (one fsync) per batch instead of one per event, with
    positions still assigned one by one inside it. Each caller gets its own result; a
    failing append (its step raised, or its row violated a constraint) fails alone, a
    failing transaction fails the whole batch — nothing of it is committed."""

    def __init__(
        self,
        write: Callable[[list[AppendStep]], Awaitable[list[Result | Exception]]],
        max_batch: int = 256,
    ) -> None:
        self._write = write
        self._max = max_batch
        self._queue: list[tuple[AppendStep, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, step: AppendStep) -> Result:
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((step, fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                results = await self._write_all([step for step, _ in batch])
                for (_, fut), result in zip(batch, results, strict=True):
                    if fut.done():  # its caller gave up (cancelled)
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._task = None

    async def _write_all(self, steps: list[AppendStep]) -> list[Result | Exception]:
        try:
            return await self._write(steps)
        except DuplicateEvent as exc:
            if len(steps) == 1:
                return [exc]
        except Exception as exc:
            return [exc] * len(steps)
        # One event of the batch was a duplicate and the batch rolled back: write each
        # alone so only the duplicate fails.
        out: list[Result | Exception] = []
        for step in steps:
            out += await self._write_all([step])
        return out


class SQLiteAuditStore:
    """The embedded store. Every call runs on one dedicated thread that owns the
    connection, so the event loop never blocks on disk I/O or fsync."""

    def __init__(
        self, path: str | Path, *, read_only: bool = False, busy_timeout: float = 5.0
    ) -> None:
        self._path = Path(path)
        self._read_only = read_only
        self._busy_ms = int(busy_timeout * 1000)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._origin = ""
        self._commits = GroupCommit(self._write_batch)

    @property
    def origin(self) -> str:
        return self._origin

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        await self._run(self._open_sync)

    def open_sync(self) -> None:
        """Open from synchronous code (the CLI)."""
        self._executor.submit(self._open_sync).result()

    def _open_sync(self) -> None:
        if self._read_only:
            if not self._path.exists():
                raise AuditError("audit database does not exist; check the storage path")
            uri = f"file:{self._path.resolve()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            # Like the message storage: a command run before serve (keys rotate) may be
            # the first to write to the database's directory.
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._conn = conn
        if not self._read_only:
            # Every statement is idempotent (IF NOT EXISTS), so replicas may race here.
            conn.executescript(SQLITE_SCHEMA + _sqlite_triggers())
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT value FROM audit_meta WHERE key = 'origin'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('origin', ?)",
                    (ORIGIN_PREFIX + uuid.uuid4().hex,),
                )
                conn.execute(
                    "INSERT INTO audit_head (id, frontier) VALUES (1, ?)", (Frontier().encode(),)
                )
            conn.execute("COMMIT")
        try:
            row = conn.execute("SELECT value FROM audit_meta WHERE key = 'origin'").fetchone()
        except sqlite3.OperationalError:
            raise AuditError("database holds no audit trail; check the storage path") from None
        if row is None:
            raise AuditError("database holds no audit trail; check the storage path")
        self._origin = str(row[0])

    async def close(self) -> None:
        await self._run(self._close_sync)
        self._executor.shutdown(wait=False)

    def close_sync(self) -> None:
        self._executor.submit(self._close_sync).result()
        self._executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AuditError("audit store is not open")
        return self._conn

    async def append(self, step: AppendStep) -> Result:
        return await self._commits.submit(step)

    async def _write_batch(self, steps: list[AppendStep]) -> list[Result | Exception]:
        return await self._run(lambda: self._write_batch_sync(steps))

    def _write_batch_sync(self, steps: list[AppendStep]) -> list[Result | Exception]:
        c = self._c
        c.execute("BEGIN IMMEDIATE")
        try:
            head = Frontier.decode(
                bytes(c.execute("SELECT frontier FROM audit_head").fetchone()[0])
            )
            top = c.execute("SELECT MAX(idx) FROM audit_events").fetchone()[0]
            if head.size != (-1 if top is None else int(top)) + 1:
                raise StoreCorrupt("audit head does not match the stored entries; run audit verify")
            last = c.execute(
                "SELECT note FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            last_cp = Checkpoint.parse(bytes(last[0])) if last else None
            results: list[Result | Exception] = []
            start = head.size
            for step in steps:
                try:
                    row, new_head, cp = step(head, last_cp, self._origin)
                except Exception as exc:  # a step's own failure fails only that append
                    results.append(exc)
                    continue
                try:
                    self._insert_sync(c, row, cp)
                except sqlite3.IntegrityError:
                    raise DuplicateEvent(
                        "an audit event with this id is already recorded"
                    ) from None
                head = new_head
                if cp is not None:
                    last_cp = cp.checkpoint
                results.append((row, cp))
            if head.size != start:
                c.execute("UPDATE audit_head SET frontier = ? WHERE id = 1", (head.encode(),))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return results

    @staticmethod
    def _insert_sync(
        c: sqlite3.Connection, row: LogRow | None, cp: SignedCheckpoint | None
    ) -> None:
        if row is not None:
            c.execute(
                f"INSERT INTO audit_events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    row.index,
                    row.event_id,
                    row.body,
                    row.leaf_hash,
                    row.time,
                    row.kind,
                    row.actor_token_id,
                    row.actor_role,
                    row.purpose,
                    row.case_id,
                ),
            )
            c.executemany(
                "INSERT INTO audit_subjects (subject, idx) VALUES (?, ?)",
                [(s, row.index) for s in row.subjects],
            )
        if cp is not None:
            c.execute(
                "INSERT INTO audit_checkpoints (size, note, key_id, signature) VALUES (?,?,?,?)",
                (cp.checkpoint.size, cp.note, cp.key_id, cp.signature),
            )

    # --- reads (also used synchronously by the CLI through the *_sync variants) ---

    async def read_rows(self, start: int, limit: int) -> list[LogRow]:
        return await self._run(lambda: self.read_rows_sync(start, limit))

    def read_rows_sync(self, start: int, limit: int) -> list[LogRow]:
        # Ordered by position; rows are returned as stored, gaps and all.
        cur = self._c.execute(
            f"SELECT {_COLUMNS} FROM audit_events WHERE idx >= ? ORDER BY idx LIMIT ?",
            (start, limit),
        )
        rows = cur.fetchall()
        subs = self._subjects_of([_idx(r[0]) for r in rows])
        return [_row(r, subs.get(_idx(r[0]), ())) for r in rows]

    async def all_rows(self) -> list[LogRow]:
        return await self._run(self.all_rows_sync)

    async def scan(self, batch: int = 5000) -> AsyncIterator[list[LogRow]]:
        """Every stored row in storage order (duplicated positions included), in pages,
        from one cursor: the open statement holds one read snapshot throughout, and
        rows whose position column was retyped or nulled come out in SQLite's order
        rather than breaking the paging."""
        cur = await self._run(
            lambda: self._c.execute(f"SELECT {_COLUMNS} FROM audit_events ORDER BY idx, rowid")
        )
        try:
            while True:
                page = await self._run(lambda: self._page_sync(cur.fetchmany(batch)))
                if not page:
                    return
                yield page
        finally:
            await self._run(cur.close)

    def all_rows_sync(self) -> list[LogRow]:
        """Every stored row in storage order, including rows with duplicate positions."""
        rows = self._c.execute(
            f"SELECT {_COLUMNS} FROM audit_events ORDER BY idx, rowid"
        ).fetchall()
        return self._page_sync(rows)

    def _page_sync(self, rows: list[Any]) -> list[LogRow]:
        subs = self._subjects_of([_idx(r[0]) for r in rows])
        return [_row(r, subs.get(_idx(r[0]), ())) for r in rows]

    def _subjects_of(self, idxs: list[int]) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for i in range(0, len(idxs), 500):
            chunk = idxs[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for subject, idx in self._c.execute(
                f"SELECT subject, idx FROM audit_subjects WHERE idx IN ({marks}) ORDER BY subject",
                chunk,
            ):
                out.setdefault(int(idx), []).append(str(subject))
        return {k: tuple(v) for k, v in out.items()}

    async def checkpoints(self) -> list[SignedCheckpoint]:
        return await self._run(self.checkpoints_sync)

    def checkpoints_sync(self) -> list[SignedCheckpoint]:
        cur = self._c.execute("SELECT note, key_id, signature FROM audit_checkpoints ORDER BY seq")
        return [_checkpoint_row(r) for r in cur.fetchall()]

    async def find(self, event_id: str) -> LogRow | None:
        return await self._run(lambda: self.find_sync(event_id))

    def find_sync(self, event_id: str) -> LogRow | None:
        r = self._c.execute(
            f"SELECT {_COLUMNS} FROM audit_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        if r is None:
            return None
        return _row(r, self._subjects_of([_idx(r[0])]).get(_idx(r[0]), ()))

    async def leaf_hashes(self, size: int) -> list[bytes]:
        return await self._run(lambda: self.leaf_hashes_sync(size))

    def leaf_hashes_sync(self, size: int) -> list[bytes]:
        cur = self._c.execute(
            "SELECT leaf_hash FROM audit_events WHERE idx < ? ORDER BY idx", (size,)
        )
        return [bytes(r[0]) for r in cur.fetchall()]

    async def query(self, q: AuditQuery) -> list[LogRow]:
        return await self._run(lambda: self.query_sync(q))

    def query_sync(self, q: AuditQuery) -> list[LogRow]:
        sql, args = _query_sql(q, "?")
        rows = self._c.execute(sql, args).fetchall()
        subs = self._subjects_of([_idx(r[0]) for r in rows])
        return [_row(r, subs.get(_idx(r[0]), ())) for r in rows]


def _query_sql(q: AuditQuery, ph: str) -> tuple[str, list[Any]]:
    """SELECT for ``q``; ``ph`` is "?" (SQLite) or "$" (PostgreSQL numbered)."""
    where: list[str] = []
    args: list[Any] = []

    def p(value: Any) -> str:
        args.append(value)
        return "?" if ph == "?" else f"${len(args)}"

    # The join comes first in the SQL text, so its "?" must be bound first too.
    join = ""
    if q.subject is not None:
        join = f" JOIN audit_subjects s ON s.idx = e.idx AND s.subject = {p(q.subject)}"
    for col, val in (
        ("actor_token_id", q.actor_token_id),
        ("actor_role", q.actor_role),
        ("purpose", q.purpose),
        ("case_id", q.case_id),
        ("kind", q.kind),
    ):
        if val is not None:
            where.append(f"e.{col} = {p(val)}")
    if q.since is not None:
        where.append(f"e.time >= {p(format_time(q.since))}")
    if q.until is not None:
        where.append(f"e.time < {p(format_time(q.until))}")
    where.append(f"e.idx > {p(q.after_index)}")
    cols = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
    sql = (
        f"SELECT {cols} FROM audit_events e{join} WHERE {' AND '.join(where)} "
        f"ORDER BY e.idx LIMIT {p(q.limit)}"
    )
    return sql, args


# ---------------------------------------------------------------------------- PostgreSQL

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_events (
    idx BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_token_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    purpose TEXT,
    case_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor_token_id, idx);
CREATE INDEX IF NOT EXISTS audit_events_purpose ON audit_events (purpose, idx);
CREATE INDEX IF NOT EXISTS audit_events_case ON audit_events (case_id, idx);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time);
CREATE TABLE IF NOT EXISTS audit_subjects (
    subject TEXT NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (subject, idx)
);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq BIGSERIAL PRIMARY KEY,
    size BIGINT NOT NULL,
    note BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (id INT PRIMARY KEY CHECK (id = 1), frontier BYTEA NOT NULL);
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit tables are append-only'; END $$;
"""


def _pg_triggers() -> list[str]:
    out = []
    for table in _APPEND_ONLY:
        out.append(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger "
            f"WHERE tgname = '{table}_append_only' AND tgrelid = '{table}'::regclass) "
            f"THEN CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_append_only(); "
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only(); END IF; END $$;"
        )
    return out


class PostgresAuditStore:
    """The scale-out store: many proxy replicas append through one head row lock.

    ``statement_timeout`` bounds every statement server-side, so a write the trail gave
    up on (its own timeout) does not hold a connection and the head lock for long.
    """

    def __init__(
        self,
        dsn: str,
        *,
        statement_timeout: float = 5.0,
        pool_size: int = 4,
        schema: str | None = None,
    ) -> None:
        # ``?schema=NAME`` is chatwarden's own URL parameter (asyncpg would send it to the
        # server as a setting); the default schema matches the message storage's.
        parsed = urlparse(dsn)
        query = parse_qsl(parsed.query, keep_blank_values=True)
        url_schema = next((v for k, v in query if k == "schema"), None)
        self._dsn = urlunparse(
            parsed._replace(query=urlencode([(k, v) for k, v in query if k != "schema"]))
        )
        self._schema = schema or url_schema or "chatwarden"
        if not _SCHEMA_NAME.fullmatch(self._schema):
            raise AuditError("a schema name is lower-case letters, digits and _")
        self._stmt_ms = int(statement_timeout * 1000)
        self._pool_size = pool_size
        self._pool: Any = None
        self._origin = ""
        self._commits = GroupCommit(self._write_batch)

    @property
    def origin(self) -> str:
        return self._origin

    async def open(self) -> None:
        # Imported here: the PostgreSQL backend is optional at import time.
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            server_settings={"statement_timeout": str(self._stmt_ms), "search_path": self._schema},
        )
        async with self._pool.acquire() as conn, conn.transaction():
            # One setup at a time across replicas.
            await conn.execute("SELECT pg_advisory_xact_lock(727001)")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(PG_SCHEMA)
            for stmt in _pg_triggers():
                await conn.execute(stmt)
            origin = await conn.fetchval("SELECT value FROM audit_meta WHERE key = 'origin'")
            if origin is None:
                origin = ORIGIN_PREFIX + uuid.uuid4().hex
                await conn.execute(
                    "INSERT INTO audit_meta (key, value) VALUES ('origin', $1)", origin
                )
                await conn.execute(
                    "INSERT INTO audit_head (id, frontier) VALUES (1, $1)", Frontier().encode()
                )
        self._origin = str(origin)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def append(self, step: AppendStep) -> Result:
        if self._pool is None:
            raise AuditError("audit store is not open")
        return await self._commits.submit(step)

    async def _write_batch(self, steps: list[AppendStep]) -> list[Result | Exception]:
        results: list[Result | Exception] = []
        async with self._pool.acquire() as conn, conn.transaction():
            blob = await conn.fetchval("SELECT frontier FROM audit_head WHERE id = 1 FOR UPDATE")
            head = Frontier.decode(bytes(blob))
            top = await conn.fetchval("SELECT MAX(idx) FROM audit_events")
            if head.size != (-1 if top is None else int(top)) + 1:
                raise StoreCorrupt("audit head does not match the stored entries; run audit verify")
            last = await conn.fetchval(
                "SELECT note FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
            )
            last_cp = Checkpoint.parse(bytes(last)) if last is not None else None
            start = head.size
            for step in steps:
                try:
                    row, new_head, cp = step(head, last_cp, self._origin)
                except Exception as exc:  # a step's own failure fails only that append
                    results.append(exc)
                    continue
                try:
                    await self._insert(conn, row, cp)
                except _asyncpg_integrity_error():
                    raise DuplicateEvent(
                        "an audit event with this id is already recorded"
                    ) from None
                head = new_head
                if cp is not None:
                    last_cp = cp.checkpoint
                results.append((row, cp))
            if head.size != start:
                await conn.execute(
                    "UPDATE audit_head SET frontier = $1 WHERE id = 1", head.encode()
                )
        return results

    @staticmethod
    async def _insert(conn: Any, row: LogRow | None, cp: SignedCheckpoint | None) -> None:
        if row is not None:
            await conn.execute(
                f"INSERT INTO audit_events ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                row.index,
                row.event_id,
                row.body,
                row.leaf_hash,
                row.time,
                row.kind,
                row.actor_token_id,
                row.actor_role,
                row.purpose,
                row.case_id,
            )
            if row.subjects:
                await conn.executemany(
                    "INSERT INTO audit_subjects (subject, idx) VALUES ($1, $2)",
                    [(s, row.index) for s in row.subjects],
                )
        if cp is not None:
            await conn.execute(
                "INSERT INTO audit_checkpoints (size, note, key_id, signature) "
                "VALUES ($1,$2,$3,$4)",
                cp.checkpoint.size,
                cp.note,
                cp.key_id,
                cp.signature,
            )

    async def _subjects_of(self, conn: Any, idxs: list[int]) -> dict[int, tuple[str, ...]]:
        if not idxs:
            return {}
        out: dict[int, list[str]] = {}
        for r in await conn.fetch(
            "SELECT subject, idx FROM audit_subjects WHERE idx = ANY($1::bigint[]) "
            "ORDER BY subject",
            idxs,
        ):
            out.setdefault(_idx(r["idx"]), []).append(str(r["subject"]))
        return {k: tuple(v) for k, v in out.items()}

    async def _rows(self, sql: str, *args: Any) -> list[LogRow]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
            subs = await self._subjects_of(conn, [_idx(r[0]) for r in rows])
        return [_row(tuple(r), subs.get(_idx(r[0]), ())) for r in rows]

    async def read_rows(self, start: int, limit: int) -> list[LogRow]:
        return await self._rows(
            f"SELECT {_COLUMNS} FROM audit_events WHERE idx >= $1 ORDER BY idx LIMIT $2",
            start,
            limit,
        )

    async def all_rows(self) -> list[LogRow]:
        return await self._rows(f"SELECT {_COLUMNS} FROM audit_events ORDER BY idx, ctid")

    async def scan(self, batch: int = 5000) -> AsyncIterator[list[LogRow]]:
        """Every stored row in storage order, in pages, from one server-side cursor in a
        read-only snapshot."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(readonly=True, isolation="repeatable_read"),
        ):
            page: list[Any] = []
            async for rec in conn.cursor(
                f"SELECT {_COLUMNS} FROM audit_events ORDER BY idx, ctid", prefetch=batch
            ):
                page.append(tuple(rec))
                if len(page) == batch:
                    yield await self._page(conn, page)
                    page = []
            if page:
                yield await self._page(conn, page)

    async def _page(self, conn: Any, records: list[Any]) -> list[LogRow]:
        subs = await self._subjects_of(conn, [_idx(r[0]) for r in records])
        return [_row(r, subs.get(_idx(r[0]), ())) for r in records]

    async def checkpoints(self) -> list[SignedCheckpoint]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT note, key_id, signature FROM audit_checkpoints ORDER BY seq"
            )
        return [_checkpoint_row(tuple(r)) for r in rows]

    async def find(self, event_id: str) -> LogRow | None:
        rows = await self._rows(
            f"SELECT {_COLUMNS} FROM audit_events WHERE event_id = $1", event_id
        )
        return rows[0] if rows else None

    async def leaf_hashes(self, size: int) -> list[bytes]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT leaf_hash FROM audit_events WHERE idx < $1 ORDER BY idx", size
            )
        return [bytes(r[0]) for r in rows]

    async def query(self, q: AuditQuery) -> list[LogRow]:
        sql, args = _query_sql(q, "$")
        return await self._rows(sql, *args)


def store_from_url(url: str, *, read_only: bool = False, timeout: float = 5.0) -> AuditStore:
    """``sqlite:///abs/path``, ``sqlite:rel/path`` or a bare path -> SQLite;
    ``postgresql://...`` / ``postgres://...`` -> PostgreSQL."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgresql", "postgres"):
        return PostgresAuditStore(url, statement_timeout=max(timeout * 2, 1.0))
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path if parsed.netloc == "" else parsed.netloc + parsed.path)
        if url.startswith("sqlite:") and not url.startswith("sqlite://"):
            path = url[len("sqlite:") :]
        return SQLiteAuditStore(path, read_only=read_only)
    if parsed.scheme in ("", "file"):
        return SQLiteAuditStore(
            parsed.path if parsed.scheme == "file" else url, read_only=read_only
        )
    raise AuditError("storage url scheme is not supported; use sqlite:///PATH or postgresql://...")

"""SQLite backend: the embedded default (``sqlite:///path/to/chatwarden.db``).

One writing connection, owned by one dedicated thread (a single-thread executor), so the
event loop never blocks on disk and there is exactly one writer per process; reads run on
a small pool of reader threads with their own connections (WAL lets them read while the
writer commits), so a replay check never waits behind an fsync. Writes run in
``BEGIN IMMEDIATE`` transactions with ``journal_mode=WAL`` and ``synchronous=FULL``: when
a call returns, its transaction is on disk. ``busy_timeout`` lets other processes (the
CLI, a second proxy on the same file) wait their turn instead of failing at once.

Tables::

    messages       seq INTEGER PRIMARY KEY AUTOINCREMENT (ingest order), UNIQUE(tenant,
                   message_id); times as integer microseconds since the epoch (UTC);
                   text_digest (keyed, see proxy.storage.base.same_message) is NULL on
                   rows stored before it existed (opening adds the column to old files)
    message_ids    (tenant, message_id) -> seq, response: every id ever stored. Deleting a
                   message (retention, erasure) leaves this row as a tombstone, so a late
                   retry is answered with the original response and never stores it again
    conversations  (tenant, conversation_id) -> purposes, placeholder state + version
    data_keys      (tenant, conversation_id) -> region, dek_id, key_id, wrapped, created_at
                   (the ingest path writes both within its put: see _put_group)
    outbox         id, tenant, message_id, destination, payload, attempts, next_at, last_error

Invariant: a stored message's ``purposes`` equal its conversation's purposes (a put or
``add_conversation_purposes`` that widens them re-tags the conversation's messages).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from proxy.storage.base import (
    LOOKUP_CHUNK,
    ConversationSnapshot,
    ConversationState,
    ConversationWrite,
    DataKeyRecord,
    OutboxItem,
    OutboxRow,
    Page,
    StoredMessage,
    admit,
    check_record,
    check_writes,
    decode_cursor,
    decode_entities,
    decode_purposes,
    encode_cursor,
    encode_entities,
    encode_purposes,
    evolve,
    purpose_pattern,
    same_message,
)
from proxy.storage.batching import GroupCommitter, Put, Result
from proxy.storage.errors import MessageIdReused, StorageUnavailable, WriteConflict

__all__ = ["SQLiteStorage", "merge_purposes"]

T = TypeVar("T")
# How long a look-up on the event loop's connection waits for a lock before it moves to
# a reader thread (see SQLiteStorage._point_read).
_LOOP_BUSY_MS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    sender_role     TEXT NOT NULL,
    recipient_id    TEXT,
    sent_at         INTEGER NOT NULL,
    order_id        TEXT,
    dispute_id      TEXT,
    region          TEXT NOT NULL,
    lang            TEXT,
    redacted        TEXT NOT NULL,
    entities        BLOB NOT NULL,
    purposes        TEXT NOT NULL,
    retention_until INTEGER,
    sealed          BLOB NOT NULL,
    schema_version  INTEGER NOT NULL,
    ingested_at     INTEGER NOT NULL,
    response        BLOB NOT NULL,
    text_digest     BLOB,
    UNIQUE (tenant, message_id)
);
CREATE TABLE IF NOT EXISTS message_ids (
    tenant      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    response    BLOB NOT NULL,
    PRIMARY KEY (tenant, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (tenant, conversation_id, seq);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (tenant, sender_id, seq);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages (tenant, recipient_id);
CREATE INDEX IF NOT EXISTS messages_sent_at ON messages (tenant, sent_at);
CREATE INDEX IF NOT EXISTS messages_retention ON messages (retention_until);
CREATE TABLE IF NOT EXISTS conversations (
    tenant          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    purposes        TEXT NOT NULL DEFAULT '',
    state           BLOB,
    state_version   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, conversation_id)
);
CREATE TABLE IF NOT EXISTS data_keys (
    tenant          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    region          TEXT NOT NULL,
    dek_id          BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    wrapped         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant, conversation_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    destination TEXT NOT NULL,
    payload     BLOB NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at);
"""

_COLUMNS = (
    "seq, tenant, message_id, conversation_id, sender_id, sender_role, recipient_id, sent_at,"
    " order_id, dispute_id, region, lang, redacted, entities, purposes, retention_until,"
    " sealed, schema_version, ingested_at, response, text_digest"
)


def _migrate(c: sqlite3.Connection) -> None:
    """Bring a database an earlier version created up to this schema (columns added
    since; their old rows keep NULL there)."""
    c.execute("BEGIN IMMEDIATE")
    try:
        columns = {r[1] for r in c.execute("PRAGMA table_info(messages)")}
        if "text_digest" not in columns:
            c.execute("ALTER TABLE messages ADD COLUMN text_digest BLOB")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _opt_us(dt: datetime | None) -> int | None:
    return None if dt is None else to_us(dt)


def _message(r: Sequence[Any]) -> StoredMessage:
    return StoredMessage(
        seq=r[0],
        tenant=r[1],
        message_id=r[2],
        conversation_id=r[3],
        sender_id=r[4],
        sender_role=r[5],
        recipient_id=r[6],
        sent_at=from_us(r[7]),
        order_id=r[8],
        dispute_id=r[9],
        region=r[10],
        lang=r[11],
        redacted=r[12],
        entities=decode_entities(r[13]),
        purposes=decode_purposes(r[14]),
        retention_until=None if r[15] is None else from_us(r[15]),
        sealed=bytes(r[16]),
        schema_version=r[17],
        ingested_at=from_us(r[18]),
        response=bytes(r[19]),
        text_digest=None if r[20] is None else bytes(r[20]),
    )


def _data_key(r: Sequence[Any]) -> DataKeyRecord:
    return DataKeyRecord(
        tenant=r[0],
        conversation_id=r[1],
        region=r[2],
        dek_id=bytes(r[3]),
        key_id=r[4],
        wrapped=bytes(r[5]),
        created_at=from_us(r[6]),
    )


def _unavailable(exc: BaseException) -> StorageUnavailable:
    """What a failed SQLite operation becomes (the message names no data)."""
    return StorageUnavailable(
        "the SQLite database did not complete the operation; check disk space and "
        "file permissions, then retry",
        type(exc).__name__,
    )


class SQLiteStorage:
    """:class:`~proxy.storage.base.Storage` on one SQLite file. Build with
    :func:`proxy.storage.open_storage` or ``await SQLiteStorage(path).open()``."""

    def __init__(
        self, path: Path | str, *, busy_timeout: float = 5.0, readers: int = 2
    ) -> None:
        self._path = str(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatwarden-sqlite")
        # An in-memory database exists only in the writer's connection: read there too.
        self._readers = (
            ThreadPoolExecutor(max_workers=readers, thread_name_prefix="chatwarden-sqlite-read")
            if readers > 0 and self._path != ":memory:"
            else None
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        # The event loop's own read connection (see _point_read), opened on first use.
        self._loop_conn: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        # Concurrent puts share one transaction (one fsync): see proxy.storage.batching.
        self._committer = GroupCommitter(self._put_batch)

    def __repr__(self) -> str:
        return f"SQLiteStorage(path={self._path!r})"

    # -- plumbing
    async def _run(self, fn: Callable[[], T], executor: ThreadPoolExecutor | None = None) -> T:
        if self._closed:
            raise StorageUnavailable("storage is closed; restart the service", "closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor or self._executor, fn)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise _unavailable(exc) from None

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.OperationalError("not open")
        return self._conn

    def _reader(self) -> sqlite3.Connection:
        """This reader thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA query_only = ON")
            with self._reader_lock:
                self._reader_conns.append(conn)
            self._local.conn = conn
        return conn

    async def _point_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn`` that looks up a few rows by key on the event loop's own
        connection, without a thread hop.

        The ingest path makes up to three such look-ups per request: the replay check of
        all its message ids, the state and purposes of all its conversations, and a data
        key the sealer has not cached. Each takes tens of microseconds in SQLite, while a
        hop to a reader thread costs more than that and, when the event loop is busy,
        waits for the GIL. In WAL mode a reader never waits for the writer, so a look-up
        cannot stall the loop behind a commit; if the database is locked anyway (WAL
        recovery after a crash), the look-up is retried on a reader thread, which waits
        the full busy timeout. Scans (queries, exports) always run on reader threads.
        """
        if self._readers is None or self._closed:
            return await self._read(fn)
        conn = self._loop_conn
        try:
            if conn is None:
                # Only ever used from the event loop's thread; not checked, so that a
                # store handed to another loop (tests, tools) keeps working.
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {_LOOP_BUSY_MS}")
                conn.execute("PRAGMA query_only = ON")
                self._loop_conn = conn
            return fn(conn)
        except sqlite3.OperationalError:
            return await self._read(fn)  # locked, or could not open: the thread path
        except (sqlite3.DatabaseError, OSError) as exc:
            raise _unavailable(exc) from None

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn`` on a reader thread (on the writer without readers)."""
        if self._readers is None:
            return await self._run(lambda: fn(self._c()))
        return await self._run(lambda: fn(self._reader()), self._readers)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        c = self._c()
        c.execute("BEGIN IMMEDIATE")
        try:
            out = fn(c)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return out

    async def open(self) -> SQLiteStorage:
        await self._run(self._open_sync)
        return self

    def _open_sync(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        c = sqlite3.connect(self._path, isolation_level=None)
        c.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = FULL")
        # Deleted content (a shredded data key) is overwritten, not left in free pages.
        c.execute("PRAGMA secure_delete = ON")
        c.executescript(_SCHEMA)
        _migrate(c)
        self._conn = c

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._closed = True
            if self._loop_conn is not None:
                self._loop_conn.close()
                self._loop_conn = None
            self._executor.shutdown(wait=True)
            if self._readers is not None:
                self._readers.shutdown(wait=True)
            with self._reader_lock:
                for conn in self._reader_conns:
                    conn.close()
                self._reader_conns.clear()

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def ping(self) -> None:
        await self._run(lambda: self._c().execute("SELECT 1").fetchone())

    # -- messages
    async def put_messages(
        self,
        records: Sequence[StoredMessage],
        outbox: Sequence[OutboxItem] = (),
        *,
        conversations: Sequence[ConversationWrite] = (),
    ) -> list[tuple[StoredMessage, bool]]:
        for r in records:
            check_record(r)
        check_writes(conversations)
        return await self._committer.put(records, outbox, conversations)

    async def _put_batch(self, puts: list[Put]) -> list[Result | WriteConflict]:
        return await self._run(lambda: self._write(lambda c: self._put_group(c, puts)))

    def _put_group(self, c: sqlite3.Connection, puts: list[Put]) -> list[Result | WriteConflict]:
        """The group's transaction: each call's conversation writes are checked and applied
        in queue order (the single writer holds the database, so what it reads is what it
        commits); the records of the admitted calls are then put together."""
        outcomes: list[Result | WriteConflict] = []
        admitted: list[int] = []
        for i, p in enumerate(puts):
            conflict = self._write_conversations(c, p.conversations)
            outcomes.append(conflict if conflict is not None else [])
            if conflict is None:
                admitted.append(i)
        records = [r for i in admitted for r in puts[i].records]
        results = self._put(c, records, [o for i in admitted for o in puts[i].outbox])
        at = 0
        for i in admitted:
            n = len(puts[i].records)
            outcomes[i] = results[at : at + n]
            at += n
        return outcomes

    @staticmethod
    def _write_conversations(
        c: sqlite3.Connection, writes: Sequence[ConversationWrite]
    ) -> WriteConflict | None:
        """Check one call's conversation writes and, if all hold, apply them."""
        if not writes:
            return None
        versions: dict[tuple[str, str], int] = {}
        keys: dict[tuple[str, str], bytes | None] = {}
        for w in writes:
            k = (w.tenant, w.conversation_id)
            # One statement for both (each statement is another wait for the GIL when the
            # event loop is busy); a missing row reads as NULL.
            version, dek_id = c.execute(
                "SELECT (SELECT state_version FROM conversations"
                " WHERE tenant = ?1 AND conversation_id = ?2),"
                " (SELECT dek_id FROM data_keys WHERE tenant = ?1 AND conversation_id = ?2)",
                k,
            ).fetchone()
            versions[k] = version or 0
            keys[k] = None if dek_id is None else bytes(dek_id)
        conflict = admit(writes, versions, keys)
        if conflict is not None:
            return conflict
        for w in writes:
            if w.state is not None:
                _store_state(c, w.tenant, w.conversation_id, w.state, w.expected_version + 1)
            if w.new_key is not None:
                # Checked absent above: a key there now would be a bug, and fails the put.
                _insert_data_key(c, w.new_key, if_absent=False)
        return None

    def _put(
        self, c: sqlite3.Connection, records: list[StoredMessage], outbox: list[OutboxItem]
    ) -> list[tuple[StoredMessage, bool]]:
        """Store the new records of a put, in few statements: one look-up of the ids
        already known, one purpose merge per conversation (not per message), and one
        ``executemany`` per table (measured alone: the writer thread's CPU per message fell
        from ~44 to ~41 us). Sequence numbers are given here, after the table's
        AUTOINCREMENT counter (the writer holds the database; a later insert without one
        continues after the highest given). Every message of a conversation carries the
        conversation's final purposes, as it would after merging one message at a time.
        """
        # (record, fields to change in it, created): each returned record is built once,
        # at the end, with its seq and its conversation's final purposes.
        results: list[tuple[StoredMessage, dict[str, Any], bool]] = []
        # message_ids holds every id ever stored (written with the message, kept when the
        # message is deleted): one look-up for the whole put tells new messages from
        # replays.
        known_ids = self._known_ids(c, records)
        new: dict[tuple[str, str], StoredMessage] = {}
        adds: dict[tuple[str, str], set[str]] = {}
        for rec in records:
            key = (rec.tenant, rec.message_id)
            first = new.get(key)
            if first is not None:  # the same id twice in this put: the second replays
                if not same_message(first, rec.conversation_id, rec.text_digest):
                    raise MessageIdReused(rec.message_id)  # rolls the whole put back
                results.append((first, {}, False))
                continue
            known = known_ids.get(key)
            if known is not None:
                row = c.execute(
                    f"SELECT {_COLUMNS} FROM messages WHERE seq = ?", (known[0],)
                ).fetchone()
                if row is not None:
                    stored = _message(row)
                    if not same_message(stored, rec.conversation_id, rec.text_digest):
                        raise MessageIdReused(rec.message_id)  # rolls the whole put back
                    results.append((stored, {}, False))
                else:  # stored once, since deleted (retention, erasure)
                    results.append((rec, {"seq": known[0], "response": bytes(known[1])}, False))
                continue
            new[key] = rec
            adds.setdefault((rec.tenant, rec.conversation_id), set()).update(rec.purposes)
            results.append((rec, {}, True))
        # Purposes each conversation has after this put (read back only for conversations
        # of replays alone).
        final = {k: self._merge_purposes(c, *k, add) for k, add in adds.items()}
        seqs: dict[tuple[str, str], int] = {}
        encoded = {k: encode_purposes(v) for k, v in final.items()}
        if new:
            row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
            base = row[0] if row is not None else 0
            seqs = {key: base + i for i, key in enumerate(new, start=1)}
            c.executemany(
                f"INSERT INTO messages ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        seqs[key],
                        rec.tenant,
                        rec.message_id,
                        rec.conversation_id,
                        rec.sender_id,
                        rec.sender_role,
                        rec.recipient_id,
                        to_us(rec.sent_at),
                        rec.order_id,
                        rec.dispute_id,
                        rec.region,
                        rec.lang,
                        rec.redacted,
                        encode_entities(rec.entities),
                        encoded[(rec.tenant, rec.conversation_id)],
                        _opt_us(rec.retention_until),
                        rec.sealed,
                        rec.schema_version,
                        to_us(rec.ingested_at),
                        rec.response,
                        rec.text_digest,
                    )
                    for key, rec in new.items()
                ],
            )
            c.executemany(
                "INSERT INTO message_ids (tenant, message_id, seq, response) VALUES (?, ?, ?, ?)",
                [(rec.tenant, rec.message_id, seqs[key], rec.response) for key, rec in new.items()],
            )
        items = [item for item in outbox if (item.tenant, item.message_id) in new]
        if items:
            c.executemany(
                "INSERT INTO outbox (tenant, message_id, destination, payload, next_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (item.tenant, item.message_id, item.destination, item.payload,
                     to_us(new[(item.tenant, item.message_id)].ingested_at))
                    for item in items
                ],
            )
        convs = {(m.tenant, m.conversation_id) for m, _, _ in results}
        for k in convs - final.keys():
            final[k] = self._purposes_sync(c, *k)
        out: list[tuple[StoredMessage, bool]] = []
        for m, changes, created in results:
            if (m.tenant, m.message_id) in seqs:  # created here, or its repeat in this put
                changes = {"seq": seqs[(m.tenant, m.message_id)]}
            purposes = final[(m.tenant, m.conversation_id)]
            if changes or purposes != m.purposes:
                m = evolve(m, purposes=purposes, **changes)
            out.append((m, created))
        return out

    @staticmethod
    def _known_ids(
        c: sqlite3.Connection, records: list[StoredMessage]
    ) -> dict[tuple[str, str], tuple[int, bytes]]:
        """(tenant, message_id) -> (seq, response) of the records' ids already stored."""
        by_tenant: dict[str, list[str]] = {}
        for rec in records:
            by_tenant.setdefault(rec.tenant, []).append(rec.message_id)
        known: dict[tuple[str, str], tuple[int, bytes]] = {}
        for tenant, ids in by_tenant.items():
            for mid, seq, response in _rows_for_keys(
                c, "SELECT message_id, seq, response FROM message_ids", "message_id", tenant, ids
            ):
                known[(tenant, mid)] = (seq, response)
        return known

    @staticmethod
    def _purposes_sync(c: sqlite3.Connection, tenant: str, cid: str) -> frozenset[str]:
        row = _purposes_row(c, tenant, cid)
        return decode_purposes(row[0] if row else None)

    def _merge_purposes(
        self, c: sqlite3.Connection, tenant: str, cid: str, add: Iterable[str]
    ) -> frozenset[str]:
        return merge_purposes(c, tenant, cid, add)

    async def get_message(self, tenant: str, message_id: str) -> StoredMessage | None:
        def q(c: sqlite3.Connection) -> StoredMessage | None:
            row = c.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE tenant = ? AND message_id = ?",
                (tenant, message_id),
            ).fetchone()
            return None if row is None else _message(row)

        return await self._point_read(q)

    async def get_messages(
        self, tenant: str, message_ids: Sequence[str]
    ) -> dict[str, StoredMessage]:

        def q(c: sqlite3.Connection) -> dict[str, StoredMessage]:
            rows = _rows_for_keys(
                c, f"SELECT {_COLUMNS} FROM messages", "message_id", tenant, message_ids
            )
            return {m.message_id: m for m in map(_message, rows)}

        return await self._point_read(q) if message_ids else {}

    async def query_messages(
        self,
        tenant: str,
        *,
        purpose: str | None,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        start = decode_cursor(after)
        limit = max(1, limit)
        sql = [f"SELECT {_COLUMNS} FROM messages WHERE tenant = ? AND seq > ?"]
        args: list[Any] = [tenant, start]
        if purpose is not None:
            sql.append("AND purposes LIKE ? ESCAPE '\\'")
            args.append(purpose_pattern(purpose))
        if conversation_id is not None:
            sql.append("AND conversation_id = ?")
            args.append(conversation_id)
        if sender_id is not None:
            sql.append("AND sender_id = ?")
            args.append(sender_id)
        if since is not None:
            sql.append("AND sent_at >= ?")
            args.append(to_us(since))
        if until is not None:
            sql.append("AND sent_at < ?")
            args.append(to_us(until))
        sql.append("ORDER BY seq LIMIT ?")
        args.append(limit + 1)
        text = " ".join(sql)
        rows = await self._read(lambda c: c.execute(text, args).fetchall())
        items = tuple(_message(r) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].seq) if more else None)

    # -- conversations
    async def add_conversation_purposes(
        self, tenant: str, conversation_id: str, purposes: Iterable[str]
    ) -> frozenset[str]:
        add = frozenset(purposes)
        encode_purposes(add)  # validate before touching the database
        return await self._run(
            lambda: self._write(lambda c: self._merge_purposes(c, tenant, conversation_id, add))
        )

    async def conversation_purposes(self, tenant: str, conversation_id: str) -> frozenset[str]:
        return await self._point_read(lambda c: self._purposes_sync(c, tenant, conversation_id))

    async def get_conversation_state(
        self, tenant: str, conversation_id: str
    ) -> ConversationState | None:
        def q(c: sqlite3.Connection) -> ConversationState | None:
            row = c.execute(
                "SELECT state, state_version FROM conversations"
                " WHERE tenant = ? AND conversation_id = ?",
                (tenant, conversation_id),
            ).fetchone()
            if row is None or row[0] is None:
                return None
            return ConversationState(bytes(row[0]), row[1])

        return await self._point_read(q)

    async def get_conversations(
        self, tenant: str, conversation_ids: Sequence[str]
    ) -> dict[str, ConversationSnapshot]:

        def q(c: sqlite3.Connection) -> dict[str, ConversationSnapshot]:
            rows = _rows_for_keys(
                c,
                "SELECT conversation_id, state, state_version, purposes FROM conversations",
                "conversation_id",
                tenant,
                conversation_ids,
            )
            return {
                cid: ConversationSnapshot(
                    None if state is None else ConversationState(bytes(state), version),
                    decode_purposes(purposes),
                )
                for cid, state, version, purposes in rows
            }

        return await self._point_read(q) if conversation_ids else {}

    async def put_conversation_state(
        self,
        tenant: str,
        conversation_id: str,
        data: bytes,
        *,
        expected_version: int | None = None,
    ) -> bool:
        def w(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT state_version FROM conversations WHERE tenant = ? AND conversation_id = ?",
                (tenant, conversation_id),
            ).fetchone()
            current = row[0] if row else 0
            if expected_version is not None and current != expected_version:
                return False
            _store_state(c, tenant, conversation_id, data, current + 1)
            return True

        return await self._run(lambda: self._write(w))

    # -- data keys
    async def get_data_key(self, tenant: str, conversation_id: str) -> DataKeyRecord | None:
        def q(c: sqlite3.Connection) -> DataKeyRecord | None:
            row = c.execute(
                "SELECT tenant, conversation_id, region, dek_id, key_id, wrapped, created_at"
                " FROM data_keys WHERE tenant = ? AND conversation_id = ?",
                (tenant, conversation_id),
            ).fetchone()
            return None if row is None else _data_key(row)

        return await self._point_read(q)

    async def put_data_key_if_absent(self, record: DataKeyRecord) -> DataKeyRecord:
        def w(c: sqlite3.Connection) -> DataKeyRecord:
            _insert_data_key(c, record, if_absent=True)
            row = c.execute(
                "SELECT tenant, conversation_id, region, dek_id, key_id, wrapped, created_at"
                " FROM data_keys WHERE tenant = ? AND conversation_id = ?",
                (record.tenant, record.conversation_id),
            ).fetchone()
            return _data_key(row)

        return await self._run(lambda: self._write(w))

    async def replace_data_key_wrapping(
        self, record: DataKeyRecord, *, expected_key_id: str
    ) -> bool:
        def w(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE data_keys SET key_id = ?, wrapped = ? WHERE tenant = ?"
                " AND conversation_id = ? AND dek_id = ? AND key_id = ?",
                (record.key_id, record.wrapped, record.tenant, record.conversation_id,
                 record.dek_id, expected_key_id),
            )
            return cur.rowcount == 1

        return await self._run(lambda: self._write(w))

    async def delete_data_key(self, tenant: str, conversation_id: str) -> bool:
        def w(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "DELETE FROM data_keys WHERE tenant = ? AND conversation_id = ?",
                (tenant, conversation_id),
            )
            return cur.rowcount == 1

        deleted = await self._run(lambda: self._write(w))
        if deleted:
            # Copy the WAL into the main file and truncate it, so the old page holding
            # the wrapped key does not linger in the log (best effort: readers may pin it).
            # The PRAGMA answers a row; read it, or the statement stays open on the
            # writer's connection and its next COMMIT fails ("statements in progress").
            await self._run(
                lambda: self._c().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            )
        return deleted

    async def iter_data_keys(self, *, batch: int = 500) -> AsyncIterator[DataKeyRecord]:
        last = ("", "")
        while True:
            rows = await self._read(
                lambda c, last=last: c.execute(  # type: ignore[misc]
                    "SELECT tenant, conversation_id, region, dek_id, key_id, wrapped,"
                    " created_at FROM data_keys WHERE (tenant, conversation_id) > (?, ?)"
                    " ORDER BY tenant, conversation_id LIMIT ?",
                    (last[0], last[1], batch),
                ).fetchall()
            )
            for r in rows:
                yield _data_key(r)
            if len(rows) < batch:
                return
            last = (rows[-1][0], rows[-1][1])

    # -- outbox
    async def outbox_fetch_due(
        self, now: datetime, limit: int, *, lease_seconds: float = 30.0
    ) -> list[OutboxRow]:
        def w(c: sqlite3.Connection) -> list[OutboxRow]:
            rows = c.execute(
                "SELECT id, tenant, message_id, destination, payload, attempts, next_at,"
                " last_error FROM outbox WHERE next_at <= ? ORDER BY next_at, id LIMIT ?",
                (to_us(now), limit),
            ).fetchall()
            lease = to_us(now + timedelta(seconds=lease_seconds))
            c.executemany("UPDATE outbox SET next_at = ? WHERE id = ?",
                          [(lease, r[0]) for r in rows])
            return [
                OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], from_us(r[6]), r[7])
                for r in rows
            ]

        return await self._run(lambda: self._write(w))

    async def outbox_done(self, id: int) -> None:
        await self._run(
            lambda: self._write(lambda c: c.execute("DELETE FROM outbox WHERE id = ?", (id,)))
        )

    async def outbox_retry(self, id: int, next_at: datetime, error_kind: str) -> None:
        await self._run(
            lambda: self._write(
                lambda c: c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?"
                    " WHERE id = ?",
                    (to_us(next_at), error_kind[:100], id),
                )
            )
        )


def _store_state(
    c: sqlite3.Connection, tenant: str, cid: str, data: bytes, version: int
) -> None:
    """Write a conversation's placeholder state as ``version`` (creating the row)."""
    c.execute(
        "INSERT INTO conversations (tenant, conversation_id, state, state_version)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (tenant, conversation_id) DO UPDATE"
        " SET state = excluded.state, state_version = excluded.state_version",
        (tenant, cid, data, version),
    )


def _insert_data_key(c: sqlite3.Connection, rec: DataKeyRecord, *, if_absent: bool) -> None:
    """Insert a data key; with ``if_absent`` an existing key stays and nothing is written,
    otherwise an existing key makes the insert fail."""
    c.execute(
        "INSERT INTO data_keys (tenant, conversation_id, region, dek_id, key_id, wrapped,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        + (" ON CONFLICT DO NOTHING" if if_absent else ""),
        (rec.tenant, rec.conversation_id, rec.region, rec.dek_id, rec.key_id, rec.wrapped,
         to_us(rec.created_at)),
    )


def _rows_for_keys(
    c: sqlite3.Connection, select: str, column: str, tenant: str, keys: Iterable[str]
) -> Iterator[Any]:
    """The rows of ``select`` (a SELECT ... FROM clause) of ``tenant`` whose ``column`` is
    one of ``keys`` (repeats looked up once), at most LOOKUP_CHUNK keys per statement."""
    keys = list(dict.fromkeys(keys))
    for i in range(0, len(keys), LOOKUP_CHUNK):
        part = keys[i : i + LOOKUP_CHUNK]
        marks = ",".join("?" * len(part))
        yield from c.execute(
            f"{select} WHERE tenant = ? AND {column} IN ({marks})", (tenant, *part)
        )


def _purposes_row(c: sqlite3.Connection, tenant: str, cid: str) -> tuple[Any, ...] | None:
    """The conversation's ``(purposes,)`` row; None when the conversation has no row."""
    row: tuple[Any, ...] | None = c.execute(
        "SELECT purposes FROM conversations WHERE tenant = ? AND conversation_id = ?",
        (tenant, cid),
    ).fetchone()
    return row


def merge_purposes(
    c: sqlite3.Connection, tenant: str, cid: str, add: Iterable[str]
) -> frozenset[str]:
    """Add ``add`` to the conversation (creating it); re-tag its messages if widened. Runs
    in the caller's transaction (the case store's approval uses it too)."""
    row = _purposes_row(c, tenant, cid)
    old = decode_purposes(row[0] if row else None)
    new = old | frozenset(add)
    if row is not None and new == old:
        return old  # nothing to write (most messages of a known conversation)
    enc = encode_purposes(new)
    c.execute(
        "INSERT INTO conversations (tenant, conversation_id, purposes) VALUES (?, ?, ?)"
        " ON CONFLICT (tenant, conversation_id) DO UPDATE SET purposes = excluded.purposes",
        (tenant, cid, enc),
    )
    if new != old:
        c.execute(
            "UPDATE messages SET purposes = ? WHERE tenant = ? AND conversation_id = ?",
            (enc, tenant, cid),
        )
    return new


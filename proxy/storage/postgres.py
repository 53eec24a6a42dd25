"""PostgreSQL backend (``postgresql://user@host:port/db[?schema=NAME]``) via an asyncpg pool.

For many stateless proxy replicas sharing one database. Same behaviour as the SQLite
backend (see :mod:`proxy.storage.base`); the differences are in the layout:

``messages`` is partitioned by month on ``sent_at`` (declarative ``PARTITION BY RANGE``).
Partitions are named ``messages_pYYYYMM``; the current month, the previous one and the next
two are created when the storage opens, and a put for any other month creates its partition
first, in its own short transaction under an advisory lock (so replicas do not race on the
DDL). Dropping a month is ``DROP TABLE messages_pYYYYMM`` — the cheap retention path.

Primary keys start with ``(tenant, conversation_id)`` on every conversation-scoped table
(``messages``: ``(tenant, conversation_id, sent_at, seq)`` — the partition key must be in
it; ``conversations``, ``data_keys``: ``(tenant, conversation_id)``; ``outbox``:
``(tenant, conversation_id, id)``), so a Citus deployment can
``create_distributed_table(..., 'conversation_id')`` on all of them, colocated, without
any schema change. ``message_ids`` — the idempotency table, ``PRIMARY KEY (tenant,
message_id)`` — is the one table keyed otherwise: under Citus it is distributed on
``message_id`` in its own colocation group (or kept as a reference-free local table on a
single node).

Deleting a message (retention, erasure) deletes its ``messages`` row only: the
``message_ids`` row (ids, seq and the ack body — no content) stays as a tombstone, so a
late retry is answered with the original response and never stores the message again.

Idempotency: a put inserts into ``message_ids`` with ``ON CONFLICT DO NOTHING RETURNING
seq``. Two concurrent puts of one id: the second blocks on the first's unique-index entry
until it commits, then inserts nothing and reads the committed record back.

Lock order (no deadlocks): a put first locks its conversations' rows in sorted order
(``SELECT ... FOR UPDATE``), then the data keys its records are sealed under in sorted
order (``FOR KEY SHARE``: a shred's DELETE waits for the put's commit; a rewrap's UPDATE
does not), then inserts message ids in sorted order. Re-tagging takes the same
conversation row lock, so a message stored concurrently with a re-tag always ends up with
the widened purposes. The placeholder state compare-and-set and a new data key of a put
(:class:`~proxy.storage.base.ConversationWrite`) are checked and written under these
locks, in the put's transaction.

Crypto-shredding here deletes the ``data_keys`` row; the old tuple stays in the heap until
autovacuum reuses its space, and in WAL archives and backups. Those copies are wrapped under
a KEK version: after ``chatwarden keys rotate`` + ``keys rewrap`` + ``keys retire`` of the
old version they can never be unwrapped again. (SQLite overwrites deleted content with
``secure_delete`` and checkpoints its WAL at once.)

``seq`` comes from the sequence ``message_seq``: monotonic in allocation order, with gaps
(rolled-back puts), and a transaction that commits late can make a smaller seq appear
after a page was read — the cursor is a position, not a snapshot.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

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
    utc,
)
from proxy.storage.batching import GroupCommitter, Put, Result
from proxy.storage.errors import (
    InvalidStorageUrl,
    MessageIdReused,
    StorageUnavailable,
    WriteConflict,
)

__all__ = ["PostgresStorage", "month_start", "partition_name", "widen_conversations"]

T = TypeVar("T")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_COLUMNS = (
    "seq, tenant, message_id, conversation_id, sender_id, sender_role, recipient_id, sent_at,"
    " order_id, dispute_id, region, lang, redacted, entities, purposes, retention_until,"
    " sealed, schema_version, ingested_at, response, text_digest"
)
_DK_COLUMNS = "tenant, conversation_id, region, dek_id, key_id, wrapped, created_at"


def _ddl(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE SEQUENCE IF NOT EXISTS {s}.message_seq",
        f"""CREATE TABLE IF NOT EXISTS {s}.message_ids (
            tenant          text NOT NULL,
            message_id      text NOT NULL,
            conversation_id text NOT NULL,
            sent_at         timestamptz NOT NULL,
            seq             bigint NOT NULL,
            response        bytea NOT NULL,
            PRIMARY KEY (tenant, message_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.messages (
            tenant          text NOT NULL,
            conversation_id text NOT NULL,
            sent_at         timestamptz NOT NULL,
            seq             bigint NOT NULL,
            message_id      text NOT NULL,
            sender_id       text NOT NULL,
            sender_role     text NOT NULL,
            recipient_id    text,
            order_id        text,
            dispute_id      text,
            region          text NOT NULL,
            lang            text,
            redacted        text NOT NULL,
            entities        bytea NOT NULL,
            purposes        text NOT NULL,
            retention_until timestamptz,
            sealed          bytea NOT NULL,
            schema_version  integer NOT NULL,
            ingested_at     timestamptz NOT NULL,
            response        bytea NOT NULL,
            text_digest     bytea,
            PRIMARY KEY (tenant, conversation_id, sent_at, seq)
        ) PARTITION BY RANGE (sent_at)""",
        # Added after the first release: a table an earlier version created gains it
        # (its partitions too); old rows keep NULL.
        f"ALTER TABLE {s}.messages ADD COLUMN IF NOT EXISTS text_digest bytea",
        f"CREATE INDEX IF NOT EXISTS messages_tenant_seq ON {s}.messages (tenant, seq)",
        f"CREATE INDEX IF NOT EXISTS messages_message_id ON {s}.messages (tenant, message_id)",
        f"CREATE INDEX IF NOT EXISTS messages_conversation ON {s}.messages"
        " (tenant, conversation_id, seq)",
        f"CREATE INDEX IF NOT EXISTS messages_sender ON {s}.messages (tenant, sender_id, seq)",
        f"CREATE INDEX IF NOT EXISTS messages_retention ON {s}.messages (retention_until)",
        f"CREATE INDEX IF NOT EXISTS messages_recipient ON {s}.messages (tenant, recipient_id)",
        f"""CREATE TABLE IF NOT EXISTS {s}.conversations (
            tenant          text NOT NULL,
            conversation_id text NOT NULL,
            purposes        text NOT NULL DEFAULT '',
            state           bytea,
            state_version   integer NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant, conversation_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.data_keys (
            tenant          text NOT NULL,
            conversation_id text NOT NULL,
            region          text NOT NULL,
            dek_id          bytea NOT NULL,
            key_id          text NOT NULL,
            wrapped         bytea NOT NULL,
            created_at      timestamptz NOT NULL,
            PRIMARY KEY (tenant, conversation_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.outbox (
            id              bigserial,
            tenant          text NOT NULL,
            conversation_id text NOT NULL,
            message_id      text NOT NULL,
            destination     text NOT NULL,
            payload         bytea NOT NULL,
            attempts        integer NOT NULL DEFAULT 0,
            next_at         timestamptz NOT NULL,
            last_error      text,
            PRIMARY KEY (tenant, conversation_id, id))""",
        f"CREATE INDEX IF NOT EXISTS outbox_due ON {s}.outbox (next_at)",
        f"CREATE INDEX IF NOT EXISTS outbox_id ON {s}.outbox (id)",
    ]


def month_start(dt: datetime) -> datetime:
    dt = utc(dt)
    return datetime(dt.year, dt.month, 1, tzinfo=UTC)


def _next_month(m: datetime) -> datetime:
    return datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"messages_p{month.year:04d}{month.month:02d}"


def _message(r: Any) -> StoredMessage:
    return StoredMessage(
        seq=r["seq"],
        tenant=r["tenant"],
        message_id=r["message_id"],
        conversation_id=r["conversation_id"],
        sender_id=r["sender_id"],
        sender_role=r["sender_role"],
        recipient_id=r["recipient_id"],
        sent_at=r["sent_at"],
        order_id=r["order_id"],
        dispute_id=r["dispute_id"],
        region=r["region"],
        lang=r["lang"],
        redacted=r["redacted"],
        entities=decode_entities(r["entities"]),
        purposes=decode_purposes(r["purposes"]),
        retention_until=r["retention_until"],
        sealed=bytes(r["sealed"]),
        schema_version=r["schema_version"],
        ingested_at=r["ingested_at"],
        response=bytes(r["response"]),
        text_digest=None if r["text_digest"] is None else bytes(r["text_digest"]),
    )


async def _widen_many(conn: Any, changed: dict[tuple[str, str], frozenset[str]]) -> None:
    """Store widened conversation purposes and re-tag those conversations' messages."""
    if not changed:
        return
    keys = sorted(changed)
    args = ([k[0] for k in keys], [k[1] for k in keys],
            [encode_purposes(changed[k]) for k in keys])
    await conn.execute(
        "UPDATE conversations c SET purposes = u.p"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, c, p)"
        " WHERE c.tenant = u.t AND c.conversation_id = u.c",
        *args,
    )
    await conn.execute(
        "UPDATE messages m SET purposes = u.p"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, c, p)"
        " WHERE m.tenant = u.t AND m.conversation_id = u.c AND m.purposes <> u.p",
        *args,
    )


async def widen_conversations(
    conn: Any, tenant: str, conversation_ids: Iterable[str], add: Iterable[str]
) -> None:
    """Add ``add`` to the purposes of the conversations and re-tag their messages, in the
    caller's transaction (the case store's approval uses it). Rows are locked in sorted
    order, the lock order of every writer."""
    extra = frozenset(add)
    encode_purposes(extra)  # validate before touching the database
    cids = sorted(set(conversation_ids))
    if not cids or not extra:
        return
    await conn.execute(
        "INSERT INTO conversations (tenant, conversation_id)"
        " SELECT $1, c FROM unnest($2::text[]) AS u(c) ORDER BY c ON CONFLICT DO NOTHING",
        tenant, cids,
    )
    rows = await conn.fetch(
        "SELECT conversation_id, purposes FROM conversations"
        " WHERE tenant = $1 AND conversation_id = ANY($2::text[])"
        " ORDER BY conversation_id FOR UPDATE",
        tenant, cids,
    )
    changed: dict[tuple[str, str], frozenset[str]] = {}
    for r in rows:
        old = decode_purposes(r["purposes"])
        if old | extra != old:
            changed[(tenant, r["conversation_id"])] = old | extra
    await _widen_many(conn, changed)


def _data_key(r: Any) -> DataKeyRecord:
    return DataKeyRecord(
        tenant=r["tenant"],
        conversation_id=r["conversation_id"],
        region=r["region"],
        dek_id=bytes(r["dek_id"]),
        key_id=r["key_id"],
        wrapped=bytes(r["wrapped"]),
        created_at=r["created_at"],
    )


def _split_dsn(url: str) -> tuple[str, str | None]:
    """Remove chatwarden's own ``schema`` query parameter (asyncpg would send it to the
    server as a setting) and return it separately."""
    parsed = urlparse(url)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunparse(parsed._replace(query=rest)), schema


async def _fetch_for_keys(
    c: Any, select: str, column: str, tenant: str, keys: Iterable[str]
) -> list[Any]:
    """The rows of ``select`` (a SELECT ... FROM clause) of ``tenant`` whose ``column`` is
    one of ``keys`` (repeats looked up once), at most LOOKUP_CHUNK keys per statement."""
    keys = list(dict.fromkeys(keys))
    rows: list[Any] = []
    for i in range(0, len(keys), LOOKUP_CHUNK):
        rows += await c.fetch(
            f"{select} WHERE tenant = $1 AND {column} = ANY($2::text[])",
            tenant,
            keys[i : i + LOOKUP_CHUNK],
        )
    return rows


class PostgresStorage:
    """:class:`~proxy.storage.base.Storage` on PostgreSQL. Build with
    :func:`proxy.storage.open_storage` or ``await PostgresStorage(url).open()``."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 8,
        command_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        application_name: str = "chatwarden",
    ) -> None:
        dsn, url_schema = _split_dsn(url)
        self._dsn = dsn
        self._schema = schema or url_schema or "chatwarden"
        if not _SCHEMA_NAME.fullmatch(self._schema):
            raise InvalidStorageUrl("a schema name is lower-case letters, digits and _")
        self._pool_size = pool_size
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._application_name = application_name
        self._pool: Any = None
        self._partitions: set[datetime] = set()
        self._asyncpg: Any = None
        # Concurrent puts share transactions; a few may run at once (one per connection).
        self._committer = GroupCommitter(self._put_batch, parallel=max(1, pool_size // 2))

    def __repr__(self) -> str:
        host = urlparse(self._dsn).hostname
        return f"PostgresStorage(host={host!r}, schema={self._schema!r})"

    @property
    def schema(self) -> str:
        return self._schema

    # -- plumbing
    def _errors(self) -> tuple[type[BaseException], ...]:
        a = self._asyncpg
        return (
            a.PostgresError, a.InterfaceError, a.InternalClientError,
            OSError, asyncio.TimeoutError, ConnectionError,
        )

    async def _guard(self, op: Callable[[], Awaitable[T]]) -> T:
        if self._pool is None:
            raise StorageUnavailable("storage is not open; restart the service", "closed")
        try:
            return await op()
        except self._errors() as exc:
            raise StorageUnavailable(
                "PostgreSQL did not complete the operation; check the server and "
                "[storage] url, then retry",
                type(exc).__name__,
            ) from None

    async def _with_conn(self, fn: Callable[[Any], Awaitable[T]], *, tx: bool = False) -> T:
        a = self._asyncpg
        broken = (a.PostgresConnectionError, a.InterfaceError, a.InternalClientError, OSError,
                  ConnectionError, asyncio.TimeoutError)

        async def op() -> T:
            async with self._pool.acquire() as conn:
                try:
                    if not tx:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
                except broken:
                    # Do not hand a connection in an unknown state back to the pool.
                    conn.terminate()
                    raise

        return await self._guard(op)

    async def open(self) -> PostgresStorage:
        import asyncpg  # type: ignore[import-untyped]  # no stubs published

        self._asyncpg = asyncpg
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._command_timeout,
                timeout=self._connect_timeout,
                server_settings={
                    "search_path": self._schema,
                    "application_name": self._application_name,
                },
            )
        except (*self._errors(), ValueError) as exc:  # type: ignore[misc]  # tuple built at runtime
            raise StorageUnavailable(
                "cannot connect to PostgreSQL; check [storage] url and that the server runs",
                type(exc).__name__,
            ) from None

        async def setup(conn: Any) -> None:
            # One replica at a time creates the schema.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chatwarden.schema'))")
            for stmt in _ddl(self._schema):
                await conn.execute(stmt)

        try:
            await self._with_conn(setup, tx=True)
            now = month_start(datetime.now(UTC))
            months = [month_start(now - timedelta(days=1)), now]
            for _ in range(2):
                months.append(_next_month(months[-1]))
            await self._ensure_partitions(months)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        await self._with_conn(lambda c: c.fetchval("SELECT 1"))

    async def _ensure_partitions(self, months: Iterable[datetime]) -> None:
        missing = sorted({month_start(m) for m in months} - self._partitions)
        if not missing:
            return

        async def create(conn: Any) -> None:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chatwarden.partitions'))")
            for m in missing:
                await conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{self._schema}".{partition_name(m)}'
                    f' PARTITION OF "{self._schema}".messages'
                    f" FOR VALUES FROM ('{m.isoformat()}') TO ('{_next_month(m).isoformat()}')"
                )

        await self._with_conn(create, tx=True)
        self._partitions.update(missing)

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
        await self._guard(
            lambda: self._ensure_partitions(r.sent_at for p in puts for r in p.records)
        )
        return await self._with_conn(lambda c: self._put_group(c, puts), tx=True)

    async def _lock_conversation(self, conn: Any, tenant: str, cid: str) -> frozenset[str]:
        await conn.execute(
            "INSERT INTO conversations (tenant, conversation_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            tenant,
            cid,
        )
        text = await conn.fetchval(
            "SELECT purposes FROM conversations WHERE tenant = $1 AND conversation_id = $2"
            " FOR UPDATE",
            tenant,
            cid,
        )
        return decode_purposes(text)

    async def _widen_many(self, conn: Any, changed: dict[tuple[str, str], frozenset[str]]) -> None:
        await _widen_many(conn, changed)

    async def _put_group(self, conn: Any, puts: list[Put]) -> list[Result | WriteConflict]:
        """One group in a constant number of round trips (arrays via ``unnest``): lock,
        admit each call's conversation writes (:func:`admit`), write the admitted ones,
        then put the admitted calls' records."""
        # 1. Lock the group's conversations, in sorted order (the lock order of every writer).
        keys = sorted(
            {(r.tenant, r.conversation_id) for p in puts for r in p.records}
            | {(w.tenant, w.conversation_id) for p in puts for w in p.conversations}
        )
        kt, kc = [k[0] for k in keys], [k[1] for k in keys]
        await conn.execute(
            "INSERT INTO conversations (tenant, conversation_id)"
            " SELECT t, c FROM unnest($1::text[], $2::text[]) AS u(t, c) ORDER BY t, c"
            " ON CONFLICT DO NOTHING",
            kt, kc,
        )
        rows = await conn.fetch(
            "SELECT x.tenant, x.conversation_id, x.purposes, x.state_version"
            " FROM conversations x JOIN unnest($1::text[], $2::text[]) AS u(t, c)"
            " ON x.tenant = u.t AND x.conversation_id = u.c"
            " ORDER BY x.tenant, x.conversation_id FOR UPDATE OF x",
            kt, kc,
        )
        before = {(r["tenant"], r["conversation_id"]): decode_purposes(r["purposes"])
                  for r in rows}
        versions = {(r["tenant"], r["conversation_id"]): r["state_version"] for r in rows}
        # 2. The data keys the calls seal under: read and key-share locked until the commit,
        # so a concurrent shred (DELETE) waits for it and cannot slip in between.
        checked = sorted({(w.tenant, w.conversation_id) for p in puts for w in p.conversations
                          if w.sealed_under is not None})
        dek_ids: dict[tuple[str, str], bytes | None] = dict.fromkeys(checked)
        if checked:
            for r in await conn.fetch(
                "SELECT k.tenant, k.conversation_id, k.dek_id FROM data_keys k"
                " JOIN unnest($1::text[], $2::text[]) AS u(t, c)"
                " ON k.tenant = u.t AND k.conversation_id = u.c"
                " ORDER BY k.tenant, k.conversation_id FOR KEY SHARE OF k",
                [k[0] for k in checked], [k[1] for k in checked],
            ):
                dek_ids[(r["tenant"], r["conversation_id"])] = bytes(r["dek_id"])
        # 3. Admit the calls in queue order; a call whose checks fail is left out whole.
        outcomes: list[Result | WriteConflict] = []
        admitted: list[Put] = []
        states: dict[tuple[str, str], ConversationWrite] = {}
        new_keys: list[DataKeyRecord] = []
        for p in puts:
            conflict = admit(p.conversations, versions, dek_ids)
            outcomes.append(conflict if conflict is not None else [])
            if conflict is not None:
                continue
            admitted.append(p)
            for w in p.conversations:
                if w.state is not None:
                    states[(w.tenant, w.conversation_id)] = w  # a later call's write wins
                if w.new_key is not None:
                    new_keys.append(w.new_key)
        if states:
            sk = sorted(states)
            await conn.execute(
                "UPDATE conversations x SET state = u.s, state_version = u.v"
                " FROM unnest($1::text[], $2::text[], $3::bytea[], $4::integer[])"
                " AS u(t, c, s, v) WHERE x.tenant = u.t AND x.conversation_id = u.c",
                [k[0] for k in sk], [k[1] for k in sk], [states[k].state for k in sk],
                [versions[k] for k in sk],
            )
        if new_keys:
            new_keys.sort(key=lambda d: (d.tenant, d.conversation_id))
            inserted = await conn.fetch(
                f"INSERT INTO data_keys ({_DK_COLUMNS}) SELECT * FROM unnest($1::text[],"
                " $2::text[], $3::text[], $4::bytea[], $5::text[], $6::bytea[],"
                " $7::timestamptz[]) ON CONFLICT DO NOTHING RETURNING tenant, conversation_id",
                [d.tenant for d in new_keys], [d.conversation_id for d in new_keys],
                [d.region for d in new_keys], [d.dek_id for d in new_keys],
                [d.key_id for d in new_keys], [d.wrapped for d in new_keys],
                [utc(d.created_at) for d in new_keys],
            )
            if len(inserted) != len(new_keys):
                # A writer that does not lock the conversation (put_data_key_if_absent)
                # stored a key since step 2: fail the group; each call is retried alone.
                lost = {(d.tenant, d.conversation_id) for d in new_keys} - {
                    (r["tenant"], r["conversation_id"]) for r in inserted
                }
                raise WriteConflict("data_key", min(lost)[1])
        results = await self._put_records(
            conn,
            [r for p in admitted for r in p.records],
            [o for p in admitted for o in p.outbox],
            before,
        )
        at = 0
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, WriteConflict):
                continue
            n = len(puts[i].records)
            outcomes[i] = results[at : at + n]
            at += n
        return outcomes

    async def _put_records(
        self,
        conn: Any,
        records: list[StoredMessage],
        outbox: list[OutboxItem],
        before: dict[tuple[str, str], frozenset[str]],
    ) -> list[tuple[StoredMessage, bool]]:
        """Put ``records`` (their conversations locked, with purposes ``before``)."""
        # 4. Claim message ids: seqs follow input order, inserts go in sorted order.
        first: dict[tuple[str, str], int] = {}
        for i, r in enumerate(records):
            first.setdefault((r.tenant, r.message_id), i)
        uniq = sorted(first.values())
        seqs = [row[0] for row in await conn.fetch(
            "SELECT nextval('message_seq') FROM generate_series(1, $1)", len(uniq))]
        seq_of = dict(zip(uniq, seqs, strict=True))
        claimed = await conn.fetch(
            "INSERT INTO message_ids (tenant, message_id, conversation_id, sent_at, seq,"
            " response) SELECT t, m, c, s, q, r FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::timestamptz[], $5::bigint[], $6::bytea[]) AS u(t, m, c, s, q, r)"
            " ORDER BY t, m ON CONFLICT DO NOTHING RETURNING tenant, message_id",
            [records[i].tenant for i in uniq], [records[i].message_id for i in uniq],
            [records[i].conversation_id for i in uniq],
            [utc(records[i].sent_at) for i in uniq], [seq_of[i] for i in uniq],
            [records[i].response for i in uniq],
        )
        created_keys = {(r["tenant"], r["message_id"]) for r in claimed}
        new = [i for i in uniq if (records[i].tenant, records[i].message_id) in created_keys]
        # 5. Purposes: conversation-scoped, so merge before inserting.
        after = dict(before)
        for i in new:
            k = (records[i].tenant, records[i].conversation_id)
            after[k] = after[k] | records[i].purposes
        stored: dict[tuple[str, str], StoredMessage] = {}
        if new:
            cols: list[list[Any]] = [[] for _ in range(21)]
            for i in new:
                rec = records[i]
                values = (
                    seq_of[i], rec.tenant, rec.message_id, rec.conversation_id, rec.sender_id,
                    rec.sender_role, rec.recipient_id, utc(rec.sent_at), rec.order_id,
                    rec.dispute_id, rec.region, rec.lang, rec.redacted,
                    encode_entities(rec.entities),
                    encode_purposes(after[(rec.tenant, rec.conversation_id)]),
                    None if rec.retention_until is None else utc(rec.retention_until),
                    rec.sealed, rec.schema_version, utc(rec.ingested_at), rec.response,
                    rec.text_digest,
                )
                for col, v in zip(cols, values, strict=True):
                    col.append(v)
                stored[(rec.tenant, rec.message_id)] = evolve(rec, seq=seq_of[i])
            await conn.execute(
                f"INSERT INTO messages ({_COLUMNS}) SELECT * FROM unnest($1::bigint[],"
                " $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
                " $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[],"
                " $13::text[], $14::bytea[], $15::text[], $16::timestamptz[], $17::bytea[],"
                " $18::integer[], $19::timestamptz[], $20::bytea[], $21::bytea[])",
                *cols,
            )
        await self._widen_many(conn, {k: v for k, v in after.items() if v != before[k]})
        # 6. Records that already existed (replays, or lost races): read them back.
        old = {(r.tenant, r.message_id) for r in records} - created_keys
        if old:
            ot = sorted(old)
            for row in await conn.fetch(
                f"SELECT {_COLUMNS} FROM messages m JOIN unnest($1::text[], $2::text[])"
                " AS u(t, i) ON m.tenant = u.t AND m.message_id = u.i",
                [k[0] for k in ot], [k[1] for k in ot],
            ):
                stored[(row["tenant"], row["message_id"])] = _message(row)
            gone = sorted(old - stored.keys())
            if gone:  # stored once, since deleted (retention, erasure): tombstones answer
                rows = await conn.fetch(
                    "SELECT i.tenant, i.message_id, i.seq, i.response FROM message_ids i"
                    " JOIN unnest($1::text[], $2::text[]) AS u(t, m)"
                    " ON i.tenant = u.t AND i.message_id = u.m",
                    [k[0] for k in gone], [k[1] for k in gone],
                )
                for row in rows:
                    key = (row["tenant"], row["message_id"])
                    rec = records[first[key]]
                    stored[key] = evolve(rec, seq=row["seq"], response=bytes(row["response"]))
        # A reused message_id (another conversation or text) is no replay: roll it all back.
        for i, rec in enumerate(records):
            key = (rec.tenant, rec.message_id)
            if key in created_keys and first[key] == i:
                continue
            if not same_message(stored[key], rec.conversation_id, rec.text_digest):
                raise MessageIdReused(rec.message_id)
        # 7. Outbox rows for created messages only.
        items = [it for it in outbox if (it.tenant, it.message_id) in created_keys]
        if items:
            await conn.execute(
                "INSERT INTO outbox (tenant, conversation_id, message_id, destination, payload,"
                " next_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                " $5::bytea[], $6::timestamptz[])",
                [it.tenant for it in items],
                [stored[(it.tenant, it.message_id)].conversation_id for it in items],
                [it.message_id for it in items],
                [it.destination for it in items],
                [it.payload for it in items],
                [utc(stored[(it.tenant, it.message_id)].ingested_at) for it in items],
            )
        out: list[tuple[StoredMessage, bool]] = []
        for i, rec in enumerate(records):
            key = (rec.tenant, rec.message_id)
            m = stored[key]
            m = evolve(m, purposes=after.get((m.tenant, m.conversation_id), m.purposes))
            out.append((m, key in created_keys and first[key] == i))
        return out

    async def get_message(self, tenant: str, message_id: str) -> StoredMessage | None:
        row = await self._with_conn(
            lambda c: c.fetchrow(
                f"SELECT {_COLUMNS} FROM messages WHERE tenant = $1 AND message_id = $2",
                tenant, message_id,
            )
        )
        return None if row is None else _message(row)

    async def get_messages(
        self, tenant: str, message_ids: Sequence[str]
    ) -> dict[str, StoredMessage]:
        if not message_ids:
            return {}
        rows = await self._with_conn(
            lambda c: _fetch_for_keys(
                c, f"SELECT {_COLUMNS} FROM messages", "message_id", tenant, message_ids
            )
        )
        return {m.message_id: m for m in map(_message, rows)}

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
        args: list[Any] = [tenant, start]
        sql = [f"SELECT {_COLUMNS} FROM messages WHERE tenant = $1 AND seq > $2"]

        def p(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if purpose is not None:
            sql.append(f"AND purposes LIKE {p(purpose_pattern(purpose))} ESCAPE '\\'")
        if conversation_id is not None:
            sql.append(f"AND conversation_id = {p(conversation_id)}")
        if sender_id is not None:
            sql.append(f"AND sender_id = {p(sender_id)}")
        if since is not None:
            sql.append(f"AND sent_at >= {p(utc(since))}")
        if until is not None:
            sql.append(f"AND sent_at < {p(utc(until))}")
        sql.append(f"ORDER BY seq LIMIT {p(limit + 1)}")
        text = " ".join(sql)
        rows = await self._with_conn(lambda c: c.fetch(text, *args))
        items = tuple(_message(r) for r in rows[:limit])
        return Page(items, encode_cursor(items[-1].seq) if len(rows) > limit else None)

    # -- conversations
    async def add_conversation_purposes(
        self, tenant: str, conversation_id: str, purposes: Iterable[str]
    ) -> frozenset[str]:
        add = frozenset(purposes)
        encode_purposes(add)

        async def w(conn: Any) -> frozenset[str]:
            old = await self._lock_conversation(conn, tenant, conversation_id)
            if old | add != old:
                await self._widen_many(conn, {(tenant, conversation_id): old | add})
            return old | add

        return await self._with_conn(w, tx=True)

    async def conversation_purposes(self, tenant: str, conversation_id: str) -> frozenset[str]:
        text = await self._with_conn(
            lambda c: c.fetchval(
                "SELECT purposes FROM conversations WHERE tenant = $1 AND conversation_id = $2",
                tenant, conversation_id,
            )
        )
        return decode_purposes(text)

    async def get_conversation_state(
        self, tenant: str, conversation_id: str
    ) -> ConversationState | None:
        row = await self._with_conn(
            lambda c: c.fetchrow(
                "SELECT state, state_version FROM conversations"
                " WHERE tenant = $1 AND conversation_id = $2",
                tenant, conversation_id,
            )
        )
        if row is None or row["state"] is None:
            return None
        return ConversationState(bytes(row["state"]), row["state_version"])

    async def get_conversations(
        self, tenant: str, conversation_ids: Sequence[str]
    ) -> dict[str, ConversationSnapshot]:
        if not conversation_ids:
            return {}
        rows = await self._with_conn(
            lambda c: _fetch_for_keys(
                c,
                "SELECT conversation_id, state, state_version, purposes FROM conversations",
                "conversation_id",
                tenant,
                conversation_ids,
            )
        )
        return {
            r["conversation_id"]: ConversationSnapshot(
                None
                if r["state"] is None
                else ConversationState(bytes(r["state"]), r["state_version"]),
                decode_purposes(r["purposes"]),
            )
            for r in rows
        }

    async def put_conversation_state(
        self,
        tenant: str,
        conversation_id: str,
        data: bytes,
        *,
        expected_version: int | None = None,
    ) -> bool:
        async def w(conn: Any) -> bool:
            await conn.execute(
                "INSERT INTO conversations (tenant, conversation_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                tenant, conversation_id,
            )
            status = await conn.execute(
                "UPDATE conversations SET state = $3, state_version = state_version + 1"
                " WHERE tenant = $1 AND conversation_id = $2"
                " AND ($4::integer IS NULL OR state_version = $4::integer)",
                tenant, conversation_id, data, expected_version,
            )
            return bool(status == "UPDATE 1")

        return await self._with_conn(w, tx=True)

    # -- data keys
    async def get_data_key(self, tenant: str, conversation_id: str) -> DataKeyRecord | None:
        row = await self._with_conn(
            lambda c: c.fetchrow(
                f"SELECT {_DK_COLUMNS} FROM data_keys WHERE tenant = $1 AND conversation_id = $2",
                tenant, conversation_id,
            )
        )
        return None if row is None else _data_key(row)

    async def put_data_key_if_absent(self, record: DataKeyRecord) -> DataKeyRecord:
        async def w(conn: Any) -> DataKeyRecord:
            await conn.execute(
                f"INSERT INTO data_keys ({_DK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT DO NOTHING",
                record.tenant, record.conversation_id, record.region, record.dek_id,
                record.key_id, record.wrapped, utc(record.created_at),
            )
            row = await conn.fetchrow(
                f"SELECT {_DK_COLUMNS} FROM data_keys WHERE tenant = $1 AND conversation_id = $2",
                record.tenant, record.conversation_id,
            )
            return _data_key(row)

        return await self._with_conn(w, tx=True)

    async def replace_data_key_wrapping(
        self, record: DataKeyRecord, *, expected_key_id: str
    ) -> bool:
        status = await self._with_conn(
            lambda c: c.execute(
                "UPDATE data_keys SET key_id = $1, wrapped = $2 WHERE tenant = $3"
                " AND conversation_id = $4 AND dek_id = $5 AND key_id = $6",
                record.key_id, record.wrapped, record.tenant, record.conversation_id,
                record.dek_id, expected_key_id,
            )
        )
        return bool(status == "UPDATE 1")

    async def delete_data_key(self, tenant: str, conversation_id: str) -> bool:
        status = await self._with_conn(
            lambda c: c.execute(
                "DELETE FROM data_keys WHERE tenant = $1 AND conversation_id = $2",
                tenant, conversation_id,
            )
        )
        return bool(status == "DELETE 1")

    async def iter_data_keys(self, *, batch: int = 500) -> AsyncIterator[DataKeyRecord]:
        last = ("", "")
        while True:
            rows = await self._with_conn(
                lambda c, last=last: c.fetch(  # type: ignore[misc]
                    f"SELECT {_DK_COLUMNS} FROM data_keys WHERE (tenant, conversation_id) >"
                    " ($1, $2) ORDER BY tenant, conversation_id LIMIT $3",
                    last[0], last[1], batch,
                )
            )
            for r in rows:
                yield _data_key(r)
            if len(rows) < batch:
                return
            last = (rows[-1]["tenant"], rows[-1]["conversation_id"])

    # -- outbox
    async def outbox_fetch_due(
        self, now: datetime, limit: int, *, lease_seconds: float = 30.0
    ) -> list[OutboxRow]:
        now = utc(now)

        async def w(conn: Any) -> list[OutboxRow]:
            rows = await conn.fetch(
                "SELECT id, tenant, message_id, destination, payload, attempts, next_at,"
                " last_error FROM outbox WHERE next_at <= $1 ORDER BY next_at, id LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
                now, limit,
            )
            await conn.execute(
                "UPDATE outbox SET next_at = $1 WHERE id = ANY($2::bigint[])",
                now + timedelta(seconds=lease_seconds), [r["id"] for r in rows],
            )
            return [
                OutboxRow(r["id"], r["tenant"], r["message_id"], r["destination"],
                          bytes(r["payload"]), r["attempts"], r["next_at"], r["last_error"])
                for r in rows
            ]

        return await self._with_conn(w, tx=True)

    async def outbox_done(self, id: int) -> None:
        await self._with_conn(lambda c: c.execute("DELETE FROM outbox WHERE id = $1", id))

    async def outbox_retry(self, id: int, next_at: datetime, error_kind: str) -> None:
        await self._with_conn(
            lambda c: c.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = $2, last_error = $3"
                " WHERE id = $1",
                id, utc(next_at), error_kind[:100],
            )
        )

    # -- administration (tests, maintenance)
    async def drop_schema(self) -> None:
        """Drop this storage's schema and everything in it (tests, decommissioning)."""
        sql = f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE'
        await self._with_conn(lambda c: c.execute(sql))

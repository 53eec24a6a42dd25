"""One durable write per ingest request: the placeholder state (compare-and-set) and a new
conversation's data key commit in the put's transaction, on SQLite and on the real
PostgreSQL server. Races with "another replica" (a second app on the same database, or a
write straight into the database between the pipeline's read and its put) are redone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from proxy import crypto
from proxy.app import SEALER, Overrides
from proxy.errors import DecryptionError
from proxy.pipeline import open_original
from proxy.sealing import SealContext, Sealer
from proxy.storage import Storage, open_storage
from proxy.storage.postgres import PostgresStorage
from proxy.storage.sqlite import SQLiteStorage
from tests.app_testing import CARD, Env, make_env, message, postgres_env, serve

OTHER_CARD = "5500 0000 0000 0004"


@pytest.fixture(params=["sqlite", "postgres"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    """An app environment on a fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        yield make_env(tmp_path)
    else:
        async with postgres_env(tmp_path, "cw_commit") as pg:
            yield pg


class HookedStorage:
    """A real storage that awaits ``before_put`` (if set) before each put_messages."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.before_put: Callable[[Sequence[Any]], Awaitable[None]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_messages(self, records: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        if self.before_put is not None:
            await self.before_put(records)
        return await self.inner.put_messages(records, *args, **kwargs)


class WriteCounter:
    """Counts the backend's write transactions (SQLite ``_write``, PostgreSQL
    ``_with_conn(tx=True)``) and its group commits."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.writes = 0
        if isinstance(storage, SQLiteStorage):
            write = storage._write

            def counted_write(fn: Any) -> Any:
                self.writes += 1
                return write(fn)

            storage._write = counted_write  # type: ignore[method-assign]
        else:
            assert isinstance(storage, PostgresStorage)
            with_conn = storage._with_conn

            async def counted_with_conn(fn: Any, *, tx: bool = False) -> Any:
                self.writes += tx
                return await with_conn(fn, tx=tx)

            storage._with_conn = counted_with_conn  # type: ignore[method-assign]

    @property
    def transactions(self) -> int:
        return int(self.storage._committer.transactions)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def replica(env: Env) -> AsyncIterator[tuple[Any, HookedStorage, WriteCounter]]:
    """One proxy replica on ``env``'s database: its client, hookable storage and counter."""
    holder: list[HookedStorage] = []

    async def opener(url: str) -> Storage:
        holder.append(HookedStorage(await open_storage(url)))
        return holder[0]  # type: ignore[return-value]  # duck-typed Storage

    async with serve(env, Overrides(audit=False, open_storage=opener)) as client:
        yield client, holder[0], WriteCounter(holder[0].inner)


async def post(client: Any, env: Env, doc: Any) -> Any:
    return await client.post("/v1/messages", json=doc, headers=env.auth())


async def test_new_numbers_in_a_known_conversation_are_one_write(env: Env) -> None:
    """A message that gives new placeholder numbers makes one write transaction: its
    state is stored with the records."""
    async with replica(env) as (client, storage, counter):
        assert (await post(client, env, message(1, text="hello"))).status == 201
        state = await storage.get_conversation_state(env.config.tenant, "c-1")
        writes, groups = counter.writes, counter.transactions
        assert (await post(client, env, message(2))).status == 201
        assert (counter.writes - writes, counter.transactions - groups) == (1, 1)
        after = await storage.get_conversation_state(env.config.tenant, "c-1")
    assert after is not None and after.version == (state.version if state else 0) + 1


async def test_state_changed_by_another_replica_is_redone_alone(env: Env) -> None:
    """Another replica numbers the conversation between this request's read and its put:
    the put stores nothing, the request is redone and numbers its card after the other
    replica's; two other requests in the same group commit in that group's transaction."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, counter), replica(env) as (other, _, _):
        assert (await post(client, env, message(1, text="hello"))).status == 201
        arrived: list[str] = []
        all_arrived = asyncio.Event()

        async def before_put(records: Sequence[Any]) -> None:
            if records[0].message_id == "m-2" and "m-2" not in arrived:
                # The other replica posts into c-1 now: it numbers its card first.
                theirs = message(9, text=f"card {OTHER_CARD} please")
                assert (await post(other, env, theirs)).status == 201
            arrived.append(records[0].message_id)
            if len(arrived) == 3:
                all_arrived.set()
            await all_arrived.wait()  # the three first puts enter one group

        storage.before_put = before_put
        groups = counter.transactions
        answers = await asyncio.gather(
            post(client, env, message(2)),
            post(client, env, message(3, conversation_id="c-2")),
            post(client, env, message(4, conversation_id="c-3")),
        )
        bodies = [await a.json() for a in answers]
        assert [a.status for a in answers] == [201, 201, 201]
        # One group for the three, one more for m-2's redo.
        assert counter.transactions - groups == 2
        assert sorted(arrived) == ["m-2", "m-2", "m-3", "m-4"]
        assert "[CREDIT_CARD_2]" in bodies[0]["redacted"]
        assert ["[CREDIT_CARD_1]" in b["redacted"] for b in bodies[1:]] == [True, True]
        mine = await storage.get_message(tenant, "m-2")
        theirs_stored = await storage.get_message(tenant, "m-9")
        state = await storage.get_conversation_state(tenant, "c-1")
    assert mine is not None and "[CREDIT_CARD_2]" in mine.redacted
    assert theirs_stored is not None and "[CREDIT_CARD_1]" in theirs_stored.redacted
    assert state is not None and state.version == 2


async def test_state_bumped_in_the_database_is_redone(env: Env) -> None:
    """A state version changed straight in the database between read and put makes the
    put store nothing; the redo reads the new state and its numbering continues it."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, _), replica(env) as (other, _, _):
        # The other replica's numbering of OTHER_CARD, made in a conversation of its own.
        theirs = message(8, conversation_id="x", text=f"card {OTHER_CARD} please")
        assert (await post(other, env, theirs)).status == 201
        foreign = await storage.get_conversation_state(tenant, "x")
        assert foreign is not None
        assert (await post(client, env, message(1, text="hello"))).status == 201
        bumped: list[int] = []

        async def before_put(records: Sequence[Any]) -> None:
            if not bumped:
                version = await bump_state(storage.inner, tenant, "c-1", foreign.data)
                bumped.append(version)

        storage.before_put = before_put
        body = await (await post(client, env, message(2))).json()
        state = await storage.get_conversation_state(tenant, "c-1")
    assert bumped and "[CREDIT_CARD_2]" in body["redacted"]
    assert state is not None and state.version == bumped[0] + 1


async def bump_state(storage: Storage, tenant: str, cid: str, data: bytes) -> int:
    """Write ``data`` as the conversation's state and advance its version, in SQL, as
    another writer would; return the new version."""
    if isinstance(storage, PostgresStorage):
        return int(
            await storage._with_conn(
                lambda c: c.fetchval(
                    "INSERT INTO conversations (tenant, conversation_id, state, state_version)"
                    " VALUES ($1, $2, $3, 1) ON CONFLICT (tenant, conversation_id) DO UPDATE"
                    " SET state = $3, state_version = conversations.state_version + 1"
                    " RETURNING state_version",
                    tenant, cid, data,
                ),
                tx=True,
            )
        )
    assert isinstance(storage, SQLiteStorage)
    return int(
        await storage._run(
            lambda: storage._write(
                lambda c: c.execute(
                    "INSERT INTO conversations (tenant, conversation_id, state, state_version)"
                    " VALUES (?, ?, ?, 1) ON CONFLICT (tenant, conversation_id) DO UPDATE"
                    " SET state = excluded.state, state_version = state_version + 1"
                    " RETURNING state_version",
                    (tenant, cid, data),
                ).fetchone()[0]
            )
        )
    )


async def opens(env: Env, storage: Storage, message_id: str) -> str:
    """The original of a stored message, opened by a fresh sealer (no cache: the stored
    data key decides)."""
    rec = await storage.get_message(env.config.tenant, message_id)
    assert rec is not None
    return await open_original(Sealer(env.ring, storage), rec)


async def test_new_conversation_with_new_numbers_is_one_write(env: Env) -> None:
    """The first message of a conversation, with PII: its data key, its placeholder
    state and the record commit in one write transaction, and the record opens."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, counter):
        # Another conversation first: on PostgreSQL the month's partition is created once.
        warm_up = message(9, conversation_id="c-0", text="hello")
        assert (await post(client, env, warm_up)).status == 201
        writes, groups = counter.writes, counter.transactions
        assert (await post(client, env, message(1))).status == 201
        assert (counter.writes - writes, counter.transactions - groups) == (1, 1)
        rec = await storage.get_message(tenant, "m-1")
        key = await storage.get_data_key(tenant, "c-1")
        state = await storage.get_conversation_state(tenant, "c-1")
        assert rec is not None and key is not None and state is not None
        assert crypto.blob_data_key_id(rec.sealed) == key.dek_id and state.version == 1
        assert CARD in await opens(env, storage, "m-1")


async def test_data_key_race_ends_with_every_blob_under_the_stored_key(env: Env) -> None:
    """Another writer stores a different key for the new conversation between this
    request's read and its put: the put stores nothing, the redo seals with the stored
    key, and every committed blob opens under it."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, counter):
        raced: list[bytes] = []

        async def before_put(records: Sequence[Any]) -> None:
            if not raced:
                other = Sealer(env.ring, storage.inner)  # another replica's sealer
                await other.data_key(SealContext(tenant, "c-1", "x", "default"))
                stored = await storage.get_data_key(tenant, "c-1")
                assert stored is not None
                raced.append(stored.dek_id)

        storage.before_put = before_put
        groups = counter.transactions
        batch = [message(1), message(2, text="hello again"), message(3, conversation_id="c-2")]
        assert (await post(client, env, {"messages": batch})).status == 201
        assert counter.transactions - groups == 2  # the refused put and the redo
        for mid in ("m-1", "m-2"):
            rec = await storage.get_message(tenant, mid)
            assert rec is not None and crypto.blob_data_key_id(rec.sealed) == raced[0]
        assert [await opens(env, storage, m) for m in ("m-1", "m-2")] == [
            f"card {CARD} please", "hello again"
        ]
        assert CARD in await opens(env, storage, "m-3")
        # The replica's sealer went on with the stored key, not its own refused one.
        storage.before_put = None
        assert (await post(client, env, message(4))).status == 201
        rec = await storage.get_message(tenant, "m-4")
        assert rec is not None and crypto.blob_data_key_id(rec.sealed) == raced[0]


async def test_failed_put_leaves_no_state_key_or_message(env: Env) -> None:
    """A storage failure inside the put's transaction (after the state and key were
    written in it) rolls all of it back; the sealer caches no key; a retry stores all."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, _):
        inner: Any = storage.inner
        name = "_put" if isinstance(inner, SQLiteStorage) else "_put_records"
        real = getattr(inner, name)

        def failing(*args: Any) -> Any:
            raise OSError("disk gone (test fault)")

        setattr(inner, name, failing)
        resp = await post(client, env, message(1))
        assert resp.status == 503 and (await resp.json())["error"]["kind"] == "storage"
        assert await storage.get_message(tenant, "m-1") is None
        assert await storage.get_conversation_state(tenant, "c-1") is None
        assert await storage.get_data_key(tenant, "c-1") is None
        assert repr(client.app[SEALER]) == "Sealer(cached_keys=0)"
        setattr(inner, name, real)
        assert (await post(client, env, message(1))).status == 201
        assert CARD in await opens(env, storage, "m-1")


async def test_message_after_a_shred_on_another_replica_gets_a_new_key(env: Env) -> None:
    """A replica still caching a conversation's key that another replica shredded does
    not commit a message under it: the put is refused and redone under a new key."""
    tenant = env.config.tenant
    async with replica(env) as (client, storage, _), replica(env) as (other, _, _):
        assert (await post(other, env, message(1))).status == 201  # `other` caches the key
        assert await client.app[SEALER].shred(tenant, "c-1")
        assert (await post(other, env, message(2))).status == 201
        assert (await post(client, env, message(3))).status == 201
        old = await storage.get_message(tenant, "m-1")
        new = [await storage.get_message(tenant, m) for m in ("m-2", "m-3")]
        key = await storage.get_data_key(tenant, "c-1")
        assert old is not None and key is not None
        assert [crypto.blob_data_key_id(r.sealed) for r in new if r] == [key.dek_id] * 2
        assert crypto.blob_data_key_id(old.sealed) != key.dek_id
        assert [CARD in await opens(env, storage, m) for m in ("m-2", "m-3")] == [True, True]
        with pytest.raises(DecryptionError):
            await opens(env, storage, "m-1")

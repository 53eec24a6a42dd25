"""The storage contract, one suite run against both backends (SQLite and the machine's real
PostgreSQL at 127.0.0.1:5432, database ``test``). PostgreSQL tests are never skipped: an
unreachable server fails them with a message saying so."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from proxy.storage import (
    ConversationWrite,
    DataKeyRecord,
    InvalidCursor,
    InvalidRecord,
    InvalidStorageUrl,
    MessageIdReused,
    OutboxItem,
    Storage,
    StorageUnavailable,
    WriteConflict,
    open_storage,
)
from proxy.storage.base import evolve
from proxy.storage.batching import GroupCommitter, Put, Result
from proxy.storage.postgres import PostgresStorage
from proxy.storage.sqlite import SQLiteStorage
from proxy.testing import make_message

PG_BASE = os.environ.get("CHATWARDEN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
RUN = uuid.uuid4().hex[:8]
_counter = itertools.count()

Factory = Callable[[], Awaitable[Storage]]


@pytest.fixture(params=["sqlite", "postgres"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Opens storages on one fresh database (a temp SQLite file, or a PostgreSQL schema
    unique to this test and dropped afterwards); every opened storage is closed."""
    opened: list[Storage] = []
    schema = f"cw_test_{RUN}_{next(_counter)}"
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/chatwarden.db"
    else:
        url = f"{PG_BASE}?schema={schema}"

    async def factory() -> Storage:
        try:
            s = await open_storage(url)
        except StorageUnavailable as exc:
            if request.param == "postgres":
                pytest.fail(
                    f"PostgreSQL at {PG_BASE} is not reachable ({exc.cause}); start it or set "
                    "CHATWARDEN_TEST_PG — these tests must not be skipped"
                )
            raise
        opened.append(s)
        return s

    yield factory
    for s in opened:
        await s.close()
    if request.param == "postgres":
        import asyncpg  # type: ignore[import-untyped]  # no stubs published

        conn = await asyncpg.connect(PG_BASE)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def store(open_store: Factory) -> Storage:
    return await open_store()


T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- puts


def test_evolve_is_replace() -> None:
    """evolve() (the storage's fast copy of a record with some fields changed) gives what
    dataclasses.replace gives, for every field; a name that is no field is refused."""
    rec = make_message(7, order_id="o1", text_digest=b"d" * 32, purposes=frozenset({"x"}))
    other = make_message(8, tenant="t2", lang="de", dispute_id="d2")
    for name in rec.__dataclass_fields__:
        changed = evolve(rec, **{name: getattr(other, name)})
        assert changed == replace(rec, **{name: getattr(other, name)}), name
    assert evolve(rec) == rec and evolve(rec, seq=5, response=b"r").seq == 5
    with pytest.raises(KeyError):
        evolve(rec, no_such_field=1)


async def test_put_assigns_seq_and_reports_created(store: Storage) -> None:
    """A new message is created and gets a positive seq."""
    [(stored, created)] = await store.put_messages([make_message(1)])
    assert created and stored.seq > 0


async def test_stored_message_reads_back_field_for_field(store: Storage) -> None:
    """get_message returns exactly what put_messages stored."""
    msg = make_message(
        1,
        lang="de",
        order_id="o-7",
        dispute_id=None,
        recipient_id=None,
        entities=((0, 4, "PERSON"), (10, 26, "IBAN")),
        sealed=bytes(range(256)),
    )
    [(stored, _)] = await store.put_messages([msg])
    assert await store.get_message("t1", "m1") == stored == replace(msg, seq=stored.seq)


async def test_times_come_back_as_utc(store: Storage) -> None:
    """Datetimes given in another zone are stored as the same instant, returned in UTC."""
    plus2 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))
    )
    await store.put_messages([make_message(1, sent_at=plus2)])
    got = await store.get_message("t1", "m1")
    assert got is not None and got.sent_at == plus2 and got.sent_at.utcoffset() == timedelta(0)


async def test_get_messages_reads_a_requests_ids_in_one_call(store: Storage) -> None:
    """get_messages returns, by id, exactly what get_message returns for each stored id;
    unknown ids, another tenant's ids and repeats add nothing."""
    stored = await store.put_messages([make_message(n) for n in range(7)])
    await store.put_messages([make_message(9, tenant="t2")])
    ids = ["m3", "m0", "nope", "m3", "m9", "m6"]
    got = await store.get_messages("t1", ids)
    assert sorted(got) == ["m0", "m3", "m6"]
    for mid, m in got.items():
        assert m == await store.get_message("t1", mid)
    assert got["m3"] == stored[3][0]
    assert await store.get_messages("t1", []) == {}
    assert sorted(await store.get_messages("t2", ids)) == ["m9"]


async def test_get_messages_takes_more_ids_than_one_statement_lists(store: Storage) -> None:
    """Past LOOKUP_CHUNK ids the look-up is split, and still finds every stored one."""
    from proxy.storage.base import LOOKUP_CHUNK

    await store.put_messages([make_message(n) for n in (0, LOOKUP_CHUNK + 5)])
    ids = [f"m{n}" for n in range(LOOKUP_CHUNK + 10)]
    assert sorted(await store.get_messages("t1", ids)) == sorted(["m0", f"m{LOOKUP_CHUNK + 5}"])


async def test_batch_look_ups_take_hostile_keys_as_plain_values(store: Storage) -> None:
    """Quotes, SQL, LIKE wildcards, backslashes and non-ASCII in the looked-up ids are
    values to compare, never SQL: nothing is found, nothing fails, nothing changes."""
    await store.put_messages([make_message(1)])
    hostile = ["m1' OR '1'='1", "%", "_", "m%", "\\", "x); DROP TABLE messages; --", "é😀"]
    assert await store.get_messages("t1", hostile) == {}
    assert await store.get_conversations("t1", hostile) == {}
    assert await store.get_messages("t1' OR '1'='1", ["m1"]) == {}
    assert sorted(await store.get_messages("t1", ["m1"])) == ["m1"]


async def test_get_unknown_message_returns_none(store: Storage) -> None:
    """An id never stored reads back as None."""
    assert await store.get_message("t1", "nope") is None


async def test_replayed_put_returns_the_first_record(store: Storage) -> None:
    """A retry with the same id stores nothing and returns the first response bytes."""
    [(first, _)] = await store.put_messages([make_message(1, response=b"first")])
    [(again, created)] = await store.put_messages(
        [make_message(1, response=b"second", redacted="other")]
    )
    assert not created and again == first and again.response == b"first"


async def test_same_id_twice_in_one_batch_is_stored_once(store: Storage) -> None:
    """A batch that repeats an id creates it once and reports the repeat as not created."""
    out = await store.put_messages([make_message(1), make_message(1)])
    assert [c for _, c in out] == [True, False] and out[0][0].seq == out[1][0].seq


async def test_one_put_merges_its_conversations_purposes_once(store: Storage) -> None:
    """Records of one conversation with different purposes in one put: every record,
    earlier ones included, carries the union, as if put one at a time."""
    await store.put_messages([make_message(0)])
    out = await store.put_messages(
        [
            make_message(3, purposes=frozenset({"risk_control"})),
            make_message(6),
            make_message(9, purposes=frozenset({"dispute_handling"})),
            make_message(1, purposes=frozenset({"regulatory_request"})),  # another one
        ]
    )
    both = {"risk_control", "dispute_handling"}
    assert [m.purposes for m, _ in out] == [both, both, both, {"regulatory_request"}]
    for mid in ("m0", "m3", "m6", "m9"):
        stored = await store.get_message("t1", mid)
        assert stored is not None and stored.purposes == both, mid
    assert await store.conversation_purposes("t1", "c0") == both


async def test_seq_of_a_put_follows_every_earlier_seq(store: Storage) -> None:
    """The seqs of one put are distinct, in record order, and above every seq stored
    before, the newest message's too after it was deleted (never reused)."""
    [(a, _), (b, _)] = await store.put_messages([make_message(1), make_message(2)])
    await _delete_message_row(store, "t1", "m2")
    out = await store.put_messages([make_message(n) for n in (3, 4, 5)])
    seqs = [m.seq for m, _ in out]
    assert a.seq < b.seq < seqs[0] < seqs[1] < seqs[2]
    for m, _ in out:
        stored = await store.get_message("t1", m.message_id)
        assert stored is not None and stored.seq == m.seq


async def test_a_put_repeating_a_new_id_answers_the_first_record(store: Storage) -> None:
    """A put carrying a new id twice (two requests in one group commit) returns, for the
    repeat, the first record as stored: its seq and response."""
    out = await store.put_messages(
        [make_message(1, response=b"one"), make_message(2), make_message(1, response=b"two")]
    )
    (first, c1), _, (again, c2) = out
    assert (c1, c2) == (True, False)
    assert (again.seq, again.response) == (first.seq, b"one") and first.seq > 0


async def test_message_ids_are_scoped_by_tenant(store: Storage) -> None:
    """The same message id under two tenants is two records."""
    out = await store.put_messages([make_message(1), make_message(1, tenant="t2")])
    assert [c for _, c in out] == [True, True]


async def test_concurrent_puts_of_one_id_create_one_record(open_store: Factory) -> None:
    """Two storages (connections) racing to store the same id: exactly one creates it."""
    a, b = await open_store(), await open_store()
    results = await asyncio.gather(
        *(
            s.put_messages([make_message(1, response=f"r{i}".encode())])
            for i, s in enumerate([a, b, a, b])
        )
    )
    created = [c for r in results for _, c in r]
    seqs = {m.seq for r in results for m, _ in r}
    bodies = {m.response for r in results for m, _ in r}
    assert created.count(True) == 1 and len(seqs) == 1 and len(bodies) == 1
    page = await a.query_messages("t1", purpose=None)
    assert [m.message_id for m in page.items] == ["m1"]


async def test_many_concurrent_puts_are_all_stored_once(store: Storage) -> None:
    """Fifty concurrent single-message puts (group-committed) each create their record."""
    results = await asyncio.gather(*(store.put_messages([make_message(n)]) for n in range(50)))
    assert all(r[0][1] for r in results)
    assert len({r[0][0].seq for r in results}) == 50
    page = await store.query_messages("t1", purpose=None, limit=100)
    assert sorted(m.message_id for m in page.items) == sorted(f"m{n}" for n in range(50))


async def test_concurrent_calls_repeating_an_id_create_it_once(store: Storage) -> None:
    """Calls grouped into one transaction still see each other's ids as replays."""
    results = await asyncio.gather(
        *(store.put_messages([make_message(n % 3, response=f"r{n}".encode())]) for n in range(9))
    )
    assert sum(c for r in results for _, c in r) == 3
    assert len({(m.message_id, m.seq, m.response) for r in results for m, _ in r}) == 3


@pytest.mark.parametrize(
    "field",
    [
        "redacted",  # PostgreSQL text cannot hold NUL; refuse on both backends alike
        "sender_id",  # every text column is checked
    ],
)
async def test_nul_character_is_refused_before_the_database(store: Storage, field: str) -> None:
    """A record with a NUL character raises InvalidRecord and stores nothing."""
    with pytest.raises(InvalidRecord):
        await store.put_messages([make_message(0), make_message(1, **{field: "a\x00b"})])
    assert (await store.query_messages("t1", purpose=None)).items == ()


async def test_batch_results_follow_input_order(store: Storage) -> None:
    """Results come back in the order of the input records."""
    ids = ["m9", "m2", "m5"]
    out = await store.put_messages([make_message(int(i[1:])) for i in ids])
    assert [m.message_id for m, _ in out] == ids


async def test_seq_increases_with_ingest_order(store: Storage) -> None:
    """Later puts get larger seq values."""
    seqs = [(await store.put_messages([make_message(n)]))[0][0].seq for n in (5, 3, 8)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


async def test_message_far_in_the_past_is_stored(store: Storage) -> None:
    """A sent_at outside the pre-created months still stores (partition made on demand)."""
    old = datetime(2019, 7, 4, 12, tzinfo=UTC)
    [(m, created)] = await store.put_messages([make_message(1, sent_at=old)])
    assert created and (await store.get_message("t1", "m1")) == m


async def test_data_survives_reopening(open_store: Factory) -> None:
    """What a put returned is there for a storage opened afterwards."""
    a = await open_store()
    [(m, _)] = await a.put_messages([make_message(1)])
    await a.close()
    b = await open_store()
    assert await b.get_message("t1", "m1") == m


# --------------------------------------------------------------------------- purposes


async def test_put_merges_purposes_into_the_conversation(store: Storage) -> None:
    """A message's purposes become its conversation's purposes."""
    await store.put_messages([make_message(0, purposes=frozenset({"risk_control"}))])
    assert await store.conversation_purposes("t1", "c0") == {"risk_control"}


async def test_a_triggering_message_retags_earlier_ones(store: Storage) -> None:
    """When a later message adds a purpose, earlier messages of the conversation serve it."""
    await store.put_messages([make_message(0)])
    [(m3, _)] = await store.put_messages(
        [make_message(3, purposes=frozenset({"dispute_handling"}))]
    )
    first = await store.get_message("t1", "m0")
    assert first is not None and first.purposes == {"dispute_handling"} == m3.purposes


async def test_later_messages_inherit_conversation_purposes(store: Storage) -> None:
    """A message stored after a re-tag carries the conversation's purposes."""
    await store.add_conversation_purposes("t1", "c0", ["regulatory_request"])
    [(m, _)] = await store.put_messages([make_message(3)])
    assert m.purposes == {"regulatory_request"}


async def test_add_conversation_purposes_retags_stored_messages(store: Storage) -> None:
    """Re-tagging reaches every stored message of the conversation, and only those."""
    await store.put_messages([make_message(n) for n in range(6)])
    out = await store.add_conversation_purposes("t1", "c1", {"dispute_handling"})
    tagged = await store.query_messages("t1", purpose="dispute_handling")
    assert out == {"dispute_handling"}
    assert sorted(m.message_id for m in tagged.items) == ["m1", "m4"]


async def test_retag_is_scoped_by_tenant(store: Storage) -> None:
    """Re-tagging a conversation does not touch another tenant's conversation of that id."""
    await store.put_messages([make_message(0), make_message(0, tenant="t2")])
    await store.add_conversation_purposes("t2", "c0", {"risk_control"})
    m = await store.get_message("t1", "m0")
    assert m is not None and m.purposes == frozenset()


async def test_purposes_only_grow(store: Storage) -> None:
    """Adding purposes keeps the ones already there."""
    await store.add_conversation_purposes("t1", "c0", {"risk_control"})
    out = await store.add_conversation_purposes("t1", "c0", {"dispute_handling"})
    assert out == {"risk_control", "dispute_handling"}


async def test_malformed_purpose_name_is_refused(store: Storage) -> None:
    """A purpose with LIKE wildcards or separators is rejected before the database."""
    with pytest.raises(ValueError):
        await store.add_conversation_purposes("t1", "c0", {"risk%"})


async def test_purpose_filter_does_not_match_a_prefix(store: Storage) -> None:
    """Querying one purpose does not return messages of a longer purpose name."""
    await store.put_messages([make_message(0, purposes=frozenset({"risk_control_x"}))])
    page = await store.query_messages("t1", purpose="risk_control")
    assert page.items == ()


# --------------------------------------------------------------------------- queries


async def test_cursor_pages_cover_everything_once_in_seq_order(store: Storage) -> None:
    """Paging with the cursor returns every match once, in seq order, then stops."""
    stored = await store.put_messages([make_message(n) for n in range(7)])
    seen, cursor, pages = [], None, 0
    while True:
        page = await store.query_messages("t1", purpose=None, after=cursor, limit=3)
        seen += [m.seq for m in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(m.seq for m, _ in stored) and pages == 3


async def test_exact_last_page_has_no_cursor(store: Storage) -> None:
    """When the rows fill the page exactly, no next cursor is offered."""
    await store.put_messages([make_message(n) for n in range(3)])
    page = await store.query_messages("t1", purpose=None, limit=3)
    assert len(page.items) == 3 and page.next_cursor is None


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"conversation_id": "c2"}, ["m2", "m5"]),  # one conversation
        ({"sender_id": "u1"}, ["m1", "m3", "m5"]),  # one sender
        ({"since": T0 + timedelta(minutes=4)}, ["m4", "m5"]),  # since is inclusive
        ({"until": T0 + timedelta(minutes=2)}, ["m0", "m1"]),  # until is exclusive
        ({"conversation_id": "c2", "sender_id": "u0"}, ["m2"]),  # filters combine
    ],
)
async def test_query_filters(
    store: Storage, kwargs: dict[str, object], expected: list[str]
) -> None:
    """Each query filter selects the documented messages."""
    await store.put_messages([make_message(n) for n in range(6)])
    page = await store.query_messages("t1", purpose=None, **kwargs)  # type: ignore[arg-type]
    assert [m.message_id for m in page.items] == expected


async def test_query_is_scoped_by_tenant(store: Storage) -> None:
    """A tenant never sees another tenant's messages."""
    await store.put_messages([make_message(0), make_message(1, tenant="t2")])
    page = await store.query_messages("t2", purpose=None)
    assert [m.message_id for m in page.items] == ["m1"]


@pytest.mark.parametrize("cursor", ["garbage!", "czE6", "eDE6NQ"])  # not b64; "s1:"; "x1:5"
async def test_malformed_cursor_is_refused(store: Storage, cursor: str) -> None:
    """A cursor the service did not issue raises InvalidCursor."""
    with pytest.raises(InvalidCursor):
        await store.query_messages("t1", purpose=None, after=cursor)


# --------------------------------------------------------------------------- state


async def test_conversation_state_round_trips_with_versions(store: Storage) -> None:
    """State is stored and its version advances with each write."""
    assert await store.get_conversation_state("t1", "c0") is None
    assert await store.put_conversation_state("t1", "c0", b"\x81\xa1a\x01")
    assert await store.put_conversation_state("t1", "c0", b"\x80", expected_version=1)
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and (state.data, state.version) == (b"\x80", 2)


async def test_get_conversations_reads_state_and_purposes_together(store: Storage) -> None:
    """One call gives each stored conversation's state and purposes, as the single reads
    do; a conversation with purposes but no state has state None; unknown ids, another
    tenant's and repeats add nothing."""
    await store.put_conversation_state("t1", "c0", b"\x81\xa1a\x01")
    await store.put_conversation_state("t1", "c0", b"\x80", expected_version=1)
    await store.add_conversation_purposes("t1", "c0", {"risk_control"})
    await store.add_conversation_purposes("t1", "c1", {"dispute_handling"})
    await store.put_conversation_state("t2", "c2", b"x")
    got = await store.get_conversations("t1", ["c0", "c1", "c2", "c0", "nope"])
    assert sorted(got) == ["c0", "c1"]
    assert got["c0"].state == await store.get_conversation_state("t1", "c0")
    assert got["c0"].state is not None and got["c0"].state.version == 2
    assert got["c0"].purposes == {"risk_control"}
    assert (got["c1"].state, got["c1"].purposes) == (None, {"dispute_handling"})
    assert await store.get_conversations("t1", []) == {}
    assert sorted(await store.get_conversations("t2", ["c0", "c2"])) == ["c2"]


async def test_conversation_state_compare_and_set_refuses_stale_writer(store: Storage) -> None:
    """A write expecting an older version changes nothing and returns False."""
    await store.put_conversation_state("t1", "c0", b"a")
    assert not await store.put_conversation_state("t1", "c0", b"b", expected_version=0)
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and state.data == b"a"


# --------------------------------------------------------------------------- data keys


def _dk(cid: str = "c0", dek: int = 1, key_id: str = "eu:1", tenant: str = "t1") -> DataKeyRecord:
    return DataKeyRecord(tenant, cid, "eu", bytes([dek]) * 16, key_id, bytes([dek]) * 60, T0)


async def test_first_data_key_wins(store: Storage) -> None:
    """put_data_key_if_absent keeps the first key and returns it to the second writer."""
    first = await store.put_data_key_if_absent(_dk(dek=1))
    second = await store.put_data_key_if_absent(_dk(dek=2))
    assert first == second == _dk(dek=1) == await store.get_data_key("t1", "c0")


async def test_delete_data_key_destroys_it(store: Storage) -> None:
    """After deletion the key is gone; a second deletion reports nothing deleted."""
    await store.put_data_key_if_absent(_dk())
    assert await store.delete_data_key("t1", "c0")
    assert await store.get_data_key("t1", "c0") is None
    assert not await store.delete_data_key("t1", "c0")


async def test_iter_data_keys_yields_every_key_across_batches(store: Storage) -> None:
    """Iteration in small batches still yields each key exactly once."""
    for i in range(7):
        await store.put_data_key_if_absent(_dk(cid=f"c{i}", dek=i + 1))
    got = [r.conversation_id async for r in store.iter_data_keys(batch=3)]
    assert sorted(got) == [f"c{i}" for i in range(7)] and len(got) == 7


async def test_replace_wrapping_is_compare_and_set(store: Storage) -> None:
    """Re-wrapping succeeds only against the expected KEK version and the same DEK id."""
    await store.put_data_key_if_absent(_dk())
    new = replace(_dk(), key_id="eu:2", wrapped=b"\x09" * 60)
    assert not await store.replace_data_key_wrapping(new, expected_key_id="eu:0")
    assert not await store.replace_data_key_wrapping(
        replace(new, dek_id=b"\x07" * 16), expected_key_id="eu:1"
    )
    assert await store.replace_data_key_wrapping(new, expected_key_id="eu:1")
    assert await store.get_data_key("t1", "c0") == new


# ------------------------------------------------ conversation writes within a put


def _state(data: bytes, expected: int, cid: str = "c0", **key: Any) -> ConversationWrite:
    return ConversationWrite("t1", cid, state=data, expected_version=expected, **key)


def _transactions(store: Storage) -> int:
    """Group-commit transactions the store has run (both backends keep a GroupCommitter)."""
    return int(store._committer.transactions)  # type: ignore[attr-defined]


async def test_put_stores_state_and_new_key_with_its_records(store: Storage) -> None:
    """State (compare-and-set) and a new data key commit in the records' transaction."""
    before = _transactions(store)
    [(_, created)] = await store.put_messages(
        [make_message(0)], conversations=[_state(b"s1", 0, new_key=_dk())]
    )
    assert created and _transactions(store) == before + 1
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and (state.data, state.version) == (b"s1", 1)
    assert await store.get_data_key("t1", "c0") == _dk()
    await store.put_messages(
        [make_message(3)], conversations=[_state(b"s2", 1, dek_id=_dk().dek_id)]
    )
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and (state.data, state.version) == (b"s2", 2)


@pytest.mark.parametrize(
    "write",
    [
        _state(b"mine", 0),  # state: another writer stored version 1 first
        _state(b"mine", 1, new_key=_dk(dek=2)),  # a new key, but the conversation has one
        ConversationWrite("t1", "c0", dek_id=_dk(dek=2).dek_id),  # sealed under another key
    ],
)
async def test_a_failed_check_stores_nothing_of_the_put(
    open_store: Factory, write: ConversationWrite
) -> None:
    """When another replica changed the state or key first, the put raises WriteConflict
    and stores no record, no state and no key."""
    store, other = await open_store(), await open_store()
    assert await other.put_conversation_state("t1", "c0", b"theirs", expected_version=0)
    await other.put_data_key_if_absent(_dk(dek=1))
    with pytest.raises(WriteConflict) as caught:
        await store.put_messages([make_message(0)], conversations=[write])
    assert caught.value.conversation_id == "c0"
    assert await store.get_message("t1", "m0") is None
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and (state.data, state.version) == (b"theirs", 1)
    assert await store.get_data_key("t1", "c0") == _dk(dek=1)


async def test_records_sealed_under_a_shredded_key_are_refused(store: Storage) -> None:
    """A put whose records are sealed under a key deleted since (shred) stores nothing."""
    await store.put_messages([make_message(0)], conversations=[_state(b"s", 0, new_key=_dk())])
    assert await store.delete_data_key("t1", "c0")
    with pytest.raises(WriteConflict) as caught:
        await store.put_messages(
            [make_message(3)], conversations=[ConversationWrite("t1", "c0", dek_id=_dk().dek_id)]
        )
    assert caught.value.kind == "data_key"
    assert await store.get_message("t1", "m3") is None


async def test_a_conflicting_call_does_not_fail_its_group(store: Storage) -> None:
    """Concurrent puts share one transaction; the one whose state check fails gets
    WriteConflict, the others (state and keys included) commit in that same transaction."""
    await store.put_messages([make_message(1)], conversations=[_state(b"v1", 0, cid="c1")])
    before = _transactions(store)
    results = await asyncio.gather(
        store.put_messages([make_message(0)], conversations=[_state(b"a", 0, new_key=_dk())]),
        store.put_messages([make_message(4)], conversations=[_state(b"stale", 0, cid="c1")]),
        store.put_messages([make_message(2)], conversations=[_state(b"b", 0, cid="c2")]),
        return_exceptions=True,
    )
    assert isinstance(results[1], WriteConflict) and results[1].kind == "state"
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert _transactions(store) == before + 1
    assert await store.get_message("t1", "m4") is None
    assert [await store.get_message("t1", m) is not None for m in ("m0", "m2")] == [True, True]
    states = [await store.get_conversation_state("t1", c) for c in ("c0", "c1", "c2")]
    assert [(s.data, s.version) for s in states if s] == [(b"a", 1), (b"v1", 1), (b"b", 1)]
    assert await store.get_data_key("t1", "c0") == _dk()


async def test_calls_of_one_group_are_checked_against_each_other(store: Storage) -> None:
    """Two calls in one group expecting the same state version (or both bringing a new
    key): the first commits, the second conflicts as if it had come later."""
    results = await asyncio.gather(
        store.put_messages([make_message(0)], conversations=[_state(b"a", 0, new_key=_dk())]),
        store.put_messages([make_message(3)], conversations=[_state(b"b", 0)]),
        store.put_messages(
            [make_message(6)], conversations=[ConversationWrite("t1", "c0", new_key=_dk(dek=2))]
        ),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException)
    assert [getattr(r, "kind", None) for r in results[1:]] == ["state", "data_key"]
    state = await store.get_conversation_state("t1", "c0")
    assert state is not None and (state.data, state.version) == (b"a", 1)
    assert await store.get_data_key("t1", "c0") == _dk()
    assert [await store.get_message("t1", m) is None for m in ("m3", "m6")] == [True, True]


async def test_a_group_that_fails_stores_no_state_or_key(store: Storage) -> None:
    """A group failing for another reason (a reused id) is retried call by call: the bad
    call stores nothing of its own, the good calls' state and keys commit."""
    await store.put_messages([make_message(1, text_digest=b"\xaa" * 32)])
    results = await asyncio.gather(
        store.put_messages([make_message(0)], conversations=[_state(b"a", 0, new_key=_dk())]),
        store.put_messages(
            [make_message(1, text_digest=b"\xbb" * 32)],
            conversations=[_state(b"b", 0, cid="c1", new_key=_dk(cid="c1", dek=2))],
        ),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException) and isinstance(results[1], MessageIdReused)
    assert await store.get_conversation_state("t1", "c1") is None
    assert await store.get_data_key("t1", "c1") is None
    assert await store.get_data_key("t1", "c0") == _dk()


@pytest.mark.parametrize(
    "writes",
    [
        [_state(b"a", 0), _state(b"b", 1)],  # two writes for one conversation
        [ConversationWrite("t1", "c0", new_key=_dk(cid="c9"))],  # another conversation's key
        [ConversationWrite("t1", "c0", new_key=_dk(), dek_id=b"\x07" * 16)],  # two keys named
    ],
)
async def test_malformed_conversation_writes_are_refused(
    store: Storage, writes: list[ConversationWrite]
) -> None:
    """Writes that cannot be applied as documented raise InvalidRecord before any write."""
    with pytest.raises(InvalidRecord):
        await store.put_messages([make_message(0)], conversations=writes)
    assert await store.get_message("t1", "m0") is None


# --------------------------------------------------------------------------- outbox


async def test_outbox_items_are_enqueued_with_created_messages_only(store: Storage) -> None:
    """A replayed message does not enqueue its outbox item again."""
    item = OutboxItem("t1", "m1", "upstream", b"payload")
    await store.put_messages([make_message(1)], [item])
    await store.put_messages([make_message(1)], [item])
    due = await store.outbox_fetch_due(T0 + timedelta(days=1), 10)
    assert [(r.message_id, r.payload, r.attempts) for r in due] == [("m1", b"payload", 0)]


async def test_outbox_fetch_leases_rows(store: Storage) -> None:
    """A fetched row is not handed out again until its lease runs out."""
    await store.put_messages([make_message(1)], [OutboxItem("t1", "m1", "up", b"p")])
    now = T0 + timedelta(days=1)
    assert len(await store.outbox_fetch_due(now, 10, lease_seconds=30)) == 1
    assert await store.outbox_fetch_due(now + timedelta(seconds=10), 10) == []
    assert len(await store.outbox_fetch_due(now + timedelta(seconds=31), 10)) == 1


async def test_outbox_retry_then_done(store: Storage) -> None:
    """A retried row comes back when due with its attempt counted; done removes it."""
    await store.put_messages([make_message(1)], [OutboxItem("t1", "m1", "up", b"p")])
    now = T0 + timedelta(days=1)
    [row] = await store.outbox_fetch_due(now, 10)
    await store.outbox_retry(row.id, now + timedelta(minutes=5), "timeout")
    assert await store.outbox_fetch_due(now + timedelta(minutes=4), 10) == []
    [again] = await store.outbox_fetch_due(now + timedelta(minutes=5), 10)
    assert (again.attempts, again.last_error) == (1, "timeout")
    await store.outbox_done(again.id)
    assert await store.outbox_fetch_due(now + timedelta(days=9), 10) == []


# --------------------------------------------------------------------------- failures


async def test_ping_succeeds_on_an_open_store(store: Storage) -> None:
    """ping returns quietly while the database answers."""
    await store.ping()


async def test_closed_storage_raises_unavailable(store: Storage) -> None:
    """Using a closed storage raises StorageUnavailable, not a driver error."""
    await store.close()
    with pytest.raises(StorageUnavailable):
        await store.get_message("t1", "m1")


async def test_unreachable_postgres_raises_unavailable() -> None:
    """A server that does not answer gives StorageUnavailable with the cause's kind."""
    with pytest.raises(StorageUnavailable) as info:
        await open_storage("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2.0)
    assert info.value.cause and "postgres@" not in str(info.value)


async def test_unwritable_sqlite_path_raises_unavailable(tmp_path: Path) -> None:
    """A database path under a regular file cannot be created: StorageUnavailable."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageUnavailable):
        await open_storage(f"sqlite://{tmp_path}/file/db.sqlite")


async def test_sqlite_failure_inside_put_stores_nothing(tmp_path: Path) -> None:
    """A put whose transaction fails half-way leaves no partial batch behind."""
    s = await open_storage(f"sqlite://{tmp_path}/db.sqlite")
    try:
        # A trigger that fails the third insert stands in for a disk error mid-batch.
        conn = sqlite3.connect(tmp_path / "db.sqlite")
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.message_id = 'm2'"
            " BEGIN SELECT RAISE(ABORT, 'disk'); END"
        )
        conn.commit()
        conn.close()
        with pytest.raises(StorageUnavailable):
            await s.put_messages([make_message(0), make_message(1), make_message(2)])
        assert (await s.query_messages("t1", purpose=None)).items == ()
    finally:
        await s.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/db",  # unsupported database
        "sqlite:",  # no path
        "sqlite:///tmp/dir/",  # a directory, not a file
    ],
)
async def test_bad_storage_url_is_refused(url: str) -> None:
    """Unknown schemes and pathless SQLite URLs raise InvalidStorageUrl."""
    with pytest.raises(InvalidStorageUrl):
        await open_storage(url)


# --------------------------------------------------------------------------- group commit


class _FakeBatch:
    """A put_batch that records its calls and can be held or made to fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, puts: list[Put]) -> list[Result | WriteConflict]:
        records = [r for p in puts for r in p.records]
        self.calls.append([r.message_id for r in records])
        await self.gate.wait()
        if any(r.message_id == "bad" for r in records):
            raise ValueError("a record the fake database rejects")
        if any(r.message_id == "down" for r in records):
            raise StorageUnavailable("fake outage", "Fake")
        return [
            WriteConflict("state", p.records[0].conversation_id)
            if any(r.message_id == "stale" for r in p.records)
            else [(r, True) for r in p.records]
            for p in puts
        ]


async def test_calls_queued_during_a_transaction_share_the_next_one() -> None:
    """While one transaction runs, later calls queue and commit together."""
    fake = _FakeBatch()
    fake.gate.clear()
    gc = GroupCommitter(fake)
    first = asyncio.ensure_future(gc.put([make_message(0)]))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(gc.put([make_message(n)])) for n in range(1, 6)]
    await asyncio.sleep(0)
    fake.gate.set()
    await asyncio.gather(first, *rest)
    assert fake.calls == [["m0"], ["m1", "m2", "m3", "m4", "m5"]]


async def test_each_call_gets_its_own_results() -> None:
    """Results of a shared transaction are split back per call, in input order."""
    gc = GroupCommitter(_FakeBatch())
    a, b = await asyncio.gather(
        gc.put([make_message(1), make_message(2)]), gc.put([make_message(3)])
    )
    assert ([m.message_id for m, _ in a], [m.message_id for m, _ in b]) == (["m1", "m2"], ["m3"])


async def _group_behind_a_transaction(
    fake: _FakeBatch, other_id: str
) -> tuple[GroupCommitter, asyncio.Future[Any], asyncio.Future[Any]]:
    """A call "m1" and a call ``other_id`` queued while a first transaction is held open,
    so that they form the next group; returned once that first transaction is done."""
    fake.gate.clear()
    gc = GroupCommitter(fake)
    first = asyncio.ensure_future(gc.put([make_message(0)]))
    await asyncio.sleep(0)
    good = asyncio.ensure_future(gc.put([make_message(1)]))
    other = asyncio.ensure_future(gc.put([make_message(2, message_id=other_id)]))
    await asyncio.sleep(0)
    fake.gate.set()
    await first
    return gc, good, other


async def test_a_failing_call_does_not_fail_its_group() -> None:
    """When a shared transaction fails, each call is retried alone; only the bad one fails."""
    _, good, bad = await _group_behind_a_transaction(_FakeBatch(), "bad")
    assert (await good)[0][0].message_id == "m1"
    with pytest.raises(ValueError):
        await bad


async def test_a_conflicting_call_fails_alone_without_a_retry() -> None:
    """A call the batch reports as a write conflict gets it; the group's other calls get
    their results from the same transaction, and nothing is retried."""
    fake = _FakeBatch()
    gc, good, stale = await _group_behind_a_transaction(fake, "stale")
    assert (await good)[0][0].message_id == "m1"
    with pytest.raises(WriteConflict):
        await stale
    assert fake.calls == [["m0"], ["m1", "stale"]] and gc.transactions == 2


async def test_an_outage_fails_the_whole_group_at_once() -> None:
    """StorageUnavailable fails every call of the group without retrying each alone."""
    fake = _FakeBatch()
    fake.gate.clear()
    gc = GroupCommitter(fake)
    first = asyncio.ensure_future(gc.put([make_message(0)]))
    await asyncio.sleep(0)
    calls = [asyncio.ensure_future(gc.put([make_message(n)])) for n in (1, 2)]
    calls.append(asyncio.ensure_future(gc.put([make_message(3, message_id="down")])))
    await asyncio.sleep(0)
    fake.gate.set()
    await first
    for c in calls:
        with pytest.raises(StorageUnavailable):
            await c
    assert len(fake.calls) == 2


async def test_a_call_queued_as_the_worker_finishes_is_still_committed() -> None:
    """A put arriving right after the queue drained starts work instead of waiting forever."""
    gc = GroupCommitter(_FakeBatch())
    for n in range(20):
        a = asyncio.ensure_future(gc.put([make_message(n)]))
        await asyncio.sleep(0)
        b = asyncio.ensure_future(gc.put([make_message(100 + n)]))
        done, _ = await asyncio.wait({a, b}, timeout=30)  # the bound turns a hang into a failure
        assert done == {a, b}


async def test_group_size_is_bounded() -> None:
    """No transaction holds more than max_records records (unless one call is larger)."""
    fake = _FakeBatch()
    fake.gate.clear()
    gc = GroupCommitter(fake, max_records=2)
    calls = [asyncio.ensure_future(gc.put([make_message(n)])) for n in range(5)]
    await asyncio.sleep(0)
    fake.gate.set()
    await asyncio.gather(*calls)
    assert [len(c) for c in fake.calls] == [2, 2, 1]


async def test_cancelled_caller_does_not_cancel_the_commit() -> None:
    """A caller that goes away mid-commit leaves the transaction to finish for the others."""
    fake = _FakeBatch()
    fake.gate.clear()
    gc = GroupCommitter(fake)
    first = asyncio.ensure_future(gc.put([make_message(0)]))
    await asyncio.sleep(0)
    leaving = asyncio.ensure_future(gc.put([make_message(1)]))
    staying = asyncio.ensure_future(gc.put([make_message(2)]))
    await asyncio.sleep(0)
    leaving.cancel()
    fake.gate.set()
    await first
    assert (await staying)[0][0].message_id == "m2"
    assert fake.calls[-1] == ["m1", "m2"]


async def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    """The SQLite file is in WAL mode and the connection syncs fully on commit."""
    s = await open_storage(f"sqlite://{tmp_path}/db.sqlite")
    try:
        conn = s._c()  # type: ignore[attr-defined]
        modes = await s._run(  # type: ignore[attr-defined]
            lambda: (
                conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
        assert modes == ("wal", 2)  # 2 = FULL
    finally:
        await s.close()


async def test_postgres_recovers_after_its_connections_are_killed(tmp_path: Path) -> None:
    """Server-side termination gives StorageUnavailable, then the pool reconnects."""
    import asyncpg

    app = f"cw_kill_{RUN}"
    schema = f"cw_test_{RUN}_{next(_counter)}"
    try:
        s = await open_storage(f"{PG_BASE}?schema={schema}", application_name=app)
    except StorageUnavailable as exc:
        pytest.fail(f"PostgreSQL at {PG_BASE} is not reachable ({exc.cause})")
    admin = await asyncpg.connect(PG_BASE)
    try:
        await s.put_messages([make_message(0)])
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            app,
        )
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append((await s.get_message("t1", "m0")) is not None)
            except StorageUnavailable:
                outcomes.append(False)
        assert outcomes[-1] is True
        assert (await s.put_messages([make_message(1)]))[0][1]
    finally:
        await s.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def test_replay_after_deletion_is_answered_not_stored_again(store: Storage) -> None:
    """A retry of a message deleted since (retention) gets the original response back and
    does not resurrect the message."""
    [(first, _)] = await store.put_messages([make_message(1, response=b"first")])
    await _delete_message_row(store, "t1", "m1")
    [(again, created)] = await store.put_messages([make_message(1, response=b"second")])
    assert not created and (again.seq, again.response) == (first.seq, b"first")
    assert await store.get_message("t1", "m1") is None


async def _delete_message_row(store: Storage, tenant: str, message_id: str) -> None:
    """Delete a message the way retention does: its ``messages`` row only."""
    sql = "DELETE FROM messages WHERE tenant = {} AND message_id = {}"
    if isinstance(store, PostgresStorage):
        await store._with_conn(lambda c: c.execute(sql.format("$1", "$2"), tenant, message_id))
    else:
        s = store
        await s._run(  # type: ignore[attr-defined]
            lambda: s._write(  # type: ignore[attr-defined]
                lambda c: c.execute(sql.format("?", "?"), (tenant, message_id))
            )
        )


async def test_sqlite_reads_do_not_wait_behind_the_writer(tmp_path: Path) -> None:
    """A read completes while the writer thread is busy (reader threads, WAL)."""
    import threading

    s = await open_storage(f"sqlite://{tmp_path}/db.sqlite")
    gate = threading.Event()
    try:
        await s.put_messages([make_message(1)])
        busy = asyncio.ensure_future(s._run(gate.wait))  # type: ignore[attr-defined]
        read = asyncio.ensure_future(s.get_message("t1", "m1"))
        # The 30 s bound only turns a hang into a failure; it asserts no speed.
        done, _ = await asyncio.wait({busy, read}, timeout=30, return_when="FIRST_COMPLETED")
        assert done == {read} and read.result() is not None
    finally:
        gate.set()
        await s.close()


async def test_in_memory_sqlite_works_for_tests() -> None:
    """sqlite::memory: gives a throwaway storage whose reads see its writes."""
    s = await open_storage("sqlite::memory:")
    try:
        [(m, _)] = await s.put_messages([make_message(1)])
        assert await s.get_message("t1", "m1") == m
    finally:
        await s.close()


async def test_retag_racing_with_ingest_leaves_no_message_behind(open_store: Factory) -> None:
    """Puts into a conversation racing a re-tag on another connection all end up tagged."""
    a, b = await open_store(), await open_store()
    await a.put_messages([make_message(0)])
    await asyncio.gather(
        *(a.put_messages([make_message(3 * n)]) for n in range(1, 8)),
        b.add_conversation_purposes("t1", "c0", {"dispute_handling"}),
        *(b.put_messages([make_message(3 * n)]) for n in range(8, 12)),
    )
    page = await a.query_messages("t1", purpose=None, conversation_id="c0", limit=100)
    assert len(page.items) == 12
    assert all(m.purposes == {"dispute_handling"} for m in page.items)


# ------------------------------------------------------------- SQLite point look-ups


class _LockedConnection:
    """Stands in for the event loop's SQLite connection while another process holds the
    database locked (what SQLite reports after its short busy wait)."""

    calls = 0

    def execute(self, *args: object) -> None:
        _LockedConnection.calls += 1
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


async def test_sqlite_point_reads_move_to_a_reader_thread_when_locked(tmp_path: Path) -> None:
    """The ingest look-ups run on the event loop's own connection with a short lock wait;
    when that connection reports the database locked, the look-up is made again on a
    reader thread (which waits the full busy timeout) and still returns the record."""
    store = await open_storage(f"sqlite://{tmp_path}/cw.db")
    try:
        [(stored, _)] = await store.put_messages([make_message(1)])
        assert await store.get_message("t1", "m1") == stored  # the loop's connection
        assert isinstance(store, SQLiteStorage) and store._loop_conn is not None
        store._loop_conn.close()
        store._loop_conn = _LockedConnection()  # type: ignore[assignment]
        assert await store.get_message("t1", "m1") == stored
        assert await store.get_conversation_state("t1", "nope") is None
        assert _LockedConnection.calls == 2  # both tried the loop's connection first
    finally:
        await store.close()


# --------------------------------------------------------------------------- reused ids

DIGEST_A, DIGEST_B = b"\xaa" * 32, b"\xbb" * 32


async def test_text_digest_is_stored_and_read_back(store: Storage) -> None:
    """The keyed text digest travels with the record, through put and get."""
    [(stored, _)] = await store.put_messages([make_message(1, text_digest=DIGEST_A)])
    got = await store.get_message("t1", "m1")
    assert got is not None and got.text_digest == stored.text_digest == DIGEST_A


async def test_replay_with_the_same_conversation_and_digest_is_a_replay(store: Storage) -> None:
    """Same id, conversation and digest: the first record comes back, not created."""
    [(first, _)] = await store.put_messages([make_message(1, text_digest=DIGEST_A)])
    [(again, created)] = await store.put_messages([make_message(1, text_digest=DIGEST_A)])
    assert not created and again == first


@pytest.mark.parametrize(
    "change",
    [
        {"text_digest": DIGEST_B},  # same conversation, another text
        {"conversation_id": "c9"},  # same text, another conversation
    ],
)
async def test_reused_id_fails_the_whole_put(store: Storage, change: dict[str, Any]) -> None:
    """A stored id sent for a different message refuses the call; its other records are
    not stored either."""
    await store.put_messages([make_message(1, text_digest=DIGEST_A)])
    with pytest.raises(MessageIdReused) as caught:
        await store.put_messages([make_message(2), make_message(1, **change)])
    assert caught.value.message_id == "m1"
    assert await store.get_message("t1", "m2") is None
    got = await store.get_message("t1", "m1")
    assert got is not None and (got.conversation_id, got.text_digest) == ("c1", DIGEST_A)


async def test_one_batch_repeating_an_id_with_another_text_stores_nothing(store: Storage) -> None:
    """An id twice in one call with different digests refuses the call before any commit."""
    with pytest.raises(MessageIdReused):
        await store.put_messages(
            [make_message(1, text_digest=DIGEST_A), make_message(1, text_digest=DIGEST_B)]
        )
    assert await store.get_message("t1", "m1") is None


async def test_grouped_call_reusing_an_id_fails_alone(store: Storage) -> None:
    """Concurrent calls share a transaction; the one reusing an id fails, the others commit."""
    await store.put_messages([make_message(1, text_digest=DIGEST_A)])
    results = await asyncio.gather(
        store.put_messages([make_message(2)]),
        store.put_messages([make_message(1, text_digest=DIGEST_B)]),
        store.put_messages([make_message(3)]),
        return_exceptions=True,
    )
    assert isinstance(results[1], MessageIdReused)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert await store.get_message("t1", "m2") is not None
    assert await store.get_message("t1", "m3") is not None


async def _drop_digest_column(s: Storage) -> None:
    """Make the database look like one an earlier version created (no digest column)."""
    if isinstance(s, PostgresStorage):
        import asyncpg  # type: ignore[import-untyped]  # no stubs published

        conn = await asyncpg.connect(PG_BASE)
        try:
            await conn.execute(f'ALTER TABLE "{s.schema}".messages DROP COLUMN text_digest')
        finally:
            await conn.close()
    else:
        conn = sqlite3.connect(s._path)  # type: ignore[attr-defined]  # SQLite only
        try:
            conn.execute("ALTER TABLE messages DROP COLUMN text_digest")
            conn.commit()
        finally:
            conn.close()


async def test_records_of_an_older_schema_stay_readable(open_store: Factory) -> None:
    """Opening a database without the digest column adds it; an old record (no digest)
    reads back and is compared by conversation only; new records carry their digest."""
    old = await open_store()
    await old.put_messages([make_message(1, text_digest=DIGEST_A)])
    await old.close()
    await _drop_digest_column(old)
    store = await open_store()
    got = await store.get_message("t1", "m1")
    assert got is not None and got.text_digest is None
    [(_, created)] = await store.put_messages([make_message(1, text_digest=DIGEST_B)])
    assert not created  # no digest stored: the same conversation is a replay
    with pytest.raises(MessageIdReused):
        await store.put_messages([make_message(1, conversation_id="c9")])
    await store.put_messages([make_message(2, text_digest=DIGEST_B)])
    new = await store.get_message("t1", "m2")
    assert new is not None and new.text_digest == DIGEST_B


async def test_postgres_key_stored_during_the_put_is_a_conflict(tmp_path: Path) -> None:
    """A writer that does not lock the conversation (put_data_key_if_absent) inserting a
    key while a put bringing a new key runs: the put waits for it, then raises
    WriteConflict and stores nothing; the other writer's key stays."""
    import asyncpg

    schema = f"cw_test_{RUN}_{next(_counter)}"
    try:
        store = await open_storage(f"{PG_BASE}?schema={schema}")
    except StorageUnavailable as exc:
        pytest.fail(f"PostgreSQL at {PG_BASE} is not reachable ({exc.cause})")
    other = await asyncpg.connect(PG_BASE, server_settings={"search_path": schema})
    try:
        await store.put_messages([make_message(1)])  # creates the month's partition
        tx = other.transaction()
        await tx.start()
        await other.execute(
            "INSERT INTO data_keys (tenant, conversation_id, region, dek_id, key_id, wrapped,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            "t1", "c0", "eu", _dk(dek=1).dek_id, "eu:1", _dk(dek=1).wrapped, T0,
        )
        put = asyncio.ensure_future(
            store.put_messages(
                [make_message(0)],
                conversations=[ConversationWrite("t1", "c0", new_key=_dk(dek=2))],
            )
        )
        for _ in range(3000):  # until the put waits on the uncommitted key (bounded)
            waiting = await other.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                " WHERE NOT l.granted AND a.application_name = 'chatwarden'"
                " AND a.query LIKE 'INSERT INTO data_keys%'"
            )
            if waiting or put.done():
                break
            await asyncio.sleep(0.01)
        assert waiting, put.done() and put.exception()  # the put waits at its key insert
        await tx.commit()
        with pytest.raises(WriteConflict):
            await put
        assert await store.get_message("t1", "m0") is None
        assert await store.get_data_key("t1", "c0") == _dk(dek=1)
    finally:
        await store.close()
        await other.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await other.close()

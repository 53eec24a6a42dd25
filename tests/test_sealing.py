"""proxy.sealing: conversation data keys, record binding, crypto-shredding, the key cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy import crypto
from proxy.errors import DecryptionError
from proxy.sealing import SealContext, Sealer
from proxy.storage import Storage, open_storage
from proxy.testing import FakeKeyStore, KeyStoreDown

CTX = SealContext("t1", "c1", "m1", "eu")


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_storage(f"sqlite://{tmp_path}/cw.db")
    yield s
    await s.close()


@pytest.fixture
def keys() -> FakeKeyStore:
    return FakeKeyStore(regions=("eu", "us"))


async def test_seal_then_open_returns_the_plaintext(keys: FakeKeyStore, storage: Storage) -> None:
    """A sealed original opens for its own record."""
    sealer = Sealer(keys, storage)
    assert await sealer.open(CTX, await sealer.seal(CTX, b"hello")) == b"hello"


async def test_one_data_key_per_conversation(keys: FakeKeyStore, storage: Storage) -> None:
    """Messages of one conversation share a data key: it is wrapped once."""
    sealer = Sealer(keys, storage)
    for i in range(5):
        await sealer.seal(SealContext("t1", "c1", f"m{i}", "eu"), b"x")
    await sealer.seal(SealContext("t1", "c2", "m9", "eu"), b"x")
    assert keys.wraps == 2


async def test_data_key_is_stored_wrapped_under_the_region(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """The stored data key names its region's current KEK and the blob's DEK id."""
    blob = await Sealer(keys, storage).seal(SealContext("t1", "c1", "m1", "us"), b"x")
    rec = await storage.get_data_key("t1", "c1")
    assert rec is not None and (rec.region, rec.key_id) == ("us", "us:1")
    assert rec.dek_id == crypto.blob_data_key_id(blob)


async def test_concurrent_first_seals_create_one_data_key(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """Many seals racing on a new conversation end up with one stored key, all openable."""
    a, b = Sealer(keys, storage), Sealer(keys, storage)  # two replicas
    ctxs = [SealContext("t1", "c1", f"m{i}", "eu") for i in range(8)]
    blobs = await asyncio.gather(*(s.seal(c, b"x") for s, c in zip([a, b] * 4, ctxs, strict=True)))
    assert len({crypto.blob_data_key_id(blob) for blob in blobs}) == 1
    fresh = Sealer(keys, storage)
    assert [await fresh.open(c, blob) for c, blob in zip(ctxs, blobs, strict=True)] == [b"x"] * 8


@pytest.mark.parametrize(
    "other",
    [
        SealContext("t1", "c1", "m2", "eu"),  # another message of the same conversation
        SealContext("t2", "c1", "m1", "eu"),  # the same ids under another tenant
        SealContext("t1", "c1", "m1", "eu", schema_version=2),  # another schema version
    ],
)
async def test_blob_moved_to_another_record_does_not_open(
    keys: FakeKeyStore, storage: Storage, other: SealContext
) -> None:
    """A blob copied onto another record fails with the opaque error."""
    sealer = Sealer(keys, storage)
    blob = await sealer.seal(CTX, b"x")
    await sealer.seal(SealContext(other.tenant, other.conversation_id, "mz", "eu"), b"y")
    with pytest.raises(DecryptionError) as info:
        await sealer.open(other, blob)
    assert str(info.value) == crypto.DECRYPTION_FAILED


async def test_blob_moved_to_another_conversation_does_not_open(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """Another conversation has another data key: the blob names a key it does not have."""
    sealer = Sealer(keys, storage)
    blob = await sealer.seal(CTX, b"x")
    other = SealContext("t1", "c2", "m1", "eu")
    await sealer.seal(other, b"y")
    with pytest.raises(DecryptionError):
        await sealer.open(other, blob)


async def test_shredding_makes_open_fail(keys: FakeKeyStore, storage: Storage) -> None:
    """After shred, the conversation's blobs never open again."""
    sealer = Sealer(keys, storage)
    blob = await sealer.seal(CTX, b"x")
    assert await sealer.shred("t1", "c1")
    with pytest.raises(DecryptionError):
        await sealer.open(CTX, blob)


async def test_shred_destroys_the_stored_key(keys: FakeKeyStore, storage: Storage) -> None:
    """Shredding deletes the wrapped data key from storage."""
    sealer = Sealer(keys, storage)
    await sealer.seal(CTX, b"x")
    await sealer.shred("t1", "c1")
    assert await storage.get_data_key("t1", "c1") is None


async def test_shred_on_one_replica_stops_reads_on_another(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """A replica with the key cached still refuses to open after another one shredded."""
    a, b = Sealer(keys, storage), Sealer(keys, storage)
    blob = await a.seal(CTX, b"x")
    assert await b.open(CTX, blob) == b"x"  # b now caches the key
    await a.shred("t1", "c1")
    with pytest.raises(DecryptionError):
        await b.open(CTX, blob)


async def test_conversation_after_shred_gets_a_new_key(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """New messages after a shred are sealed under a fresh key; the old blobs stay dead."""
    sealer = Sealer(keys, storage)
    old = await sealer.seal(CTX, b"x")
    await sealer.shred("t1", "c1")
    later = SealContext("t1", "c1", "m2", "eu")
    new = await sealer.seal(later, b"y")
    assert crypto.blob_data_key_id(new) != crypto.blob_data_key_id(old)
    assert await sealer.open(later, new) == b"y"
    with pytest.raises(DecryptionError):
        await sealer.open(CTX, old)


async def test_shred_of_an_unknown_conversation_reports_false(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """Shredding a conversation without a data key is a no-op that says so."""
    assert not await Sealer(keys, storage).shred("t1", "nope")


async def test_unreachable_key_store_fails_closed(keys: FakeKeyStore, storage: Storage) -> None:
    """Without the key store nothing is sealed and the error propagates."""
    keys.fail = True
    with pytest.raises(KeyStoreDown):
        await Sealer(keys, storage).seal(CTX, b"x")
    assert await storage.get_data_key("t1", "c1") is None


async def test_cached_key_avoids_unwrapping_again(keys: FakeKeyStore, storage: Storage) -> None:
    """Opening many blobs of one conversation unwraps its data key once."""
    blobs = [
        await Sealer(keys, storage).seal(SealContext("t1", "c1", f"m{i}", "eu"), b"x")
        for i in range(3)
    ]
    reader = Sealer(keys, storage)
    keys.unwraps = 0
    for i, blob in enumerate(blobs):
        await reader.open(SealContext("t1", "c1", f"m{i}", "eu"), blob)
    assert keys.unwraps == 1


async def test_cache_is_bounded(keys: FakeKeyStore, storage: Storage) -> None:
    """The data key cache never holds more than cache_size keys."""
    sealer = Sealer(keys, storage, cache_size=2)
    for i in range(5):
        await sealer.seal(SealContext("t1", f"c{i}", "m", "eu"), b"x")
    assert repr(sealer) == "Sealer(cached_keys=2)"


async def test_cached_keys_expire(keys: FakeKeyStore, storage: Storage) -> None:
    """After cache_ttl the data key is unwrapped again."""
    now = [0.0]
    sealer = Sealer(keys, storage, cache_ttl=10, monotonic=lambda: now[0])
    blob = await sealer.seal(CTX, b"x")
    keys.unwraps = 0
    await sealer.open(CTX, blob)
    now[0] = 11.0
    await sealer.open(CTX, blob)
    assert keys.unwraps == 1


async def test_sealer_refuses_pickling(keys: FakeKeyStore, storage: Storage) -> None:
    """A sealer holds unwrapped keys and cannot be pickled."""
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Sealer(keys, storage))


async def test_shredded_key_bytes_leave_the_sqlite_files(tmp_path: Path) -> None:
    """After shred, the wrapped data key is in neither the database file nor its WAL."""
    storage = await open_storage(f"sqlite://{tmp_path}/shred.db")
    try:
        sealer = Sealer(FakeKeyStore(regions=("eu",)), storage)
        await sealer.seal(CTX, b"x")
        rec = await storage.get_data_key("t1", "c1")
        assert rec is not None
        await sealer.shred("t1", "c1")
        files = [p for p in tmp_path.iterdir() if p.name.startswith("shred.db")]
        assert files and not any(rec.wrapped in p.read_bytes() for p in files)
    finally:
        await storage.close()


# ------------------------------------------------------------- the ingest path's keys


async def test_key_for_put_stores_and_caches_nothing_until_committed(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """A fresh key for the put is neither stored nor cached: asked again before its put
    committed, the sealer makes another key; after committed() it hands out that one."""
    sealer = Sealer(keys, storage)
    first = await sealer.key_for_put(CTX)
    assert first.new is not None and first.new.dek_id == first.dek_id
    assert await storage.get_data_key("t1", "c1") is None
    assert repr(sealer) == "Sealer(cached_keys=0)"
    second = await sealer.key_for_put(CTX)
    assert second.dek_id != first.dek_id
    sealer.committed(second)
    again = await sealer.key_for_put(CTX)
    assert (again.dek_id, again.new) == (second.dek_id, None)


async def test_key_for_put_hands_out_the_stored_key(keys: FakeKeyStore, storage: Storage) -> None:
    """For a conversation with a stored key, the put is given that key, marked not new,
    and a blob sealed with it opens."""
    blob = await Sealer(keys, storage).seal(CTX, b"x")
    sealer = Sealer(keys, storage)
    key = await sealer.key_for_put(SealContext("t1", "c1", "m2", "eu"))
    assert key.new is None and key.dek_id == crypto.blob_data_key_id(blob)
    later = SealContext("t1", "c1", "m2", "eu")
    assert await sealer.open(later, sealer.seal_with(key, later, b"y")) == b"y"


async def test_a_conversation_key_seals_only_its_conversation(
    keys: FakeKeyStore, storage: Storage
) -> None:
    """seal_with refuses a record of another conversation."""
    sealer = Sealer(keys, storage)
    key = await sealer.key_for_put(CTX)
    with pytest.raises(ValueError):
        sealer.seal_with(key, SealContext("t1", "c2", "m1", "eu"), b"x")


async def test_conversation_key_refuses_pickling(keys: FakeKeyStore, storage: Storage) -> None:
    """A conversation key holds key material: no pickling, no key bytes in its repr."""
    import pickle

    key = await Sealer(keys, storage).key_for_put(CTX)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert "key=" not in repr(key) and "new=" not in repr(key)

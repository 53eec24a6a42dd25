"""Sealing originals on the ingest path: one data key per conversation, crypto-shredding.

A conversation's data key lives in storage only wrapped by the region's KEK through a
:class:`~proxy.keys.KeyStore`. The sealed blob is :mod:`proxy.crypto` format 2: it names the
data key by id and binds tenant, conversation, message id and schema version as associated
data, so a blob moved to another record does not open.

Two ways to get a conversation's key, both creating it exactly once even under races:

* The ingest path (:mod:`proxy.pipeline`) writes nothing here. :meth:`Sealer.key_for_put`
  returns the cached or stored key, or, for a conversation without one, a fresh key
  (wrapped) that is *not stored yet*: the pipeline seals with it and hands its record to
  the put (:class:`~proxy.storage.base.ConversationWrite`), which stores it in the same
  transaction as the sealed records, only if the conversation still has no key. Every put
  also names the key its records are sealed under, and storage refuses it
  (``WriteConflict``, nothing stored) unless that is the conversation's stored key at
  commit: a blob is never committed under a key that is not stored, nor under another
  one. After a refusal the pipeline calls :meth:`Sealer.forget` and redoes the request,
  which then seals with the key another replica stored (or, after a shred, a new one).
  A fresh key enters the cache only through :meth:`Sealer.committed`, after the put
  committed: the cache never hands out a key that was not stored.
* :meth:`Sealer.seal` (tools, tests, benchmarks) stores a new key in a transaction of its
  own (``put_data_key_if_absent``, which returns the winner of a race) before sealing.

Wrapping AAD: ``tenant | conversation_id | region`` (plus the DEK id and KEK key id, which
the crypto layer adds). The message id cannot be in it: one data key serves every message
of the conversation; the payload AAD carries it.

:meth:`Sealer.shred` deletes the stored data key: every blob of the conversation is then
unreadable for good (a later message starts a new data key with a new id). Copies of the
wrapped key in backups become useless once its KEK version is retired (``keys retire``).

Unwrapped data keys are cached in a bounded LRU for ``cache_ttl`` seconds. ``open`` always
reads the stored wrapped key first (so a shred by another replica takes effect at once for
reads). ``key_for_put`` trusts the cache, but the put checks the key it was sealed under,
so a message sealed on *another* replica under a just-shredded key is refused and redone
under a new key. ``seal`` trusts the cache without such a check: there a message may be
sealed under a just-shredded key for at most ``cache_ttl`` seconds (default 30).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from proxy import crypto
from proxy.crypto import AeadKey, RecordAad
from proxy.errors import DecryptionError
from proxy.keys import KeyStore
from proxy.storage.base import RECORD_SCHEMA_VERSION, DataKeyRecord, Storage

__all__ = [
    "ConversationKey",
    "RewrapReport",
    "SealContext",
    "Sealer",
    "rewrap_data_keys",
    "wrap_aad",
]


@dataclass(frozen=True, slots=True)
class SealContext:
    """Which record a blob belongs to, and the region whose KEK protects it."""

    tenant: str
    conversation_id: str
    message_id: str
    region: str
    schema_version: int = RECORD_SCHEMA_VERSION

    @property
    def aad(self) -> RecordAad:
        return RecordAad(self.tenant, self.conversation_id, self.message_id, self.schema_version)


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """A conversation's data key as :meth:`Sealer.key_for_put` hands it to the ingest
    path. ``new`` is set when the key was made for this put and is not stored yet: it is
    the record the put must store (it becomes the conversation's key only if that put
    commits); None for the conversation's stored key. Not picklable (holds the key)."""

    tenant: str
    conversation_id: str
    dek_id: bytes
    key: AeadKey = field(repr=False)
    new: DataKeyRecord | None = field(default=None, repr=False)


def wrap_aad(tenant: str, conversation_id: str, region: str) -> bytes:
    """The associated data a conversation's data key is wrapped with."""
    return crypto.encode_fields("chatwarden/data-key", tenant, conversation_id, region)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Sealer:
    """Seals and opens originals; see the module docstring."""

    def __init__(
        self,
        keys: KeyStore,
        storage: Storage,
        *,
        cache_size: int = 4096,
        cache_ttl: float = 30.0,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._storage = storage
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, AeadKey, float]] = OrderedDict()
        self._cache_size = cache_size
        self._ttl = cache_ttl
        self._clock = clock
        self._monotonic = monotonic
        self._creating: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"Sealer(cached_keys={len(self._cache)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Sealer holds key material and cannot be pickled")

    # -- cache
    def _cached_entry(
        self, tenant: str, cid: str, dek_id: bytes | None = None
    ) -> tuple[bytes, AeadKey] | None:
        """The cached (key id, key) of a conversation, if fresh (and of ``dek_id``)."""
        hit = self._cache.get((tenant, cid))
        if hit is None:
            return None
        did, key, expires = hit
        if self._monotonic() >= expires or (dek_id is not None and did != dek_id):
            del self._cache[(tenant, cid)]
            return None
        self._cache.move_to_end((tenant, cid))
        return did, key

    def _cached(self, tenant: str, cid: str, dek_id: bytes | None = None) -> AeadKey | None:
        entry = self._cached_entry(tenant, cid, dek_id)
        return None if entry is None else entry[1]

    def _remember(self, tenant: str, cid: str, dek_id: bytes, key: AeadKey) -> None:
        if self._cache_size <= 0:
            return
        self._cache[(tenant, cid)] = (dek_id, key, self._monotonic() + self._ttl)
        self._cache.move_to_end((tenant, cid))
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self, tenant: str, conversation_id: str) -> None:
        """Drop a cached data key (called by :meth:`shred`)."""
        self._cache.pop((tenant, conversation_id), None)

    # -- data keys
    async def _unwrap(self, rec: DataKeyRecord) -> AeadKey:
        aad = wrap_aad(rec.tenant, rec.conversation_id, rec.region)
        return await self._keys.unwrap(rec.key_id, rec.dek_id, rec.wrapped, aad)

    async def _new_key(self, ctx: SealContext) -> tuple[AeadKey, DataKeyRecord]:
        """A fresh data key and its wrapped record; nothing is stored."""
        dek = crypto.new_data_key()
        aad = wrap_aad(ctx.tenant, ctx.conversation_id, ctx.region)
        key_id, wrapped = await self._keys.wrap(ctx.region, dek, aad)
        return dek, DataKeyRecord(
            tenant=ctx.tenant,
            conversation_id=ctx.conversation_id,
            region=ctx.region,
            dek_id=bytes.fromhex(dek.key_id),
            key_id=key_id,
            wrapped=wrapped,
            created_at=self._clock(),
        )

    async def key_for_put(self, ctx: SealContext) -> ConversationKey:
        """The key to seal ``ctx``'s conversation with on the ingest path; writes nothing.

        The cached or stored key, or a fresh one (``new`` set) that the caller's put must
        store; report that put's commit with :meth:`committed`. Until then the fresh key
        is not cached: a second call makes another one (the pipeline asks once per
        conversation and request, under its per-conversation lock)."""
        tenant, cid = ctx.tenant, ctx.conversation_id
        entry = self._cached_entry(tenant, cid)
        if entry is not None:
            return ConversationKey(tenant, cid, *entry)
        rec = await self._storage.get_data_key(tenant, cid)
        if rec is None:
            dek, mine = await self._new_key(ctx)
            return ConversationKey(tenant, cid, mine.dek_id, dek, mine)
        key = await self._unwrap(rec)
        self._remember(tenant, cid, rec.dek_id, key)
        return ConversationKey(tenant, cid, rec.dek_id, key)

    def seal_with(self, key: ConversationKey, ctx: SealContext, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for the record ``ctx`` under ``key`` (crypto format 2)."""
        if (key.tenant, key.conversation_id) != (ctx.tenant, ctx.conversation_id):
            raise ValueError("a conversation key seals its own conversation's records only")
        return crypto.seal_with_data_key(key.key, plaintext, ctx.aad)

    def committed(self, key: ConversationKey) -> None:
        """The put that carried ``key`` committed: a fresh key is now the conversation's
        stored key and may be cached."""
        if key.new is not None:
            self._remember(key.tenant, key.conversation_id, key.dek_id, key.key)

    async def data_key(self, ctx: SealContext) -> AeadKey:
        """The conversation's data key, created and stored (in a transaction of its own)
        on first use. The ingest path uses :meth:`key_for_put` instead."""
        key = self._cached(ctx.tenant, ctx.conversation_id)
        if key is not None:
            return key
        slot = (ctx.tenant, ctx.conversation_id)
        lock = self._creating.setdefault(slot, asyncio.Lock())
        try:
            async with lock:
                key = self._cached(ctx.tenant, ctx.conversation_id)
                if key is not None:
                    return key
                rec = await self._storage.get_data_key(ctx.tenant, ctx.conversation_id)
                if rec is None:
                    dek, mine = await self._new_key(ctx)
                    rec = await self._storage.put_data_key_if_absent(mine)
                    # Another replica may have won the race: use the stored key.
                    key = dek if rec.dek_id == mine.dek_id else await self._unwrap(rec)
                else:
                    key = await self._unwrap(rec)
                self._remember(ctx.tenant, ctx.conversation_id, rec.dek_id, key)
                return key
        finally:
            if not lock.locked() and self._creating.get(slot) is lock:
                del self._creating[slot]

    # -- public API
    async def seal(self, ctx: SealContext, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for the record ``ctx`` (crypto format 2), storing a new
        data key first if the conversation has none."""
        return crypto.seal_with_data_key(await self.data_key(ctx), plaintext, ctx.aad)

    async def open(self, ctx: SealContext, blob: bytes) -> bytes:
        """Decrypt a blob sealed for ``ctx``. DecryptionError for every failure, including
        a shredded data key."""
        dek_id = crypto.blob_data_key_id(blob)
        rec = await self._storage.get_data_key(ctx.tenant, ctx.conversation_id)
        if rec is None or rec.dek_id != dek_id:
            self.forget(ctx.tenant, ctx.conversation_id)
            raise DecryptionError(crypto.DECRYPTION_FAILED)
        key = self._cached(ctx.tenant, ctx.conversation_id, dek_id)
        if key is None:
            key = await self._unwrap(rec)
            self._remember(ctx.tenant, ctx.conversation_id, rec.dek_id, key)
        return crypto.open_with_data_key(key, blob, ctx.aad)

    async def shred(self, tenant: str, conversation_id: str) -> bool:
        """Destroy the conversation's data key; afterwards its blobs never open. True if
        a key existed."""
        self.forget(tenant, conversation_id)
        return await self._storage.delete_data_key(tenant, conversation_id)


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """What :func:`rewrap_data_keys` did: keys seen, re-wrapped, already current, and
    lost races (a key shredded or re-wrapped by someone else meanwhile)."""

    seen: int
    rewrapped: int
    current: int
    changed_meanwhile: int


async def rewrap_data_keys(
    keys: KeyStore, storage: Storage, *, regions: tuple[str, ...] | None = None
) -> RewrapReport:
    """Re-wrap every stored data key under its region's newest KEK version (after
    ``keys rotate``). Blobs are untouched: they name the data key, not the KEK. Each key
    is updated with a compare-and-set, so a concurrent shred is never undone."""
    seen = rewrapped = current = raced = 0
    newest: dict[str, str] = {}
    async for rec in storage.iter_data_keys():
        if regions is not None and rec.region not in regions:
            continue
        seen += 1
        if rec.region not in newest:
            newest[rec.region] = await keys.current(rec.region)
        if rec.key_id == newest[rec.region]:
            current += 1
            continue
        aad = wrap_aad(rec.tenant, rec.conversation_id, rec.region)
        dek = await keys.unwrap(rec.key_id, rec.dek_id, rec.wrapped, aad)
        key_id, wrapped = await keys.wrap(rec.region, dek, aad)
        updated = DataKeyRecord(
            tenant=rec.tenant,
            conversation_id=rec.conversation_id,
            region=rec.region,
            dek_id=rec.dek_id,
            key_id=key_id,
            wrapped=wrapped,
            created_at=rec.created_at,
        )
        if await storage.replace_data_key_wrapping(updated, expected_key_id=rec.key_id):
            rewrapped += 1
        else:
            raced += 1
    return RewrapReport(seen, rewrapped, current, raced)

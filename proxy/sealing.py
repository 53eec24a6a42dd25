"""Sealing originals on the ingest path: one data key per conversation, crypto-shredding.

:class:`Sealer` gets (or creates, exactly once even under races) the conversation's data
key from storage, where it lives only wrapped by the region's KEK through a
:class:`~proxy.keys.KeyStore`. The sealed blob is :mod:`proxy.crypto` format 2: it names the
data key by id and binds tenant, conversation, message id and schema version as associated
data, so a blob moved to another record does not open.

Wrapping AAD: ``tenant | conversation_id | region`` (plus the DEK id and KEK key id, which
the crypto layer adds). The message id cannot be in it: one data key serves every message
of the conversation; the payload AAD carries it.

:meth:`Sealer.shred` deletes the stored data key: every blob of the conversation is then
unreadable for good (a later message starts a new data key with a new id). Copies of the
wrapped key in backups become useless once its KEK version is retired (``keys retire``).

Unwrapped data keys are cached in a bounded LRU for ``cache_ttl`` seconds. ``open`` always
reads the stored wrapped key first (so a shred by another replica takes effect at once for
reads); ``seal`` trusts the cache, so on *another* replica a message may be sealed under a
just-shredded key for at most ``cache_ttl`` seconds (default 30).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from proxy import crypto
from proxy.crypto import AeadKey, RecordAad
from proxy.errors import DecryptionError
from proxy.keys import KeyStore
from proxy.storage.base import RECORD_SCHEMA_VERSION, DataKeyRecord, Storage

__all__ = ["RewrapReport", "SealContext", "Sealer", "rewrap_data_keys", "wrap_aad"]


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
    def _cached(self, tenant: str, cid: str, dek_id: bytes | None = None) -> AeadKey | None:
        hit = self._cache.get((tenant, cid))
        if hit is None:
            return None
        did, key, expires = hit
        if self._monotonic() >= expires or (dek_id is not None and did != dek_id):
            del self._cache[(tenant, cid)]
            return None
        self._cache.move_to_end((tenant, cid))
        return key

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

    async def data_key(self, ctx: SealContext) -> AeadKey:
        """The conversation's data key, created and stored on first use."""
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
                    dek = crypto.new_data_key()
                    aad = wrap_aad(ctx.tenant, ctx.conversation_id, ctx.region)
                    key_id, wrapped = await self._keys.wrap(ctx.region, dek, aad)
                    mine = DataKeyRecord(
                        tenant=ctx.tenant,
                        conversation_id=ctx.conversation_id,
                        region=ctx.region,
                        dek_id=bytes.fromhex(dek.key_id),
                        key_id=key_id,
                        wrapped=wrapped,
                        created_at=self._clock(),
                    )
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
        """Encrypt ``plaintext`` for the record ``ctx`` (crypto format 2)."""
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

"""Public test helpers for the service: fakes and record builders.

* :class:`FrozenClock` — time as a parameter (re-exported from the audit helpers).
* :class:`FakeKeyStore` — an in-memory :class:`~proxy.keys.KeyStore` that counts calls and
  can be told to fail, so fail-closed paths are testable without a key file.
* :func:`make_message` — a valid :class:`~proxy.storage.StoredMessage` with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proxy import crypto
from proxy.audit.testing import FrozenClock
from proxy.crypto import AeadKey
from proxy.errors import DecryptionError, KeyringError
from proxy.storage.base import StoredMessage

__all__ = ["FakeKeyStore", "FrozenClock", "KeyStoreDown", "make_message"]


class KeyStoreDown(KeyringError):
    """Raised by :class:`FakeKeyStore` while ``fail`` is set (an unreachable KMS)."""


@dataclass
class FakeKeyStore:
    """In-memory KEKs per region, rotated on demand. Key ids are ``<region>:<version>``
    like the real keyring's. ``fail = True`` makes every call raise KeyStoreDown."""

    regions: tuple[str, ...] = ("default",)
    fail: bool = False
    wraps: int = 0
    unwraps: int = 0
    _keks: dict[str, list[AeadKey]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for r in self.regions:
            self._keks.setdefault(r, [AeadKey.generate(f"{r}:1")])

    def _check(self) -> None:
        if self.fail:
            raise KeyStoreDown("the key store is unreachable (test fake)")

    def kek(self, key_id: str) -> AeadKey | None:
        region = key_id.rpartition(":")[0]
        return next((k for k in self._keks.get(region, ()) if k.key_id == key_id), None)

    async def wrap(self, region: str, dek: AeadKey, aad: bytes) -> tuple[str, bytes]:
        self._check()
        self.wraps += 1
        try:
            kek = self._keks[region][-1]
        except KeyError:
            raise KeyringError("no key-encryption key for this region") from None
        return kek.key_id, crypto.wrap_data_key(kek, dek, aad)

    async def unwrap(self, key_id: str, dek_id: bytes, wrapped: bytes, aad: bytes) -> AeadKey:
        self._check()
        self.unwraps += 1
        kek = self.kek(key_id)
        if kek is None:
            raise DecryptionError(crypto.DECRYPTION_FAILED)
        return crypto.unwrap_data_key(kek, dek_id, wrapped, aad)

    async def rotate(self, region: str) -> str:
        self._check()
        versions = self._keks.setdefault(region, [])
        kek = AeadKey.generate(f"{region}:{len(versions) + 1}")
        versions.append(kek)
        return kek.key_id

    async def current(self, region: str) -> str:
        self._check()
        try:
            return self._keks[region][-1].key_id
        except KeyError:
            raise KeyringError("no key-encryption key for this region") from None


def make_message(n: int = 0, **overrides: Any) -> StoredMessage:
    """A stored-message record with plausible, content-free fields; ``n`` varies ids."""
    sent = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    fields: dict[str, Any] = {
        "tenant": "t1",
        "message_id": f"m{n}",
        "conversation_id": f"c{n % 3}",
        "sender_id": f"u{n % 2}",
        "sender_role": "buyer" if n % 2 == 0 else "seller",
        "recipient_id": f"u{(n + 1) % 2}",
        "sent_at": sent,
        "region": "default",
        "redacted": f"message {n} [CARD_1]",
        "entities": ((8 + len(str(n)), 16 + len(str(n)), "CREDIT_CARD"),),
        "purposes": frozenset(),
        "sealed": b"\x02" + bytes(60),
        "ingested_at": sent + timedelta(seconds=1),
        "response": b'{"status":"stored"}',
        "retention_until": sent + timedelta(days=365),
    }
    fields.update(overrides)
    return StoredMessage(**fields)

"""Ed25519 signer and verifier for checkpoints, on top of :mod:`proxy.crypto`.

Only ``proxy.crypto`` touches ``cryptography.hazmat``; this module adapts its Ed25519
recipes to the :class:`~proxy.audit.checkpoint.Signer` and
:class:`~proxy.audit.checkpoint.SignatureVerifier` protocols, and reads and writes the
audit public key file.

Public key file: one line, ``ed25519 <base64 of the raw 32-byte public key>``. Loading
also accepts the raw key as 32 bytes, 64 hex digits or bare base64, so a key exported by
other tools works too. The file holds no secret; hand it to auditors and regulators.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from proxy.audit.checkpoint import KeySet, key_id_of
from proxy.audit.errors import AuditError

PUBLIC_KEY_PREFIX = "ed25519 "


def _crypto() -> Any:
    # Imported on first use: reading and writing key files needs no crypto backend.
    from proxy import crypto

    return crypto


class Ed25519Verifier:
    """Verifies signatures against one raw Ed25519 public key."""

    __slots__ = ("_key_id", "_public")

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise AuditError("audit public key must be 32 bytes (raw Ed25519)")
        self._public = public_key
        self._key_id = key_id_of(public_key)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public

    def verify(self, message: bytes, signature: bytes) -> bool:
        return bool(_crypto().verify(self._public, message, signature))


class Ed25519Signer:
    """Signs with the audit key held by ``proxy.crypto``; never exposes key bytes."""

    __slots__ = ("_key", "_key_id", "_public")

    def __init__(self, signing_key: Any) -> None:
        self._key = signing_key
        self._public: bytes = bytes(_crypto().public_key_bytes(signing_key))
        self._key_id = key_id_of(self._public)

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self._key_id!r})"

    def __reduce__(self) -> Any:
        raise TypeError("the audit signing key cannot be pickled")

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return bytes(_crypto().sign(self._key, message))

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._public)


def format_public_key(public_key: bytes) -> str:
    return PUBLIC_KEY_PREFIX + base64.b64encode(public_key).decode("ascii") + "\n"


def parse_public_key(data: bytes) -> bytes:
    """Raw 32-byte key from any accepted public key file content."""
    text = data.strip()
    if len(data) == 32 and not text.startswith(PUBLIC_KEY_PREFIX.strip().encode()):
        return data
    try:
        s = text.decode("ascii")
    except UnicodeDecodeError:
        raise AuditError(
            "public key file is not in a known format; export it with `chatwarden audit public-key`"
        ) from None
    if s.startswith(PUBLIC_KEY_PREFIX):
        s = s[len(PUBLIC_KEY_PREFIX) :].strip()
    try:
        raw = bytes.fromhex(s) if len(s) == 64 else base64.b64decode(s, validate=True)
    except (ValueError, binascii.Error):
        raise AuditError(
            "public key file is not in a known format; export it with `chatwarden audit public-key`"
        ) from None
    if len(raw) != 32:
        raise AuditError("public key is not 32 bytes; export it with `chatwarden audit public-key`")
    return raw


def load_public_key(path: Path) -> Ed25519Verifier | KeySet:
    """The key in ``path``; a file of several ``ed25519 ...`` lines (keys from before and
    after a rotation, oldest first) gives a :class:`KeySet`."""
    try:
        data = path.read_bytes()
    except OSError:
        raise AuditError("cannot read the public key file; check --public-key") from None
    lines = [ln for ln in data.splitlines() if ln.startswith(PUBLIC_KEY_PREFIX.encode())]
    if len(lines) > 1:
        return KeySet([Ed25519Verifier(parse_public_key(ln)) for ln in lines])
    return Ed25519Verifier(parse_public_key(data))


def signer_from_settings(settings: Any) -> Ed25519Signer:
    """The audit signing key from the keyring named by ``[keys] file``."""
    from proxy.keys import load_keyring  # imported late: verifiers need no keyring

    if settings.keys_file is None:
        raise AuditError("no keyring: set [keys] file in the config (or give --public-key)")
    ring = load_keyring(settings.keys_file)
    return Ed25519Signer(ring.audit_signing_key())

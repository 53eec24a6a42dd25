"""Cryptographic recipes. The ONLY module that imports ``cryptography.hazmat``.

Callers never choose algorithms, nonces or layouts: they call :func:`seal` / :func:`open`
(AES-256-GCM envelope), :func:`wrap_data_key` / :func:`unwrap_data_key` +
:func:`seal_with_data_key` / :func:`open_with_data_key` (a long-lived data key kept wrapped
in storage, so destroying it shreds the data), Ed25519 :func:`sign` / :func:`verify`, and
HMAC-SHA256 :func:`keyed_digest`. Every decryption failure — wrong key, unknown key id,
truncated blob, any flipped bit, a blob moved to another record — raises the same
:class:`~proxy.errors.DecryptionError` with the same message, so a caller (or an attacker
watching error messages) learns nothing about which check failed.

Key handles (:class:`AeadKey`, :class:`SigningKey`, :class:`HmacKey`) hold their bytes
privately, show only a key id in ``repr``, and refuse pickling (so key material is never
shipped to a worker process or a cache by accident). :func:`key_material` is the one
explicit way to get the bytes out; only the keyring writer uses it.

Associated data
---------------
:class:`RecordAad` names the record a ciphertext belongs to: tenant, conversation id,
message id and record schema version. Fields are length-prefixed (4-byte big-endian length,
then UTF-8; integers as 8-byte big-endian), after a domain label, so no two different
field tuples encode alike.

Format 1 — self-contained envelope (:func:`seal` / :func:`open`)
-----------------------------------------------------------------
A fresh 256-bit data key (DEK) per blob, wrapped by a key-encryption key (KEK)::

    offset  size  field
    0       1     version = 0x01
    1       1     L, length of the KEK key id (1..64)
    2       L     KEK key id, ASCII, e.g. ``eu:3`` (key name and version)
    2+L     1     W, length of the wrapped DEK (= 60)
    3+L     W     wrapped DEK: nonce(12) | AES-256-GCM(KEK, DEK)(32) | tag(16)
    3+L+W   12    nonce
    15+L+W  ...   AES-256-GCM(DEK, plaintext) | tag(16)

    wrap AAD    = enc("chatwarden/v1/wrap",    version|L|key id,          record fields)
    payload AAD = enc("chatwarden/v1/payload", everything before nonce,   record fields)

Unlike Tink's envelope, the *wrapped key* is bound to the record too: a DEK cannot be
unwrapped in the context of another record, and the payload AAD covers the whole header
(version, key id and wrapped key), so no header byte can change unnoticed.

Format 2 — conversation data key (:func:`seal_with_data_key`)
--------------------------------------------------------------
The DEK belongs to a conversation, is generated once and lives *only* in storage, wrapped
by the region's KEK (:func:`wrap_data_key`, AAD binds tenant, conversation, region and the
DEK id as well as the KEK key id). Blobs reference it by id instead of embedding it, so
deleting the one stored copy makes every blob of the conversation unreadable
(crypto-shredding), and re-wrapping the DEK under a new KEK version touches no blob::

    0       1     version = 0x02
    1       16    DEK id (random, names the stored data key)
    17      12    nonce
    29      ...   AES-256-GCM(DEK, plaintext) | tag(16)

    payload AAD = enc("chatwarden/v2/payload", version|DEK id, record fields)

Randomness is a parameter (``rng``) so test vectors can fix keys and nonces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from proxy.errors import DecryptionError, KeyringError

__all__ = [
    "DECRYPTION_FAILED",
    "DEK_ID_SIZE",
    "FORMAT_DATA_KEY",
    "FORMAT_ENVELOPE",
    "KEY_SIZE",
    "NONCE_SIZE",
    "AeadKey",
    "DecryptionError",
    "HmacKey",
    "RecordAad",
    "Rng",
    "SigningKey",
    "VerifyKey",
    "blob_data_key_id",
    "blob_key_id",
    "encode_fields",
    "generate_signing_key",
    "key_material",
    "keyed_digest",
    "load_signing_key",
    "new_data_key",
    "new_data_key_id",
    "open",
    "open_with_data_key",
    "public_key_b64",
    "public_key_bytes",
    "public_key_from_b64",
    "seal",
    "seal_with_data_key",
    "sign",
    "unwrap_data_key",
    "verify",
    "wrap_data_key",
]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
DEK_ID_SIZE = 16
WRAPPED_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE
FORMAT_ENVELOPE = 0x01
FORMAT_DATA_KEY = 0x02
MAX_KEY_ID = 64

DECRYPTION_FAILED = "cannot decrypt: the ciphertext, its key or its record context do not match"

Rng = Callable[[int], bytes]
"""Source of random bytes: ``rng(n)`` returns ``n`` bytes. Default :func:`os.urandom`."""


def _fail() -> NoReturn:
    raise DecryptionError(DECRYPTION_FAILED)


# --------------------------------------------------------------------------- encoding


def encode_fields(label: str, *fields: bytes | str | int) -> bytes:
    """Unambiguous encoding of ``label`` and ``fields``: each is length-prefixed."""
    out = bytearray()
    for f in (label, *fields):
        if isinstance(f, bool):  # bool is an int; refuse it rather than guess
            raise TypeError("associated data fields are bytes, str or int")
        if isinstance(f, int):
            b = struct.pack(">q", f)
        elif isinstance(f, str):
            b = f.encode("utf-8")
        else:
            b = bytes(f)
        out += struct.pack(">I", len(b)) + b
    return bytes(out)


@dataclass(frozen=True, slots=True)
class RecordAad:
    """The record a ciphertext belongs to; bound into every payload and wrapped key."""

    tenant: str
    conversation_id: str
    message_id: str
    schema_version: int

    def fields(self) -> tuple[str, str, str, int]:
        return (self.tenant, self.conversation_id, self.message_id, self.schema_version)


# --------------------------------------------------------------------------- key handles


class _Secret:
    """Base of key handles: no pickling, no copying of bytes, repr without material."""

    __slots__ = ()

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds key material and cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self.__reduce__()

    def __getstate__(self) -> NoReturn:
        self.__reduce__()

    def __copy__(self) -> Any:
        return self  # immutable: a copy is the same key

    def __deepcopy__(self, memo: Any) -> Any:
        return self


def _check_key_id(key_id: str) -> bytes:
    try:
        raw = key_id.encode("ascii")
    except UnicodeEncodeError:
        raise KeyringError("key id must be ASCII") from None
    if not 1 <= len(raw) <= MAX_KEY_ID:
        raise KeyringError(f"key id must be 1 to {MAX_KEY_ID} characters long")
    return raw


class AeadKey(_Secret):
    """A 256-bit AES-GCM key (a KEK or a data key) with its key id."""

    __slots__ = ("_aead", "_key_id", "_material")

    def __init__(self, key_id: str, material: bytes) -> None:
        _check_key_id(key_id)
        if len(material) != KEY_SIZE:
            raise KeyringError("an AES-256 key must be 32 bytes")
        self._key_id = key_id
        self._material = bytes(material)
        self._aead = AESGCM(self._material)

    @classmethod
    def generate(cls, key_id: str, rng: Rng = os.urandom) -> AeadKey:
        return cls(key_id, rng(KEY_SIZE))

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:
        return f"AeadKey(key_id={self._key_id!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AeadKey)
            and self._key_id == other._key_id
            and hmac.compare_digest(self._material, other._material)
        )

    def __hash__(self) -> int:
        return hash(("AeadKey", self._key_id))


class HmacKey(_Secret):
    """A 256-bit HMAC-SHA256 key with a name (``view``, ``placeholder``...)."""

    __slots__ = ("_key_id", "_material")

    def __init__(self, key_id: str, material: bytes) -> None:
        _check_key_id(key_id)
        if len(material) < KEY_SIZE:
            raise KeyringError("an HMAC key must be at least 32 bytes")
        self._key_id = key_id
        self._material = bytes(material)

    @classmethod
    def generate(cls, key_id: str, rng: Rng = os.urandom) -> HmacKey:
        return cls(key_id, rng(KEY_SIZE))

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:
        return f"HmacKey(key_id={self._key_id!r})"


class VerifyKey:
    """An Ed25519 public key (not secret: it pickles and prints)."""

    __slots__ = ("_key", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise KeyringError("an Ed25519 public key must be 32 bytes")
        self._raw = bytes(raw)
        self._key = Ed25519PublicKey.from_public_bytes(self._raw)

    @property
    def key_id(self) -> str:
        """First 8 bytes (hex) of SHA-256 of the raw key; the audit trail's key id."""
        return hashlib.sha256(self._raw).digest()[:8].hex()

    @property
    def raw(self) -> bytes:
        return self._raw

    def b64(self) -> str:
        return base64.b64encode(self._raw).decode("ascii")

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"VerifyKey(key_id={self.key_id!r})"

    def __reduce__(self) -> Any:
        return (VerifyKey, (self._raw,))


class SigningKey(_Secret):
    """An Ed25519 private key. Satisfies the audit trail's ``Signer`` protocol."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public = VerifyKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @property
    def key_id(self) -> str:
        return self._public.key_id

    @property
    def public_key(self) -> VerifyKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"


def key_material(key: AeadKey | HmacKey | SigningKey) -> bytes:
    """The raw secret bytes of ``key``. Only the keyring writer (and KMS adapters) call
    this; grep for it when auditing where key bytes go."""
    if isinstance(key, SigningKey):
        return key._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key._material


# --------------------------------------------------------------------------- format 1


def _wrap(kek: AeadKey, dek: bytes, aad: bytes, rng: Rng) -> bytes:
    nonce = rng(NONCE_SIZE)
    return nonce + kek._aead.encrypt(nonce, dek, aad)


def _unwrap(kek: AeadKey, wrapped: bytes, aad: bytes) -> bytes:
    if len(wrapped) != WRAPPED_SIZE:
        _fail()
    try:
        dek = kek._aead.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], aad)
    except InvalidTag:
        _fail()
    return dek


def seal(kek: AeadKey, plaintext: bytes, aad: RecordAad, *, rng: Rng = os.urandom) -> bytes:
    """Encrypt ``plaintext`` for the record ``aad`` under a fresh data key wrapped by
    ``kek``. Returns a format-1 blob (see the module docstring)."""
    kid = _check_key_id(kek.key_id)
    dek = rng(KEY_SIZE)
    prefix = bytes([FORMAT_ENVELOPE, len(kid)]) + kid
    wrapped = _wrap(kek, dek, encode_fields("chatwarden/v1/wrap", prefix, *aad.fields()), rng)
    header = prefix + bytes([len(wrapped)]) + wrapped
    nonce = rng(NONCE_SIZE)
    payload_aad = encode_fields("chatwarden/v1/payload", header, *aad.fields())
    return header + nonce + AESGCM(dek).encrypt(nonce, plaintext, payload_aad)


def blob_key_id(blob: bytes) -> str:
    """The KEK key id a format-1 blob names; :class:`DecryptionError` if malformed."""
    if len(blob) < 3 or blob[0] != FORMAT_ENVELOPE:
        _fail()
    n = blob[1]
    if not 1 <= n <= MAX_KEY_ID or len(blob) < 2 + n:
        _fail()
    try:
        return blob[2 : 2 + n].decode("ascii")
    except UnicodeDecodeError:
        _fail()


KekLookup = Callable[[str], "AeadKey | None"]


def open(
    kek: AeadKey | KekLookup, blob: bytes, aad: RecordAad
) -> bytes:
    """Decrypt a format-1 blob. ``kek`` is the key, or a lookup from key id to key (so
    blobs sealed under older KEK versions still open). Any failure: DecryptionError."""
    kid = blob_key_id(blob)
    n = 2 + len(kid)
    if len(blob) < n + 1:
        _fail()
    w = blob[n]
    header_end = n + 1 + w
    if w != WRAPPED_SIZE or len(blob) < header_end + NONCE_SIZE + TAG_SIZE:
        _fail()
    key = kek if isinstance(kek, AeadKey) else kek(kid)
    if key is None or key.key_id != kid:
        _fail()
    prefix, header = blob[:n], blob[:header_end]
    dek = _unwrap(key, blob[n + 1 : header_end], encode_fields(
        "chatwarden/v1/wrap", prefix, *aad.fields()))
    nonce = blob[header_end : header_end + NONCE_SIZE]
    try:
        return AESGCM(dek).decrypt(
            nonce,
            blob[header_end + NONCE_SIZE :],
            encode_fields("chatwarden/v1/payload", header, *aad.fields()),
        )
    except InvalidTag:
        _fail()


# --------------------------------------------------------------------------- format 2


def new_data_key_id(rng: Rng = os.urandom) -> bytes:
    """A fresh random 16-byte data key id."""
    return rng(DEK_ID_SIZE)


def new_data_key(dek_id: bytes | None = None, *, rng: Rng = os.urandom) -> AeadKey:
    """A fresh conversation data key; its key id is the hex of its 16-byte DEK id."""
    did = dek_id if dek_id is not None else new_data_key_id(rng)
    if len(did) != DEK_ID_SIZE:
        raise KeyringError("a data key id must be 16 bytes")
    return AeadKey(did.hex(), rng(KEY_SIZE))


def _dek_id_of(dek: AeadKey) -> bytes:
    try:
        did = bytes.fromhex(dek.key_id)
    except ValueError:
        raise KeyringError("not a data key: its key id is not a 16-byte hex id") from None
    if len(did) != DEK_ID_SIZE:
        raise KeyringError("not a data key: its key id is not a 16-byte hex id")
    return did


def wrap_data_key(kek: AeadKey, dek: AeadKey, aad: bytes, *, rng: Rng = os.urandom) -> bytes:
    """Wrap ``dek`` under ``kek``; the AAD binds ``aad`` (the caller's context, e.g.
    tenant/conversation/region), the KEK key id and the DEK id. Returns 60 bytes."""
    bound = encode_fields("chatwarden/v2/wrap", kek.key_id, _dek_id_of(dek), aad)
    return _wrap(kek, dek._material, bound, rng)


def unwrap_data_key(kek: AeadKey, dek_id: bytes, wrapped: bytes, aad: bytes) -> AeadKey:
    """Inverse of :func:`wrap_data_key`; any mismatch raises DecryptionError."""
    if len(dek_id) != DEK_ID_SIZE:
        _fail()
    bound = encode_fields("chatwarden/v2/wrap", kek.key_id, dek_id, aad)
    return AeadKey(dek_id.hex(), _unwrap(kek, wrapped, bound))


def seal_with_data_key(
    dek: AeadKey, plaintext: bytes, aad: RecordAad, *, rng: Rng = os.urandom
) -> bytes:
    """Encrypt ``plaintext`` for record ``aad`` under a conversation data key (format 2)."""
    header = bytes([FORMAT_DATA_KEY]) + _dek_id_of(dek)
    nonce = rng(NONCE_SIZE)
    payload_aad = encode_fields("chatwarden/v2/payload", header, *aad.fields())
    return header + nonce + dek._aead.encrypt(nonce, plaintext, payload_aad)


def blob_data_key_id(blob: bytes) -> bytes:
    """The DEK id a format-2 blob names; DecryptionError if it is not a format-2 blob."""
    if len(blob) < 1 + DEK_ID_SIZE + NONCE_SIZE + TAG_SIZE or blob[0] != FORMAT_DATA_KEY:
        _fail()
    return blob[1 : 1 + DEK_ID_SIZE]


def open_with_data_key(dek: AeadKey, blob: bytes, aad: RecordAad) -> bytes:
    """Decrypt a format-2 blob; any failure raises DecryptionError."""
    did = blob_data_key_id(blob)
    if dek.key_id != did.hex():
        _fail()
    header = blob[: 1 + DEK_ID_SIZE]
    nonce = blob[1 + DEK_ID_SIZE : 1 + DEK_ID_SIZE + NONCE_SIZE]
    try:
        return dek._aead.decrypt(
            nonce,
            blob[1 + DEK_ID_SIZE + NONCE_SIZE :],
            encode_fields("chatwarden/v2/payload", header, *aad.fields()),
        )
    except InvalidTag:
        _fail()


# --------------------------------------------------------------------------- Ed25519


def generate_signing_key() -> SigningKey:
    """A fresh Ed25519 signing key."""
    return SigningKey(Ed25519PrivateKey.generate())


def load_signing_key(raw: bytes) -> SigningKey:
    """A signing key from its raw 32-byte private seed."""
    if len(raw) != 32:
        raise KeyringError("an Ed25519 private key must be 32 bytes")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))


def sign(key: SigningKey, message: bytes) -> bytes:
    """Ed25519 signature (64 bytes) of ``message``."""
    return key.sign(message)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by the raw
    32-byte ``public_key``; False for anything else (never raises on bad input)."""
    try:
        return VerifyKey(public_key).verify(message, signature)
    except (KeyringError, ValueError):
        return False


def public_key_bytes(key: SigningKey) -> bytes:
    """The raw 32-byte public key of ``key``."""
    return key.public_key.raw


def public_key_b64(key: SigningKey | VerifyKey) -> str:
    """The public key as standard base64 of its raw 32 bytes."""
    pub = key.public_key if isinstance(key, SigningKey) else key
    return pub.b64()


def public_key_from_b64(text: str) -> VerifyKey:
    """Inverse of :func:`public_key_b64`."""
    try:
        return VerifyKey(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise KeyringError("public key is not base64 of 32 raw bytes") from None


# --------------------------------------------------------------------------- HMAC


def keyed_digest(key: HmacKey, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` (32 bytes)."""
    return hmac.new(key._material, message, hashlib.sha256).digest()

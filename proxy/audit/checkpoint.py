"""Signed checkpoints: a tree size and root hash, signed with the audit Ed25519 key.

The signed text follows the C2SP ``tlog-checkpoint`` layout, one field per line, each
ending in ``\\n``::

    chatwarden.audit/<log id>        origin: names the log, so a checkpoint of one log
                                     can never be passed off as another's
    <tree size>                      decimal
    <root hash>                      base64 of the 32-byte RFC 9162 tree head
    time <RFC 3339 UTC>              extension line: when it was signed

The signature is Ed25519 over exactly those bytes; ``key_id`` is the first 8 bytes (hex)
of SHA-256 of the raw 32-byte public key, so a verifier holding several keys picks the
right one and an unknown key is reported as such rather than as a bad signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from proxy.audit.errors import VerificationFailed
from proxy.audit.events import format_time, parse_time
from proxy.audit.merkle import HASH_SIZE

ORIGIN_PREFIX = "chatwarden.audit/"


class Signer(Protocol):
    """Signs checkpoint text with the audit key. Implementations never expose key bytes."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class SignatureVerifier(Protocol):
    """Checks signatures against one public key."""

    @property
    def key_id(self) -> str: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class KeySet:
    """Several audit public keys (the current one and earlier ones after a rotation):
    each signature is checked with the key its key id names."""

    def __init__(self, verifiers: list[SignatureVerifier]) -> None:
        if not verifiers:
            raise ValueError("a key set needs at least one key")
        self.keys = {v.key_id: v for v in verifiers}
        self._newest = verifiers[-1]

    @property
    def key_id(self) -> str:
        return self._newest.key_id

    def verify(self, message: bytes, signature: bytes) -> bool:
        return self._newest.verify(message, signature)


def verifier_for_key(verifier: SignatureVerifier, key_id: str) -> SignatureVerifier | None:
    """The verifier for ``key_id``: one of a :class:`KeySet`'s keys, or ``verifier``
    itself when the ids match; None for an unknown key."""
    if isinstance(verifier, KeySet):
        return verifier.keys.get(key_id)
    return verifier if verifier.key_id == key_id else None


def key_id_of(public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and root hash, and the signing time."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def note(self) -> bytes:
        """The exact bytes that are signed."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\ntime {format_time(self.time)}\n".encode()

    @classmethod
    def parse(cls, note: bytes) -> Checkpoint:
        """Parse signed text; raise VerificationFailed naming what is malformed."""
        try:
            lines = note.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise VerificationFailed("checkpoint text is not ASCII") from None
        if len(lines) != 5 or lines[-1] != "" or not lines[0].startswith(ORIGIN_PREFIX):
            raise VerificationFailed("checkpoint text does not have the four expected lines")
        if not lines[1].isdigit():
            raise VerificationFailed("checkpoint tree size is not a decimal number")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error:
            raise VerificationFailed("checkpoint root is not base64") from None
        if len(root) != HASH_SIZE:
            raise VerificationFailed("checkpoint root is not a 32-byte hash")
        if not lines[3].startswith("time "):
            raise VerificationFailed("checkpoint has no time line")
        try:
            time = parse_time(lines[3][5:])
        except ValueError:
            raise VerificationFailed("checkpoint time is not RFC 3339") from None
        return cls(origin=lines[0], size=int(lines[1]), root=root, time=time)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its signature. ``note`` is kept verbatim: it is what was signed."""

    note: bytes
    key_id: str
    signature: bytes

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse(self.note)

    def to_json(self) -> dict[str, Any]:
        return {
            "note": self.note.decode("ascii"),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, d: Any) -> SignedCheckpoint:
        try:
            return cls(
                note=str(d["note"]).encode("ascii"),
                key_id=str(d["key_id"]),
                signature=base64.b64decode(str(d["signature"]), validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error, UnicodeEncodeError):
            raise VerificationFailed("checkpoint record is malformed") from None


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> SignedCheckpoint:
    """Sign ``cp`` with the audit key."""
    note = cp.note()
    return SignedCheckpoint(note=note, key_id=signer.key_id, signature=signer.sign(note))


def open_checkpoint(sc: SignedCheckpoint, verifier: SignatureVerifier, origin: str) -> Checkpoint:
    """Check the signature and origin of ``sc`` and return its checkpoint.

    Raises VerificationFailed naming the problem (unknown key, bad signature, another
    log's origin, malformed text).
    """
    key = verifier_for_key(verifier, sc.key_id)
    if key is None:
        raise VerificationFailed("checkpoint is signed by a key that is not the audit key")
    if not key.verify(sc.note, sc.signature):
        raise VerificationFailed("checkpoint signature does not verify")
    cp = Checkpoint.parse(sc.note)
    if cp.origin != origin:
        raise VerificationFailed("checkpoint belongs to another log (origin differs)")
    return cp

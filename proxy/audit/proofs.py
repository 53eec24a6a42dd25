"""Self-contained proof documents: checkable offline with only the audit public key.

Inclusion proof (``chatwarden audit prove EVENT_ID``)::

    {"type": "inclusion", "event_id", "index", "entry": <the entry's canonical JSON text>,
     "leaf_hash": hex, "proof": [hex, ...], "checkpoint": <signed checkpoint>}

Consistency proof (``chatwarden audit consistency``)::

    {"type": "consistency", "old": <signed checkpoint>, "new": <signed checkpoint>,
     "proof": [hex, ...]}

Checking recomputes the leaf hash from the entry bytes, runs the RFC 9162 verification
algorithm and checks the Ed25519 signatures; nothing is taken on trust from the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proxy.audit.checkpoint import (
    Checkpoint,
    SignatureVerifier,
    SignedCheckpoint,
    open_checkpoint,
)
from proxy.audit.errors import InvalidEvent, VerificationFailed
from proxy.audit.log import Entry, LogRow, decode_entry
from proxy.audit.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


def build_inclusion(
    row: LogRow, leaves: Sequence[bytes] | MerkleTree, signed: SignedCheckpoint
) -> dict[str, Any]:
    """The inclusion proof of ``row`` in the tree of ``signed``. Pass a
    :class:`MerkleTree` when proving many events against one checkpoint."""
    cp = signed.checkpoint
    if row.index >= cp.size or len(leaves) < cp.size:
        raise VerificationFailed("event is not yet covered by this checkpoint; sign a newer one")
    return {
        "type": "inclusion",
        "event_id": row.event_id,
        "index": row.index,
        "entry": row.body.decode("ascii"),
        "leaf_hash": row.leaf_hash.hex(),
        "proof": [h.hex() for h in _tree(leaves).inclusion_proof(row.index, cp.size)],
        "checkpoint": signed.to_json(),
    }


def check_inclusion(doc: Any, verifier: SignatureVerifier) -> tuple[Entry, Checkpoint]:
    """Verify an inclusion document; return the decoded entry and its checkpoint."""
    try:
        if doc["type"] != "inclusion":
            raise VerificationFailed("not an inclusion proof")
        body = str(doc["entry"]).encode("ascii")
        index = int(doc["index"])
        proof = [bytes.fromhex(h) for h in doc["proof"]]
        signed = SignedCheckpoint.from_json(doc["checkpoint"])
    except (KeyError, TypeError, ValueError, UnicodeEncodeError):
        raise VerificationFailed("inclusion proof document is malformed") from None
    cp = _open_self(signed, verifier)
    leaf = leaf_hash(body)
    if doc.get("leaf_hash") not in (None, leaf.hex()):
        raise VerificationFailed("leaf hash does not match the entry bytes")
    try:
        entry = decode_entry(body)
    except InvalidEvent as exc:
        raise VerificationFailed(f"entry is malformed: {exc}") from None
    if entry.index != index or entry.event.event_id != doc.get("event_id", entry.event.event_id):
        raise VerificationFailed("entry's own index or id differs from the proof's")
    if not verify_inclusion(leaf, index, cp.size, proof, cp.root):
        raise VerificationFailed("inclusion proof does not lead to the checkpoint's root")
    return entry, cp


def build_consistency(
    old: SignedCheckpoint, new: SignedCheckpoint, leaves: Sequence[bytes]
) -> dict[str, Any]:
    """The consistency proof from checkpoint ``old`` to ``new``."""
    m, n = old.checkpoint.size, new.checkpoint.size
    if m > n:
        raise VerificationFailed("the first checkpoint is larger than the second; swap them")
    if len(leaves) < n:
        raise VerificationFailed("the log holds fewer events than the newer checkpoint")
    return {
        "type": "consistency",
        "old": old.to_json(),
        "new": new.to_json(),
        "proof": [h.hex() for h in _tree(leaves).consistency_proof(m, n)],
    }


def check_consistency(doc: Any, verifier: SignatureVerifier) -> tuple[Checkpoint, Checkpoint]:
    """Verify a consistency document; return both checkpoints."""
    try:
        if doc["type"] != "consistency":
            raise VerificationFailed("not a consistency proof")
        old_s = SignedCheckpoint.from_json(doc["old"])
        new_s = SignedCheckpoint.from_json(doc["new"])
        proof = [bytes.fromhex(h) for h in doc["proof"]]
    except (KeyError, TypeError, ValueError):
        raise VerificationFailed("consistency proof document is malformed") from None
    old, new = _open_self(old_s, verifier), _open_self(new_s, verifier)
    if old.origin != new.origin:
        raise VerificationFailed("the two checkpoints belong to different logs")
    if not verify_consistency(old.size, new.size, old.root, new.root, proof):
        raise VerificationFailed(
            "consistency proof fails: the newer log does not extend the older one (fork or shrink)"
        )
    return old, new


def _tree(leaves: Sequence[bytes] | MerkleTree) -> MerkleTree:
    return leaves if isinstance(leaves, MerkleTree) else MerkleTree(leaves)


def _open_self(signed: SignedCheckpoint, verifier: SignatureVerifier) -> Checkpoint:
    """Open a checkpoint against its own origin (an offline verifier knows no other)."""
    return open_checkpoint(signed, verifier, signed.checkpoint.origin)

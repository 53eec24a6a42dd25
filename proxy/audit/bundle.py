"""Evidence bundles for regulatory cases, verifiable offline with the audit public key.

A bundle is one JSON document::

    {"format": "chatwarden-evidence-bundle/1",
     "manifest": {
        "case_id", "created", "exported_by": {"token_id", "role"},
        "messages": [{"message_id", "sha256"}],   # SHA-256 of each message's canonical JSON
        "events":   [{"event_id", "index", "leaf_hash"}],
        "checkpoint": <signed checkpoint the event proofs lead to>},
     "messages": [<the in-scope messages as rendered in the case's view>],
     "events":   [<inclusion proof document of each of the case's audit events>],
     "signature": {"key_id", "signature"}}       # Ed25519 over canonical(manifest)

``chatwarden audit verify-bundle BUNDLE --public-key audit.pub`` checks, with nothing
but the bundle and the key: the manifest signature; the checkpoint signature; that every
message hashes to its manifest line (same ids, same order, nothing added or dropped);
that every event's entry bytes hash to its leaf and its inclusion proof leads to the
signed root; and that every event belongs to the bundle's case.

The manifest holds ids and hashes only: no chat text, no detected value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from proxy.audit.checkpoint import (
    SignatureVerifier,
    SignedCheckpoint,
    Signer,
    verifier_for_key,
)
from proxy.audit.errors import VerificationFailed
from proxy.audit.events import Actor, format_time
from proxy.audit.log import LogRow, canonical
from proxy.audit.merkle import MerkleTree
from proxy.audit.proofs import build_inclusion, check_inclusion

FORMAT = "chatwarden-evidence-bundle/1"


def message_digest(message: Any) -> str:
    """SHA-256 (hex) of a message object's canonical JSON."""
    return hashlib.sha256(canonical(message)).hexdigest()


def build_bundle(
    *,
    case_id: str,
    messages: Sequence[dict[str, Any]],
    events: Sequence[LogRow],
    leaves: Sequence[bytes],
    checkpoint: SignedCheckpoint,
    signer: Signer,
    exported_by: Actor,
    now: datetime,
) -> dict[str, Any]:
    """Assemble and sign a bundle. ``events`` must all be covered by ``checkpoint``."""
    tree = MerkleTree(leaves)
    proofs = [build_inclusion(row, tree, checkpoint) for row in events]
    manifest = {
        "case_id": case_id,
        "created": format_time(now),
        "exported_by": {"token_id": exported_by.token_id, "role": exported_by.role},
        "messages": [
            {"message_id": str(m.get("message_id")), "sha256": message_digest(m)} for m in messages
        ],
        "events": [
            {"event_id": r.event_id, "index": r.index, "leaf_hash": r.leaf_hash.hex()}
            for r in events
        ],
        "checkpoint": checkpoint.to_json(),
    }
    signature = signer.sign(canonical(manifest))
    return {
        "format": FORMAT,
        "manifest": manifest,
        "messages": list(messages),
        "events": proofs,
        "signature": {
            "key_id": signer.key_id,
            "signature": base64.b64encode(signature).decode("ascii"),
        },
    }


def verify_bundle(bundle: Any, verifier: SignatureVerifier) -> str:
    """Check everything in ``bundle``; return a one-line summary or raise
    VerificationFailed naming the first problem."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise VerificationFailed("not a chatwarden evidence bundle (format line missing)")
    try:
        manifest = bundle["manifest"]
        sig = bundle["signature"]
        key_id = str(sig["key_id"])
        signature = base64.b64decode(str(sig["signature"]), validate=True)
        case_id = str(manifest["case_id"])
        listed_messages = list(manifest["messages"])
        listed_events = list(manifest["events"])
        messages = list(bundle["messages"])
        proofs = list(bundle["events"])
        signed_cp = SignedCheckpoint.from_json(manifest["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise VerificationFailed("bundle is malformed (missing or mistyped field)") from None
    key = verifier_for_key(verifier, key_id)
    if key is None:
        raise VerificationFailed("bundle is signed by another key than the one given")
    if not key.verify(canonical(manifest), signature):
        raise VerificationFailed("manifest signature does not verify (manifest altered)")

    if len(messages) != len(listed_messages):
        raise VerificationFailed(
            f"bundle holds {len(messages)} messages but the manifest lists {len(listed_messages)}"
        )
    for n, (msg, line) in enumerate(zip(messages, listed_messages, strict=True)):
        if not isinstance(line, dict) or message_digest(msg) != line.get("sha256"):
            raise VerificationFailed(f"message #{n} does not match its manifest hash (altered)")
        if not isinstance(msg, dict) or str(msg.get("message_id")) != line.get("message_id"):
            raise VerificationFailed(f"message #{n} has another id than its manifest line")

    if len(proofs) != len(listed_events):
        raise VerificationFailed(
            f"bundle holds {len(proofs)} audit events but the manifest lists {len(listed_events)}"
        )
    size = 0
    for n, (proof, line) in enumerate(zip(proofs, listed_events, strict=True)):
        if not isinstance(proof, dict) or proof.get("checkpoint") != manifest["checkpoint"]:
            raise VerificationFailed(f"audit event #{n} is proven against another checkpoint")
        try:
            entry, cp = check_inclusion(proof, verifier)
        except VerificationFailed as exc:
            raise VerificationFailed(f"audit event #{n}: {exc}") from None
        size = cp.size
        ev = entry.event
        if (
            not isinstance(line, dict)
            or ev.event_id != line.get("event_id")
            or entry.index != line.get("index")
            or proof.get("leaf_hash") != line.get("leaf_hash")
        ):
            raise VerificationFailed(f"audit event #{n} differs from its manifest line")
        if ev.case_id != case_id:
            raise VerificationFailed(f"audit event #{n} belongs to another case")
    if not proofs:
        size = signed_cp.checkpoint.size
    return (
        f"case {case_id}: {len(messages)} messages and {len(proofs)} audit events verified "
        f"against the signed log of {size} events"
    )

"""Evidence bundles: built from a trail, verified offline, every alteration caught."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from proxy.audit.bundle import build_bundle, verify_bundle
from proxy.audit.errors import VerificationFailed
from proxy.audit.events import Actor
from proxy.audit.log import AuditQuery, AuditTrail, CheckpointPolicy
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import FakeSigner, FrozenClock, make_event

SIGNER = FakeSigner()
MESSAGES = [
    {"message_id": "m1", "conversation_id": "c1", "text": "[CARD_1] please refund"},
    {"message_id": "m2", "conversation_id": "c1", "text": "refund sent"},
]


def _bundle(tmp_path: Path) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        s = SQLiteAuditStore(tmp_path / "a.db")
        await s.open()
        trail = AuditTrail(
            s, SIGNER, policy=CheckpointPolicy(every=100, interval=None), clock=FrozenClock()
        )
        for i in range(6):
            await trail.record(make_event(i))
        cp = await trail.checkpoint(force=True)
        assert cp is not None
        rows = await s.query(AuditQuery(case_id="case-1"))
        leaves = await s.leaf_hashes(cp.checkpoint.size)
        await s.close()
        return build_bundle(
            case_id="case-1",
            messages=MESSAGES,
            events=rows,
            leaves=leaves,
            checkpoint=cp,
            signer=SIGNER,
            exported_by=Actor("tok-co", "compliance_officer"),
            now=FrozenClock().now,
        )

    return asyncio.run(go())


def test_bundle_verifies(tmp_path: Path) -> None:
    """A fresh bundle verifies and the summary counts its messages and events."""
    summary = verify_bundle(_bundle(tmp_path), SIGNER)
    assert "2 messages and 3 audit events" in summary


def test_bundle_survives_a_json_round_trip(tmp_path: Path) -> None:
    """Written to a file and read back, the bundle still verifies (no binary fields)."""
    b = json.loads(json.dumps(_bundle(tmp_path)))
    verify_bundle(b, SIGNER)


def _edit_message(b: dict[str, Any]) -> None:
    b["messages"][1]["text"] = "refund not sent"


def _drop_message(b: dict[str, Any]) -> None:
    b["messages"].pop()


def _edit_manifest(b: dict[str, Any]) -> None:
    b["manifest"]["case_id"] = "case-0"


def _drop_event(b: dict[str, Any]) -> None:
    b["events"].pop(0)


def _edit_event_entry(b: dict[str, Any]) -> None:
    b["events"][0]["entry"] = b["events"][0]["entry"].replace("ticket review", "ticket reviews")
    b["events"][0].pop("leaf_hash")


def _swap_events(b: dict[str, Any]) -> None:
    b["events"][0], b["events"][1] = b["events"][1], b["events"][0]


def _other_signature(b: dict[str, Any]) -> None:
    b["signature"]["signature"] = "A" * 44


# (alteration, words the failure must contain)
ALTERATIONS: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (_edit_message, "message #1 does not match"),  # a message's text changed
    (_drop_message, "holds 1 messages"),  # a message removed
    (_edit_manifest, "manifest signature"),  # the signed manifest edited
    (_drop_event, "holds 2 audit events"),  # an audit event removed
    (_edit_event_entry, "audit event #0"),  # an event's entry bytes edited
    (_swap_events, "differs from its manifest line"),  # events reordered
    (_other_signature, "manifest signature"),  # signature replaced
]


@pytest.mark.parametrize(("alter", "words"), ALTERATIONS, ids=[a.__name__ for a, _ in ALTERATIONS])
def test_altered_bundle_fails(
    tmp_path: Path, alter: Callable[[dict[str, Any]], None], words: str
) -> None:
    """Each alteration of a bundle is refused with a message naming the part."""
    b = copy.deepcopy(_bundle(tmp_path))
    alter(b)
    with pytest.raises(VerificationFailed, match=words):
        verify_bundle(b, SIGNER)


def test_bundle_signed_by_another_key_fails(tmp_path: Path) -> None:
    """A verifier holding a different public key rejects the bundle."""
    with pytest.raises(VerificationFailed):
        verify_bundle(_bundle(tmp_path), FakeSigner(b"other", key_id="0000000000000001"))


def test_manifest_holds_no_message_text(tmp_path: Path) -> None:
    """The manifest carries ids and hashes only, never the messages' words."""
    manifest = json.dumps(_bundle(tmp_path)["manifest"])
    assert "refund" not in manifest and "CARD" not in manifest

"""Acceptance 3, audit side: reads of every dev-set conversation leave no detected value
in the audit database or an export manifest — events carry ids, counts and hashes only."""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path
from typing import Any

from proxy.audit.bundle import build_bundle
from proxy.audit.events import Actor, AuditEvent, Decision, subject_refs
from proxy.audit.log import AuditQuery, AuditTrail, CheckpointPolicy
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import FakeSigner, FrozenClock

from .conftest import EVAL

SIGNER = FakeSigner()


def _hash(subject: str) -> str:
    return hmac.new(b"k", subject.encode(), "sha256").hexdigest()


def _load() -> list[dict[str, Any]]:
    with (EVAL / "dev.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_no_detected_value_reaches_the_audit_store_or_manifest(tmp_path: Path) -> None:
    """Every gold sensitive value of dev.jsonl is absent from the audit bytes."""
    records = _load()
    convs: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        convs.setdefault(str(r.get("conversation_id", r["id"])), []).append(r)

    async def run() -> str:
        store = SQLiteAuditStore(tmp_path / "audit.db")
        await store.open()
        trail = AuditTrail(
            store, SIGNER, policy=CheckpointPolicy(every=50, interval=None), max_pending=1000
        )
        events = [
            AuditEvent(
                kind="read",
                actor=Actor(f"tok{n % 5}", "risk_analyst"),
                decision=Decision(True, f"risk_analyst.{purpose}"),
                purpose=purpose,
                case_id="case-7" if purpose == "regulatory_request" else None,
                justification="reviewing the conversation",
                message_ids=tuple(m["id"] for m in msgs),
                conversation_ids=(conv,),
                count=len(msgs),
                subjects=subject_refs(_hash, (f"{conv}:{m['sender']}" for m in msgs)),
            )
            for n, (conv, msgs) in enumerate(convs.items())
            for purpose in ("dispute_handling", "risk_control", "regulatory_request")
        ]
        for k in range(0, len(events), 200):  # concurrent reads, group-committed
            await asyncio.gather(*(trail.record(e) for e in events[k : k + 200]))
        await trail.checkpoint(force=True)
        cp = (await store.checkpoints())[-1]
        rows = await store.query(AuditQuery(case_id="case-7", limit=10_000))
        leaves = await store.leaf_hashes(cp.checkpoint.size)
        bundle = build_bundle(
            case_id="case-7",
            messages=[{"message_id": "m1", "text": "[CARD_1]"}],
            events=rows,
            leaves=leaves,
            checkpoint=cp,
            signer=SIGNER,
            exported_by=Actor("tok-co", "compliance_officer"),
            now=FrozenClock().now,
        )
        await store.close()
        return json.dumps(bundle["manifest"])

    manifest = asyncio.run(run())
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("audit.db"))
    values = {r["text"][s["start"] : s["end"]] for r in records for s in r.get("spans", [])}
    values = {v for v in values if len(v.strip()) >= 6}
    assert values, "the dev set has no gold spans to check"
    leaked = sorted(v for v in values if v.encode() in stored or v in manifest)
    assert not leaked, f"{len(leaked)} gold values found in audit bytes"

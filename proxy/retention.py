"""Retention, case expiry and erasure: destroying what no purpose needs any more.

Crypto-shredding is per conversation (one data key each, :class:`~proxy.sealing.Sealer`),
so holds are per conversation too. :func:`run_retention`:

1. expires approved cases whose ``expires_at`` passed and releases their holds;
2. deletes every message whose ``retention_until`` passed, unless its conversation is
   held; a conversation left with no message has its data key shredded, so no copy of
   its originals (a backup, a replica) can be opened again.

:func:`erase_subject` shreds every conversation a data subject took part in, except the
held ones, and answers what was kept under which case.

Both record one audit event each before they return; the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from proxy.audit.events import Actor, AuditEvent, Decision
from proxy.cases import CaseStatus, CaseStore
from proxy.sealing import Sealer

__all__ = [
    "AuditSink",
    "ErasureReport",
    "RetentionReport",
    "erase_subject",
    "expire_cases",
    "run_retention",
]

SYSTEM = Actor(token_id="system", role="admin")


@dataclass(frozen=True, slots=True)
class RetentionReport:
    cases_expired: int
    messages_deleted: int
    messages_kept_on_hold: int
    conversations_shredded: int


@dataclass(frozen=True, slots=True)
class ErasureReport:
    erased: tuple[str, ...]  # conversation ids shredded
    kept: tuple[tuple[str, tuple[str, ...]], ...] = field(
        default=()
    )  # (conversation, holding case ids)

    def to_json(self) -> dict[str, object]:
        return {
            "erased_conversations": list(self.erased),
            "kept": [
                {"conversation_id": cid, "held_by_cases": list(cases), "reason": "legal hold"}
                for cid, cases in self.kept
            ],
        }


class AuditSink(Protocol):
    """What retention and the handlers need from the audit trail (``AuditTrail`` fits)."""

    async def record(self, event: AuditEvent) -> Any: ...


async def expire_cases(cases: CaseStore, audit: AuditSink, now: datetime) -> int:
    """Mark approved cases past their expiry closed, release their holds, record each."""
    n = 0
    for case in await cases.list_cases(None, CaseStatus.APPROVED):
        if now < case.expires_at:
            continue
        released = await cases.close_case(case, expected=CaseStatus.APPROVED)
        if released is None:
            continue
        await audit.record(
            AuditEvent(
                kind="case.expire",
                actor=SYSTEM,
                decision=Decision(
                    allow=True, rule="cases.expiry", reason="the case reached its expiry"
                ),
                time=now,
                purpose=case.purpose,
                case_id=case.case_id,
                count=released,
            )
        )
        n += 1
    return n


async def run_retention(
    cases: CaseStore,
    sealer: Sealer,
    audit: AuditSink,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
    batch: int = 1000,
    retention_days: Callable[[frozenset[str]], int] | None = None,
) -> RetentionReport:
    """One retention pass (see the module docstring).

    ``retention_days`` (the policy's :meth:`~policies.loader.Policy.retention_days`)
    re-judges each due message on its *current* purposes: a message stored before its
    conversation was tagged for a longer purpose is kept for that purpose's term."""
    expired_cases = await expire_cases(cases, audit, now)
    deleted = kept = shredded = 0
    seen_held: set[tuple[str, str, str]] = set()
    while True:
        due = [
            m
            for m in await cases.expired_messages(now, batch + len(seen_held))
            if (m.tenant, m.conversation_id, m.message_id) not in seen_held
        ]
        if not due:
            break
        if retention_days is not None:
            young = [
                m for m in due if m.ingested_at + timedelta(days=retention_days(m.purposes)) > now
            ]
            seen_held |= {(m.tenant, m.conversation_id, m.message_id) for m in young}
            kept_young = {id(m) for m in young}
            due = [m for m in due if id(m) not in kept_young]
            if not due:
                if young:
                    continue
                break
        by_conv: dict[tuple[str, str], list[str]] = {}
        for m in due:
            by_conv.setdefault((m.tenant, m.conversation_id), []).append(m.message_id)
        tenants = {t for t, _ in by_conv}
        held: set[tuple[str, str]] = set()
        for t in tenants:
            holds = await cases.holds(t, [c for tt, c in by_conv if tt == t])
            held |= {(t, c) for c in holds}
        progressed = False
        for (t, cid), mids in by_conv.items():
            if (t, cid) in held:
                kept += len(mids)
                seen_held |= {(t, cid, m) for m in mids}
                continue
            deleted += await cases.delete_messages(t, mids)
            progressed = True
            if await cases.conversation_size(t, cid) == 0 and await sealer.shred(t, cid):
                shredded += 1
        if not progressed:
            break
    report = RetentionReport(expired_cases, deleted, kept, shredded)
    await audit.record(
        AuditEvent(
            kind="retention.run",
            actor=actor,
            decision=Decision(
                allow=True, rule="retention", reason="retention periods from the policy"
            ),
            time=now,
            count=deleted,
            detail=(
                ("cases_expired", expired_cases),
                ("conversations_shredded", shredded),
                ("messages_deleted", deleted),
                ("messages_kept_on_hold", kept),
            ),
        )
    )
    return report


async def erase_subject(
    cases: CaseStore,
    sealer: Sealer,
    audit: AuditSink,
    tenant: str,
    subject_id: str,
    actor: Actor,
    decision: object,
    hash_subject: Callable[[str], str],
    now: datetime,
) -> ErasureReport:
    """Shred every unheld conversation of ``subject_id``; report what was kept and why.
    ``decision`` is the policy's (allow, reason, rule) value that let ``actor`` erase."""
    convs = await cases.conversations_of_subject(tenant, subject_id)
    holds = await cases.holds(tenant, convs)
    erased = [cid for cid in convs if cid not in holds]
    report = ErasureReport(tuple(erased), tuple((c, holds[c]) for c in convs if c in holds))
    # Recorded before anything is destroyed: an erasure the trail cannot take does not run.
    await audit.record(
        AuditEvent(
            kind="erasure",
            actor=actor,
            decision=Decision.of(decision),
            time=now,
            conversation_ids=tuple(convs)[:1000],
            count=len(erased),
            subjects=(hash_subject(subject_id),),
            detail=(
                ("conversations_erased", len(erased)),
                ("conversations_kept", len(report.kept)),
            ),
        )
    )
    for cid in erased:
        await sealer.shred(tenant, cid)
        await cases.delete_conversation(tenant, cid)
    return report

"""AuditTrail: durable records, checkpoint policy, fail-closed behaviour and metrics."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from proxy.audit import AuditUnavailable, InvalidEvent
from proxy.audit.events import Actor, AuditEvent, Decision
from proxy.audit.log import AuditQuery, AuditTrail, CheckpointPolicy
from proxy.audit.merkle import inclusion_proof, verify_inclusion
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import BrokenStore, FakeSigner, FrozenClock, StalledStore, make_event
from proxy.audit.verify import verify_store

SIGNER = FakeSigner()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteAuditStore]:
    s = SQLiteAuditStore(tmp_path / "audit.db")
    await s.open()
    yield s
    await s.close()


def _trail(store: object, **kw: object) -> AuditTrail:
    kw.setdefault("policy", CheckpointPolicy(every=3, interval=None))
    kw.setdefault("clock", FrozenClock())
    return AuditTrail(store, SIGNER, **kw)  # type: ignore[arg-type]


async def test_record_returns_after_the_event_is_stored(store: SQLiteAuditStore) -> None:
    """Once record() returns, the event can be read back from the store."""
    receipt = await _trail(store).record(make_event(7))
    row = await store.find("ev000007")
    assert row is not None and row.index == receipt.index == 0


async def test_record_survives_reopening_the_database(tmp_path: Path) -> None:
    """A recorded event is committed: a fresh connection sees it."""
    s = SQLiteAuditStore(tmp_path / "a.db")
    await s.open()
    await _trail(s).record(make_event(1))
    await s.close()
    again = SQLiteAuditStore(tmp_path / "a.db", read_only=True)
    await again.open()
    assert await again.find("ev000001") is not None
    await again.close()


async def test_checkpoint_is_signed_every_n_events(store: SQLiteAuditStore) -> None:
    """With every=3, the third and sixth records each produce a checkpoint."""
    trail = _trail(store)
    made = [(await trail.record(make_event(i))).checkpoint is not None for i in range(7)]
    assert made == [False, False, True, False, False, True, False]
    assert [c.checkpoint.size for c in await store.checkpoints()] == [3, 6]


async def test_checkpoint_is_signed_after_the_interval(store: SQLiteAuditStore) -> None:
    """With an interval, the first record after it elapsed triggers a checkpoint."""
    clock = FrozenClock()
    trail = _trail(
        store, policy=CheckpointPolicy(every=1000, interval=timedelta(seconds=60)), clock=clock
    )
    first = await trail.record(make_event(0))  # no checkpoint yet: the first one is due
    clock.advance(30)
    second = await trail.record(make_event(1))
    clock.advance(31)
    third = await trail.record(make_event(2))
    assert first.checkpoint is not None
    assert second.checkpoint is None
    assert third.checkpoint is not None and third.checkpoint.checkpoint.size == 3


async def test_forced_checkpoint_only_when_the_log_grew(store: SQLiteAuditStore) -> None:
    """checkpoint(force=True) signs the current head once, then not again until it grows."""
    trail = _trail(store, policy=CheckpointPolicy(every=100, interval=None))
    await trail.record(make_event(0))
    assert (await trail.checkpoint(force=True)) is not None
    assert (await trail.checkpoint(force=True)) is None


async def test_unwritable_store_raises_audit_unavailable(tmp_path: Path) -> None:
    """A read-only audit database makes record() fail closed and counts it."""
    SQLiteAuditStore(tmp_path / "a.db").open_sync()
    ro = SQLiteAuditStore(tmp_path / "a.db", read_only=True)
    await ro.open()
    trail = _trail(ro)
    with pytest.raises(AuditUnavailable) as err:
        await trail.record(make_event(0))
    assert err.value.cause == "unwritable"
    assert trail.metrics.failures["unwritable"] == 1 and trail.metrics.recorded == 0
    await ro.close()


async def test_failing_store_raises_audit_unavailable(store: SQLiteAuditStore) -> None:
    """An I/O error from the store (full disk) becomes AuditUnavailable."""
    trail = _trail(BrokenStore(store))
    with pytest.raises(AuditUnavailable) as err:
        await trail.record(make_event(0))
    assert err.value.cause == "unwritable"


async def test_stalled_store_times_out_and_loop_stays_responsive(store: SQLiteAuditStore) -> None:
    """A store that never answers gives AuditUnavailable after the timeout while other
    tasks keep running."""
    stalled = StalledStore(store)
    trail = _trail(stalled, timeout=0.05)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    with pytest.raises(AuditUnavailable) as err:
        await trail.record(make_event(0))
    t.cancel()
    stalled.release()
    assert err.value.cause == "timeout"
    assert ticks > 1, "event loop was blocked while the audit store stalled"
    assert trail.metrics.failures["timeout"] == 1


async def test_saturated_store_fails_fast_with_backlog(store: SQLiteAuditStore) -> None:
    """With max_pending writes stuck, the next record fails at once instead of queueing."""
    stalled = StalledStore(store)
    trail = _trail(stalled, timeout=0.05, max_pending=1)
    with pytest.raises(AuditUnavailable):
        await trail.record(make_event(0))
    with pytest.raises(AuditUnavailable) as err:
        await trail.record(make_event(1))
    stalled.release()
    assert err.value.cause == "backlog"
    assert stalled.started == 1, "the second write reached the stalled store"


async def test_write_that_lands_after_a_timeout_is_still_a_valid_entry(
    store: SQLiteAuditStore,
) -> None:
    """A timed-out write that completes later leaves a well-formed, verifiable log."""
    stalled = StalledStore(store)
    trail = _trail(stalled, timeout=0.05)
    with pytest.raises(AuditUnavailable):
        await trail.record(make_event(0))
    stalled.release()
    while trail._pending:  # the shielded write finishes in the background
        await asyncio.sleep(0.01)
    await _trail(store).record(make_event(1))
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 2


async def test_metrics_render_prometheus_counters(store: SQLiteAuditStore) -> None:
    """The metrics text carries the recorded and failure counters with labels."""
    trail = _trail(store)
    await trail.record(make_event(0))
    text = trail.metrics.prometheus()
    assert "chatwarden_audit_events_total 1" in text
    assert 'chatwarden_audit_failures_total{cause="timeout"} 0' in text


async def test_query_filters_by_actor_purpose_case_and_time(store: SQLiteAuditStore) -> None:
    """Filters combine; the result is in log order."""
    trail = _trail(store)
    for i in range(8):
        await trail.record(make_event(i))
    rows = await store.query(AuditQuery(actor_token_id="tok1", case_id="case-1"))
    assert [r.event_id for r in rows] == ["ev000001", "ev000007"]
    t0 = make_event(2).time
    rows = await store.query(AuditQuery(since=t0, until=t0 + timedelta(seconds=3)))
    assert [r.event_id for r in rows] == ["ev000002", "ev000003", "ev000004"]
    assert await store.query(AuditQuery(purpose="risk_control")) == []


async def test_query_by_subject_uses_keyed_hashes(store: SQLiteAuditStore) -> None:
    """Events are found by the keyed hash of a subject they touched, and only those."""
    alice = hashlib.sha256(b"alice").hexdigest()
    bob = hashlib.sha256(b"bob").hexdigest()
    trail = _trail(store)
    await trail.record(make_event(0, subjects=(alice,)))
    await trail.record(make_event(1, subjects=(bob,)))
    await trail.record(make_event(2, subjects=tuple(sorted((alice, bob)))))
    rows = await store.query(AuditQuery(subject=alice))
    assert [r.event_id for r in rows] == ["ev000000", "ev000002"]


def test_event_refuses_raw_subject_ids() -> None:
    """A subject that is not a keyed hash (e.g. a raw user id) is rejected."""
    with pytest.raises(InvalidEvent):
        make_event(0, subjects=("buyer-42",))


def test_event_refuses_unknown_kind() -> None:
    """Only the documented event kinds can be recorded."""
    with pytest.raises(InvalidEvent):
        make_event(0, kind="chat")


def test_event_round_trips_through_its_json_form() -> None:
    """from_dict(to_dict(e)) == e, detail included."""
    e = make_event(3, detail=(("kept", 2), ("key_version", "v3")))
    assert AuditEvent.from_dict(e.to_dict()) == e


async def test_erasure_keeps_events_and_proofs_verifiable(store: SQLiteAuditStore) -> None:
    """Erasing a subject's messages changes nothing the trail depends on: earlier events
    and their inclusion proofs still verify after the erasure event."""
    subject = hashlib.sha256(b"seller-9").hexdigest()
    trail = _trail(store)
    for i in range(4):
        await trail.record(make_event(i, subjects=(subject,)))
    await trail.record(
        AuditEvent(
            kind="erasure",
            actor=Actor("tok-admin", "admin"),
            decision=Decision(True, "erasure.request"),
            subjects=(subject,),
            detail=(("kept", 0), ("shredded_keys", 3)),
        )
    )
    await trail.checkpoint(force=True)
    report = await verify_store(store, SIGNER)
    assert report.ok and report.latest is not None
    cp = report.latest.checkpoint
    leaves = await store.leaf_hashes(cp.size)
    row = await store.find("ev000001")
    assert row is not None
    proof = inclusion_proof(row.index, leaves)
    assert verify_inclusion(row.leaf_hash, row.index, cp.size, proof, cp.root)


async def test_justification_is_scrubbed_before_storing(store: SQLiteAuditStore) -> None:
    """A value pasted into the justification is replaced by the configured scrubber."""

    async def scrub(text: str) -> str:
        return text.replace("4111111111111111", "[CARD]")

    trail = _trail(store, scrub=scrub)
    await trail.record(make_event(0, justification="card 4111111111111111 disputed"))
    row = await store.find("ev000000")
    assert row is not None and b"4111" not in row.body and b"[CARD]" in row.body


async def test_concurrent_records_commit_together_in_order(store: SQLiteAuditStore) -> None:
    """Many concurrent records (group-committed) all land, at distinct consecutive positions."""
    trail = _trail(store)
    receipts = await asyncio.gather(*(trail.record(make_event(i)) for i in range(50)))
    assert sorted(r.index for r in receipts) == list(range(50))
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 50


async def test_duplicate_event_id_fails_alone(store: SQLiteAuditStore) -> None:
    """An event id recorded twice fails that record only; its batch-mates commit."""
    trail = _trail(store)
    await trail.record(make_event(0))
    results = await asyncio.gather(
        *(trail.record(make_event(i)) for i in (1, 0, 2)), return_exceptions=True
    )
    assert isinstance(results[1], InvalidEvent)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert trail.metrics.failures["unwritable"] == 0
    report = await verify_store(store, SIGNER)
    assert report.ok and report.size == 3


async def test_scan_pages_through_every_row_in_order(store: SQLiteAuditStore) -> None:
    """scan() with a small page size yields every row once, in log order."""
    trail = _trail(store)
    for i in range(7):
        await trail.record(make_event(i))
    pages = [page async for page in store.scan(batch=3)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.index for p in pages for r in p] == list(range(7))


def test_policy_decision_is_copied_by_field_name() -> None:
    """A policy engine Decision (allow, reason, rule order) is stored with the right fields."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class PolicyDecision:  # the shape of policies.model.Decision
        allow: bool
        reason: str
        rule: str

    e = make_event(
        0, decision=PolicyDecision(False, "no assigned case", "dispute_agent.needs_case")
    )
    assert e.decision == Decision(
        allow=False, rule="dispute_agent.needs_case", reason="no assigned case"
    )


async def test_failing_scrubber_fails_closed(store: SQLiteAuditStore) -> None:
    """If the justification cannot be redacted, nothing is stored and the read fails."""

    async def broken(text: str) -> str:
        raise RuntimeError("redactor down")

    trail = _trail(store, scrub=broken)
    with pytest.raises(AuditUnavailable):
        await trail.record(make_event(0))
    assert await store.find("ev000000") is None


def test_read_event_names_both_parties_as_keyed_subjects() -> None:
    """read_event takes ids from the returned messages and hashes sender and recipient."""
    from dataclasses import dataclass

    from proxy.audit.events import read_event

    @dataclass
    class Msg:  # the fields of proxy.storage.StoredMessage that matter here
        message_id: str
        conversation_id: str
        sender_id: str
        recipient_id: str | None

    def ref(s: str) -> str:
        return hashlib.sha256(s.encode()).hexdigest()

    e = read_event(
        actor=Actor("tok", "dispute_agent"),
        decision=Decision(True, "r"),
        purpose="dispute_handling",
        messages=[Msg("m1", "c1", "buyer-1", "seller-1"), Msg("m2", "c1", "seller-1", None)],
        hash_subject=ref,
    )
    assert e.message_ids == ("m1", "m2") and e.conversation_ids == ("c1",) and e.count == 2
    assert e.subjects == tuple(sorted({ref("buyer-1"), ref("seller-1")}))
    assert "buyer-1" not in json.dumps(e.to_dict())

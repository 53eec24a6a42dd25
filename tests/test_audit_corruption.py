"""A generated table of corruptions of a stored audit trail, each caught at the right place.

One trail of N events (checkpoints every 4, a final one, and a verifier pin taken when it
was intact) is built once; every case copies it, corrupts the copy as someone holding the
database file could, and checks that verification fails naming the expected event index
or checkpoint number.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy import crypto
from proxy.audit.checkpoint import Checkpoint, sign_checkpoint
from proxy.audit.events import AuditEvent
from proxy.audit.log import AuditTrail, CheckpointPolicy, decode_entry, encode_entry
from proxy.audit.merkle import leaf_hash
from proxy.audit.signing import Ed25519Signer, format_public_key
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import FrozenClock, Tamper, make_event
from proxy.audit.verify import Pin, Report, verify_store

N = 10
EVERY = 4
SIGNER = Ed25519Signer(crypto.generate_signing_key())
VERIFIER = SIGNER.verifier()
ATTACKER = Ed25519Signer(crypto.generate_signing_key())
# Column positions in ``SELECT * FROM audit_events``.
IDX, EVENT_ID, BODY, LEAF, TIME, KIND, TOKEN, ROLE, PURPOSE, CASE = range(10)


@dataclass(frozen=True, slots=True)
class Built:
    db: Path
    pin: Pin
    older: Path  # a copy taken after EVERY events, before the rest were appended


async def _build(dirpath: Path) -> Built:
    db = dirpath / "audit.db"
    store = SQLiteAuditStore(db)
    await store.open()
    trail = AuditTrail(
        store, SIGNER, policy=CheckpointPolicy(every=EVERY, interval=None), clock=FrozenClock()
    )
    subject = hashlib.sha256(b"subject").hexdigest()
    for i in range(N):
        await trail.record(make_event(i, subjects=(subject,) if i % 2 else ()))
        if i == EVERY - 1:
            await store.close()
            shutil.copy(db, dirpath / "older.db")
            store = SQLiteAuditStore(db)
            await store.open()
            trail = AuditTrail(
                store,
                SIGNER,
                policy=CheckpointPolicy(every=EVERY, interval=None),
                clock=FrozenClock(),
            )
    await trail.checkpoint(force=True)
    report = await verify_store(store, VERIFIER)
    assert report.ok, report.problem
    pin = report.pin(store.origin)
    await store.close()
    return Built(db=db, pin=pin, older=dirpath / "older.db")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return asyncio.run(_build(tmp_path_factory.mktemp("audit-template")))


def _verify(db: Path, pin: Pin | None) -> Report:
    async def run() -> Report:
        store = SQLiteAuditStore(db, read_only=True)
        await store.open()
        try:
            return await verify_store(store, VERIFIER, pin)
        finally:
            await store.close()

    return asyncio.run(run())


# ------------------------------------------------------------------ corruptions


Corruption = Callable[[Tamper, Built], None]


def flip_body(i: int, where: str) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            body = bytearray(rows[i][BODY])
            pos = {"first": 0, "middle": len(body) // 2, "last": len(body) - 1}[where]
            body[pos] ^= 0x01
            rows[i][BODY] = bytes(body)
            return rows

        t.rewrite_events(edit)

    return go


def flip_leaf(i: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            leaf = bytearray(rows[i][LEAF])
            leaf[7] ^= 0x80
            rows[i][LEAF] = bytes(leaf)
            return rows

        t.rewrite_events(edit)

    return go


def cut_body(i: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            rows[i][BODY] = rows[i][BODY][: len(rows[i][BODY]) // 2]
            rows[i][LEAF] = leaf_hash(rows[i][BODY])  # even with a matching leaf hash
            return rows

        t.rewrite_events(edit)

    return go


def delete(i: int, renumber: bool) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            del rows[i]
            if renumber:
                for pos, r in enumerate(rows):
                    r[IDX] = pos
            return rows

        t.rewrite_events(edit)

    return go


def swap(i: int, j: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            rows[i][1:], rows[j][1:] = rows[j][1:], rows[i][1:]
            return rows

        t.rewrite_events(edit)

    return go


def duplicate(i: int, renumber: bool) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            rows.insert(i + 1, list(rows[i]))
            if renumber:
                for pos, r in enumerate(rows):
                    r[IDX] = pos
            return rows

        t.rewrite_events(edit)

    return go


def truncate(m: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        t.rewrite_events(lambda rows: rows[:m])

    return go


def rewrite(i: int) -> Corruption:
    """Change what event i says and recompute everything stored about it."""

    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            entry = decode_entry(rows[i][BODY])
            d = entry.event.to_dict()
            d["purpose"] = "risk_control"
            body = encode_entry(entry.index, entry.prev_root, AuditEvent.from_dict(d))
            rows[i][BODY], rows[i][LEAF], rows[i][PURPOSE] = body, leaf_hash(body), "risk_control"
            return rows

        t.rewrite_events(edit)

    return go


def edit_column(i: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            rows[i][CASE] = "case-other"
            return rows

        t.rewrite_events(edit)

    return go


def add_subject(i: int) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        t.execute("INSERT INTO audit_subjects (subject, idx) VALUES (?, ?)", ("ab" * 32, i))

    return go


def retype(i: int, column: int, value: Any) -> Corruption:
    """Store another type in a column (NULL, text), as a hand edit of the file could."""

    def go(t: Tamper, b: Built) -> None:
        def edit(rows: list[list[Any]]) -> list[list[Any]]:
            rows[i][column] = value
            return rows

        t.rewrite_events(edit)

    return go


def restore_older(t: Tamper, b: Built) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(t.path) + suffix).unlink(missing_ok=True)
    shutil.copy(b.older, t.path)


def restore_older_then_append(extra: int) -> Corruption:
    """Restore the older copy, then let the service append ``extra`` new events: the log
    may be as long as before, but history forks where the copy ends."""

    def go(t: Tamper, b: Built) -> None:
        restore_older(t, b)

        async def append() -> None:
            store = SQLiteAuditStore(t.path)
            await store.open()
            trail = AuditTrail(
                store,
                SIGNER,
                policy=CheckpointPolicy(every=EVERY, interval=None),
                clock=FrozenClock(),
            )
            for i in range(extra):
                await trail.record(make_event(100 + i))
            await trail.checkpoint(force=True)
            await store.close()

        asyncio.run(append())

    return go


def forge_checkpoint(seq: int, how: str) -> Corruption:
    def go(t: Tamper, b: Built) -> None:
        conn = sqlite3.connect(t.path)
        note, sig = conn.execute(
            "SELECT note, signature FROM audit_checkpoints WHERE seq = ?", (seq,)
        ).fetchone()
        conn.close()
        cp = Checkpoint.parse(note)
        if how == "flip-note":
            note = note.replace(f"\n{cp.size}\n".encode(), f"\n{cp.size + 1}\n".encode())
        elif how == "flip-signature":
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        elif how == "other-key":
            # An attacker's key signs a checkpoint of another root; it carries their key id.
            forged = sign_checkpoint(Checkpoint(cp.origin, cp.size, bytes(32), cp.time), ATTACKER)
            t.execute(
                "UPDATE audit_checkpoints SET note = ?, signature = ?, key_id = ? WHERE seq = ?",
                (forged.note, forged.signature, forged.key_id, seq),
            )
            return
        elif how == "text-note":
            t.execute("UPDATE audit_checkpoints SET note = 'x' WHERE seq = ?", (seq,))
            return
        elif how == "claims-our-key-id":
            # The same, but stored under the audit key's id.
            forged = sign_checkpoint(Checkpoint(cp.origin, cp.size, bytes(32), cp.time), ATTACKER)
            note, sig = forged.note, forged.signature
        t.execute(
            "UPDATE audit_checkpoints SET note = ?, signature = ? WHERE seq = ?", (note, sig, seq)
        )

    return go


# (case name, corruption, expected event index (None: no event is to blame), expected
# checkpoint number (None: any checkpoint or none may be named alongside the index))
Case = tuple[str, Corruption, int | None, int | None]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for i in range(N):
        for where in ("first", "middle", "last"):
            cases.append((f"flip-{where}-byte-of-event-{i}", flip_body(i, where), i, None))
        cases.append((f"flip-leaf-hash-of-event-{i}", flip_leaf(i), i, None))
        cases.append((f"truncate-bytes-of-event-{i}", cut_body(i), i, None))
        cases.append((f"delete-event-{i}-leaving-a-gap", delete(i, False), i, None))
        cases.append((f"delete-event-{i}-and-renumber", delete(i, True), i, None))
        cases.append((f"duplicate-event-{i}-renumbered", duplicate(i, True), i + 1, None))
        cases.append((f"duplicate-event-{i}-same-position", duplicate(i, False), i + 1, None))
        cases.append((f"rewrite-event-{i}-consistently", rewrite(i), i, None))
        cases.append((f"edit-query-column-of-event-{i}", edit_column(i), i, None))
        cases.append((f"add-subject-to-event-{i}", add_subject(i), i, None))
        cases.append((f"null-body-of-event-{i}", retype(i, BODY, None), i, None))
        cases.append((f"null-leaf-hash-of-event-{i}", retype(i, LEAF, None), i, None))
        cases.append((f"text-position-of-event-{i}", retype(i, IDX, "x"), i, None))
        for j in range(i + 1, N):
            cases.append((f"swap-events-{i}-and-{j}", swap(i, j), i, None))
    for m in range(N):
        cases.append((f"truncate-log-to-{m}-events", truncate(m), m, None))
    cases.append(("restore-older-copy", restore_older, EVERY, None))
    for extra in (1, N - EVERY, N):
        cases.append(
            (
                f"restore-older-copy-then-append-{extra}",
                restore_older_then_append(extra),
                EVERY,
                None,
            )
        )
    n_checkpoints = N // EVERY + 1
    for seq in range(1, n_checkpoints + 1):
        for how in ("flip-note", "flip-signature", "other-key", "claims-our-key-id", "text-note"):
            cases.append((f"forge-checkpoint-{seq}-{how}", forge_checkpoint(seq, how), None, seq))
    return cases


CASES = _cases()


def test_untouched_trail_verifies(built: Built, tmp_path: Path) -> None:
    """A copy of the intact trail verifies against its own pin."""
    db = tmp_path / "audit.db"
    shutil.copy(built.db, db)
    report = _verify(db, built.pin)
    assert report.ok, str(report.problem)
    assert report.size == N


@pytest.mark.parametrize(
    ("name", "corrupt", "index", "checkpoint"), CASES, ids=[c[0] for c in CASES]
)
def test_corruption_is_detected_at_the_right_place(
    built: Built,
    tmp_path: Path,
    name: str,
    corrupt: Corruption,
    index: int | None,
    checkpoint: int | None,
) -> None:
    """Each corruption fails verification, naming the expected index or checkpoint."""
    db = tmp_path / "audit.db"
    shutil.copy(built.db, db)
    corrupt(Tamper(db), built)
    report = _verify(db, built.pin)
    assert report.problem is not None, f"{name}: not detected"
    assert report.problem.index == index, f"{name}: reported {report.problem}"
    if checkpoint is not None:
        assert report.problem.checkpoint == checkpoint, f"{name}: reported {report.problem}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, N - 1), st.integers(0, 10_000), st.integers(0, 7))
def test_any_flipped_bit_of_any_event_is_detected(
    built: Built, tmp_path: Path, i: int, pos: int, bit: int
) -> None:
    """A single flipped bit anywhere in any stored entry is reported at that entry."""
    db = tmp_path / f"flip-{i}-{pos}-{bit}.db"
    shutil.copy(built.db, db)

    def edit(rows: list[list[Any]]) -> list[list[Any]]:
        body = bytearray(rows[i][BODY])
        body[pos % len(body)] ^= 1 << bit
        rows[i][BODY] = bytes(body)
        return rows

    Tamper(db).rewrite_events(edit)
    report = _verify(db, built.pin)
    assert report.problem is not None and report.problem.index == i, str(report.problem)


def test_truncation_after_the_last_checkpoint_is_caught_by_the_pin(
    built: Built, tmp_path: Path
) -> None:
    """Without a pin, only checkpoints bound the log; the pin also covers what it saw."""
    db = tmp_path / "audit.db"
    shutil.copy(built.db, db)
    truncate(N - 1)(Tamper(db), built)
    report = _verify(db, Pin(built.pin.origin, N, built.pin.root, None))
    assert report.problem is not None and report.problem.index == N - 1


@pytest.mark.parametrize(
    ("name", "corrupt", "index", "checkpoint"), CASES, ids=[c[0] for c in CASES]
)
def test_cli_verify_names_the_broken_link(
    built: Built,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    corrupt: Corruption,
    index: int | None,
    checkpoint: int | None,
) -> None:
    """`chatwarden audit verify` exits 1 on each corruption and names where it is."""
    from proxy import cli

    key = tmp_path / "audit.pub"
    key.write_text(format_public_key(SIGNER.public_key))
    db = tmp_path / "audit.db"
    shutil.copy(built.db, db)
    state = tmp_path / "pin.json"
    built.pin.save(state)
    corrupt(Tamper(db), built)
    code = cli.main(
        [
            "audit",
            "verify",
            "--store",
            f"sqlite:///{db}",
            "--state",
            str(state),
            "--public-key",
            str(key),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, f"{name}: exit {code}"
    want = rf"event index {index}\b" if index is not None else rf"checkpoint #{checkpoint}\b"
    assert re.search(want, err), f"{name}: {err.strip()}"
    assert Pin.load(state) == built.pin, "a failed verification must not move the pin"


_OPS = ("flip", "leaf", "cut", "delete", "delete-renumber", "swap", "dup", "truncate", "rewrite")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(1, 14), st.sampled_from(_OPS), st.data())
def test_random_corruption_of_random_length_trails(
    tmp_path_factory: pytest.TempPathFactory, n: int, op: str, data: st.DataObject
) -> None:
    """Any trail length, any operation, any position: detected at the expected index."""
    d = tmp_path_factory.mktemp("random")

    async def build() -> Pin:
        store = SQLiteAuditStore(d / "audit.db")
        await store.open()
        trail = AuditTrail(
            store, SIGNER, policy=CheckpointPolicy(every=3, interval=None), clock=FrozenClock()
        )
        for k in range(n):
            await trail.record(make_event(k))
        await trail.checkpoint(force=True)
        report = await verify_store(store, VERIFIER)
        await store.close()
        return report.pin(store.origin)

    pin = asyncio.run(build())
    i = data.draw(st.integers(0, n - 1), label="position")
    if op == "swap":
        if n < 2:
            return
        j = data.draw(st.integers(i + 1, n - 1) if i < n - 1 else st.integers(0, i - 1), label="j")
        corrupt, want = swap(min(i, j), max(i, j)), min(i, j)
    else:
        corrupt, want = {
            "flip": (flip_body(i, "middle"), i),
            "leaf": (flip_leaf(i), i),
            "cut": (cut_body(i), i),
            "delete": (delete(i, False), i),
            "delete-renumber": (delete(i, True), i),
            "dup": (duplicate(i, True), i + 1),
            "truncate": (truncate(i), i),
            "rewrite": (rewrite(i), i),
        }[op]
    corrupt(Tamper(d / "audit.db"), Built(d / "audit.db", pin, d / "unused.db"))
    report = _verify(d / "audit.db", pin)
    assert report.problem is not None, f"{op} at {i} of {n}: not detected"
    assert report.problem.index == want, f"{op} at {i} of {n}: {report.problem}"

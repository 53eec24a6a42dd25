"""Recompute the whole trail and name the first broken link.

The checks, in the order a reader would want them:

1. Every checkpoint: known key, valid Ed25519 signature, this log's origin, well formed.
   A failure names the checkpoint's sequence number.
2. Walking the entries in storage order, entry ``i`` must: be stored at position ``i``;
   carry a leaf hash equal to ``H(0x00 || bytes)``; decode as a canonical entry; claim
   index ``i``; have an event id not seen before; commit (``prev_root``) to the tree head
   recomputed over entries ``0..i-1``; and agree with its query columns. After entry
   ``i`` every checkpoint of size ``i+1`` must carry the recomputed root.
3. No checkpoint may cover more entries than the log holds (truncation).
4. Against a pin (the state a verifier saved last time): the same origin, the same leaf
   at every pinned position (a fork is named at its first differing entry), the same
   tree heads at the pinned sizes, and at least as many entries as pinned (a log never
   shrinks; a restored older copy does).

Because every entry commits to the head before it, a consistently rewritten entry (its
leaf hash recomputed too) is still caught where its successor's link, or the checkpoint
or pin over it, no longer matches; and as entries ``0..i-1`` are then already pinned down
by entry ``i``, the rewritten entry is entry ``i``'s predecessor or the last entry under
the checkpoint — the index the report names.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from proxy.audit.checkpoint import (
    Checkpoint,
    SignatureVerifier,
    SignedCheckpoint,
    open_checkpoint,
)
from proxy.audit.errors import InvalidEvent, VerificationFailed
from proxy.audit.log import LogRow, decode_entry
from proxy.audit.merkle import EMPTY_ROOT, HASH_SIZE, Frontier, leaf_hash, root_of


@dataclass(frozen=True, slots=True)
class Problem:
    """The first broken link: an entry position or a checkpoint number, and what is wrong."""

    what: str
    index: int | None = None
    event_id: str | None = None
    checkpoint: int | None = None

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"event index {self.index}")
        if self.event_id is not None:
            where.append(f"id {self.event_id}")
        if self.checkpoint is not None:
            where.append(f"checkpoint #{self.checkpoint}")
        return f"{' '.join(where) or 'trail'}: {self.what}"


@dataclass(frozen=True, slots=True)
class Pin:
    """What a verifier saw last time: the log's origin, its size and tree head, the
    latest signed checkpoint, and the leaf hashes it saw (32 bytes each), so that a log
    forked after a restore is reported at the first entry that differs.

    Saved as JSON in the state file, the leaf hashes beside it in ``<file>.leaves``; a
    leaves file that does not hash to the pinned root is refused."""

    origin: str
    size: int
    root: bytes
    checkpoint: SignedCheckpoint | None = None
    leaves: bytes = field(default=b"", repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
        }

    @classmethod
    def from_json(cls, d: Any) -> Pin:
        try:
            cp = d.get("checkpoint")
            return cls(
                origin=str(d["origin"]),
                size=int(d["size"]),
                root=bytes.fromhex(str(d["root"])),
                checkpoint=SignedCheckpoint.from_json(cp) if cp else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise VerificationFailed(
                "pin state file is malformed; restore it or start afresh"
            ) from None

    def leaf(self, i: int) -> bytes | None:
        """The pinned leaf hash at ``i``, if the pin holds leaves that far."""
        if (i + 1) * HASH_SIZE > len(self.leaves):
            return None
        return self.leaves[i * HASH_SIZE : (i + 1) * HASH_SIZE]

    @classmethod
    def load(cls, path: Path) -> Pin | None:
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise VerificationFailed(
                "pin state file is not JSON; restore it or start afresh"
            ) from None
        pin = cls.from_json(doc)
        sidecar = _leaves_path(path)
        if doc.get("leaves") and sidecar.exists():
            # The leaves are written before the JSON, so after a crash between the two the
            # file may hold more leaves than the pin: its prefix is what the pin saw.
            leaves = sidecar.read_bytes()[: pin.size * HASH_SIZE]
            hashes = [leaves[i : i + HASH_SIZE] for i in range(0, len(leaves), HASH_SIZE)]
            if len(leaves) != pin.size * HASH_SIZE or root_of(hashes) != pin.root:
                raise VerificationFailed(
                    "pin leaves file does not match the pinned root; restore it or start afresh"
                )
            pin = replace(pin, leaves=leaves)
        return pin

    def save(self, path: Path) -> None:
        doc = self.to_json()
        if self.leaves:
            sidecar = _leaves_path(path)
            tmp_leaves = sidecar.with_name(sidecar.name + ".tmp")
            tmp_leaves.write_bytes(self.leaves)
            tmp_leaves.replace(sidecar)
            doc["leaves"] = sidecar.name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)


def _leaves_path(path: Path) -> Path:
    return path.with_name(path.name + ".leaves")


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome: ``problem`` is None when everything verified."""

    size: int
    root: bytes
    checkpoints: int
    latest: SignedCheckpoint | None
    problem: Problem | None
    leaves: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def pin(self, origin: str) -> Pin:
        return Pin(
            origin=origin,
            size=self.size,
            root=self.root,
            checkpoint=self.latest,
            leaves=self.leaves,
        )


class TrailVerifier:
    """Incremental verification: :meth:`feed` rows in storage order (stop at the first
    problem it returns), then :meth:`finish`. Memory is O(log n) for the tree plus the
    set of event ids seen, so a log is checked as it streams out of the database."""

    def __init__(
        self,
        checkpoints: list[SignedCheckpoint],
        verifier: SignatureVerifier,
        origin: str,
        pin: Pin | None = None,
    ) -> None:
        self._checkpoints = checkpoints
        self._opened: list[Checkpoint] = []
        self._by_size: dict[int, list[tuple[int, Checkpoint]]] = {}
        self._pinned: dict[int, bytes] = {}
        self._seen: dict[str, int] = {}
        self._prev_id: str | None = None
        self._pin = pin
        self._leaves = bytearray()
        self.head = Frontier()
        self.problem: Problem | None = self._start(verifier, origin, pin)

    def _start(self, verifier: SignatureVerifier, origin: str, pin: Pin | None) -> Problem | None:
        for seq, sc in enumerate(self._checkpoints, 1):
            try:
                self._opened.append(open_checkpoint(sc, verifier, origin))
            except VerificationFailed as exc:
                return Problem(f"forged or damaged checkpoint: {exc}", checkpoint=seq)
        for seq, cp in enumerate(self._opened, 1):
            self._by_size.setdefault(cp.size, []).append((seq, cp))
        for seq, cp in self._by_size.get(0, []):
            if cp.root != EMPTY_ROOT:
                return Problem("checkpoint of the empty log has a non-empty root", checkpoint=seq)
        # Tree heads the pin vouches for: its own observed head and its signed checkpoint.
        if pin is not None:
            problem = _check_pin(pin, verifier, origin)
            if problem is not None:
                return problem
            self._pinned[pin.size] = pin.root
            if pin.checkpoint is not None:
                pcp = pin.checkpoint.checkpoint
                self._pinned.setdefault(pcp.size, pcp.root)
        return None

    def feed(self, row: LogRow) -> Problem | None:
        """Check the next stored row; return (and remember) the first problem."""
        if self.problem is not None:
            return self.problem
        i = self.head.size
        problem = _check_row(row, i, self.head, self._seen, self._prev_id)
        if problem is None:
            pinned_leaf = self._pin.leaf(i) if self._pin is not None else None
            if pinned_leaf is not None and pinned_leaf != row.leaf_hash:
                problem = Problem(
                    "fork: this event differs from the one the pin saw at this position "
                    "(history was rewritten, e.g. an older copy restored and appended to)",
                    index=i,
                    event_id=row.event_id,
                )
        if problem is None:
            self._seen[row.event_id] = i
            self._prev_id = row.event_id
            self._leaves += row.leaf_hash
            self.head = self.head.append(row.leaf_hash)
            problem = self._check_heads(i, row.event_id)
        self.problem = problem
        return problem

    def _check_heads(self, i: int, event_id: str) -> Problem | None:
        root = self.head.root()
        for seq, cp in self._by_size.get(self.head.size, []):
            if cp.root != root:
                return Problem(
                    f"tree head over events 0..{i} differs from the signed checkpoint: "
                    "this event was rewritten",
                    index=i,
                    event_id=event_id,
                    checkpoint=seq,
                )
        if self._pinned.get(self.head.size, root) != root:
            return Problem(
                f"fork: the tree head over events 0..{i} differs from the pinned one: "
                "this event was rewritten",
                index=i,
                event_id=event_id,
            )
        return None

    def finish(self) -> Report:
        """The report, once every row was fed (or a problem stopped the feed)."""
        if self.problem is None:
            self.problem = self._check_end()
        latest = self._checkpoints[-1] if self._checkpoints and self.problem is None else None
        return Report(
            self.head.size,
            self.head.root(),
            len(self._opened),
            latest,
            self.problem,
            bytes(self._leaves) if self.problem is None else b"",
        )

    def _check_end(self) -> Problem | None:
        n = self.head.size
        for seq, cp in enumerate(self._opened, 1):
            if cp.size > n:
                return Problem(
                    f"log truncated: checkpoint #{seq} covers {cp.size} events but the log "
                    f"holds {n}; this event and the ones after it are missing",
                    index=n,
                )
        if self._pinned and max(self._pinned) > n:
            return Problem(
                f"log shrank: the pin saw {max(self._pinned)} events, the log holds {n} "
                "(an older copy was restored or entries were cut)",
                index=n,
            )
        return None


def verify_trail(
    rows: Iterable[LogRow],
    checkpoints: list[SignedCheckpoint],
    verifier: SignatureVerifier,
    origin: str,
    pin: Pin | None = None,
) -> Report:
    """Verify everything; stop at the first problem and report it."""
    v = TrailVerifier(checkpoints, verifier, origin, pin)
    for row in rows:
        if v.problem is not None or v.feed(row) is not None:
            break
    return v.finish()


def _check_row(
    row: LogRow, i: int, head: Frontier, seen: dict[str, int], prev_id: str | None
) -> Problem | None:
    if row.index < 0:
        return Problem(
            "stored position is not an integer (edited row)", index=i, event_id=row.event_id
        )
    if row.index > i:
        return Problem(
            f"event missing: the next stored position is {row.index} (deleted entries)", index=i
        )
    if row.index < i:
        return Problem(
            f"position {row.index} is stored twice (duplicated entry)",
            index=i,
            event_id=row.event_id,
        )
    if leaf_hash(row.body) != row.leaf_hash:
        return Problem(
            "stored leaf hash does not match the entry bytes (altered entry)",
            index=i,
            event_id=row.event_id,
        )
    try:
        entry = decode_entry(row.body)
    except InvalidEvent as exc:
        return Problem(f"entry bytes are malformed: {exc}", index=i, event_id=row.event_id)
    eid = entry.event.event_id
    if eid in seen:
        return Problem(f"duplicate of the event at index {seen[eid]}", index=i, event_id=eid)
    if entry.index != i:
        return Problem(
            f"entry was written at index {entry.index} but is stored at {i} "
            "(reordered, deleted or inserted entries)",
            index=i,
            event_id=eid,
        )
    if entry.prev_root != head.root():
        # Entries 0..i-2 are already bound by entry i-1's own link, so the entry this
        # link disagrees with is entry i-1 (or this link itself was rewritten).
        return Problem(
            f"event {i} committed to a different tree head before it: this event was "
            f"rewritten (or event {i}'s link was)",
            index=i - 1,
            event_id=prev_id,
        )
    ev = entry.event
    cols = {
        "event_id": (row.event_id, eid),
        "time": (row.time, ev.to_dict()["time"]),
        "kind": (row.kind, ev.kind),
        "actor_token_id": (row.actor_token_id, ev.actor.token_id),
        "actor_role": (row.actor_role, ev.actor.role),
        "purpose": (row.purpose, ev.purpose),
        "case_id": (row.case_id, ev.case_id),
        "subjects": (tuple(sorted(row.subjects)), tuple(sorted(ev.subjects))),
    }
    for name, (stored, hashed) in cols.items():
        if stored != hashed:
            return Problem(
                f"query column {name} disagrees with the hashed entry", index=i, event_id=eid
            )
    return None


def _check_pin(pin: Pin, verifier: SignatureVerifier, origin: str) -> Problem | None:
    if pin.origin != origin:
        return Problem("this is another log than the pinned one (origin differs)")
    if pin.checkpoint is not None:
        try:
            open_checkpoint(pin.checkpoint, verifier, origin)
        except VerificationFailed as exc:
            return Problem(f"pinned checkpoint does not verify: {exc}")
    return None


async def verify_store(store: Any, verifier: SignatureVerifier, pin: Pin | None = None) -> Report:
    """Stream every row of an opened store through :class:`TrailVerifier`.

    Checkpoints are read before the rows: the log only grows, so on a live service
    every checkpoint read covers rows that the later row scan will see.
    """
    checkpoints = await store.checkpoints()
    v = TrailVerifier(checkpoints, verifier, store.origin, pin)
    if v.problem is None:
        async with contextlib.aclosing(store.scan()) as pages:
            async for page in pages:
                for row in page:
                    if v.feed(row) is not None:
                        break
                if v.problem is not None:
                    break
    return v.finish()

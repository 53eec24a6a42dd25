"""The append-only audit log and :class:`AuditTrail`, the one API the service calls.

Log entries
-----------
Entry ``i`` is the canonical JSON (sorted keys, no spaces, ASCII) of::

    {"v": 1, "index": i, "prev_root": hex(MTH(entries 0..i-1)), "event": {...}}

and its Merkle leaf is that byte string. Each entry commits to its own position and to
the tree head before it, so a verifier walking the log names the first entry that was
changed, dropped, duplicated or moved, not just "the root differs".

Fail closed
-----------
:meth:`AuditTrail.record` returns only once the event is durably committed. A store that
raises gives :class:`AuditUnavailable` ("unwritable"); a store that does not answer
within ``timeout`` seconds gives it too ("timeout") — the write is awaited through
``asyncio.wait_for`` on an executor thread or an asyncpg call, so the event loop keeps
serving ``/healthz`` meanwhile; when ``max_pending`` writes are already in flight the
call fails at once ("backlog") instead of queueing behind a stalled store. A write that
timed out may still land later: the trail then records a read that was refused, never the
reverse. Every failure is counted in :class:`AuditMetrics` for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from proxy.audit.checkpoint import Checkpoint, SignedCheckpoint, Signer, sign_checkpoint
from proxy.audit.errors import AuditUnavailable, InvalidEvent
from proxy.audit.events import MAX_JUSTIFICATION, AuditEvent
from proxy.audit.merkle import Frontier, leaf_hash

ENTRY_VERSION = 1


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded log entry."""

    index: int
    prev_root: bytes
    event: AuditEvent


def encode_entry(index: int, prev_root: bytes, event: AuditEvent) -> bytes:
    return canonical(
        {"v": ENTRY_VERSION, "index": index, "prev_root": prev_root.hex(), "event": event.to_dict()}
    )


def decode_entry(body: bytes) -> Entry:
    """Parse an entry; raise InvalidEvent naming what is malformed (never the content)."""
    try:
        d = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidEvent("entry is not ASCII JSON (truncated or altered bytes)") from None
    if not isinstance(d, dict) or d.get("v") != ENTRY_VERSION:
        raise InvalidEvent("entry has no known version")
    index, prev = d.get("index"), d.get("prev_root")
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(prev, str):
        raise InvalidEvent("entry has no index or previous root")
    try:
        prev_root = bytes.fromhex(prev)
    except ValueError:
        raise InvalidEvent("entry's previous root is not hex") from None
    event = AuditEvent.from_dict(d.get("event") or {})
    entry = Entry(index=index, prev_root=prev_root, event=event)
    if encode_entry(index, prev_root, event) != body:
        # Same meaning, other bytes (spacing, key order, escapes): not what was written.
        raise InvalidEvent("entry is not in canonical form")
    return entry


@dataclass(frozen=True, slots=True)
class LogRow:
    """One stored entry: position, event id, the entry bytes and their leaf hash.

    The remaining fields are query columns copied from the event; the verifier checks
    they agree with the hashed bytes, so a query can never be steered by editing them.
    """

    index: int
    event_id: str
    body: bytes
    leaf_hash: bytes
    time: str
    kind: str
    actor_token_id: str
    actor_role: str
    purpose: str | None
    case_id: str | None
    subjects: tuple[str, ...] = ()

    @classmethod
    def of(cls, index: int, body: bytes, event: AuditEvent) -> LogRow:
        return cls(
            index=index,
            event_id=event.event_id,
            body=body,
            leaf_hash=leaf_hash(body),
            time=event.to_dict()["time"],
            kind=event.kind,
            actor_token_id=event.actor.token_id,
            actor_role=event.actor.role,
            purpose=event.purpose,
            case_id=event.case_id,
            subjects=event.subjects,
        )


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When to sign a checkpoint: every ``every`` events, and at least every ``interval``
    when events arrived since the last one (checked on append and by the periodic task)."""

    every: int = 100
    interval: timedelta | None = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("checkpoint_every must be at least 1")

    def due(self, size: int, last: Checkpoint | None, now: datetime) -> bool:
        last_size = last.size if last else 0
        if size <= last_size:
            return False
        if size - last_size >= self.every:
            return True
        return self.interval is not None and (last is None or now - last.time >= self.interval)


@dataclass(frozen=True, slots=True)
class Appended:
    """What a durable append returns: the event's position and the checkpoint it triggered."""

    index: int
    event_id: str
    checkpoint: SignedCheckpoint | None


# Runs inside the store's write transaction: given the current head and the latest
# checkpoint, return the row to insert, the new head and an optional new checkpoint.
AppendStep = Callable[
    [Frontier, Checkpoint | None, str], tuple[LogRow | None, Frontier, SignedCheckpoint | None]
]


class AuditStore(Protocol):
    """Durable, append-only storage for the log. See :mod:`proxy.audit.store`."""

    @property
    def origin(self) -> str: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, step: AppendStep) -> tuple[LogRow | None, SignedCheckpoint | None]: ...

    async def read_rows(self, start: int, limit: int) -> list[LogRow]: ...

    def scan(self, batch: int = 5000) -> AsyncIterator[list[LogRow]]:
        """Every stored row in storage order, in pages (for the verifier)."""
        ...

    async def checkpoints(self) -> list[SignedCheckpoint]: ...

    async def find(self, event_id: str) -> LogRow | None: ...

    async def leaf_hashes(self, size: int) -> list[bytes]: ...

    async def query(self, q: AuditQuery) -> list[LogRow]: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for ``GET /v1/audit`` and disclosure reports; ``None`` means any."""

    actor_token_id: str | None = None
    actor_role: str | None = None
    purpose: str | None = None
    case_id: str | None = None
    kind: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_index: int = -1
    limit: int = 100


@dataclass(slots=True)
class AuditMetrics:
    """Counters the service's ``/metrics`` renders (see :meth:`prometheus`)."""

    recorded: int = 0
    checkpoints: int = 0
    failures: dict[str, int] = field(
        default_factory=lambda: {"unwritable": 0, "timeout": 0, "backlog": 0}
    )

    def prometheus(self) -> str:
        lines = [
            "# HELP chatwarden_audit_events_total Audit events durably recorded.",
            "# TYPE chatwarden_audit_events_total counter",
            f"chatwarden_audit_events_total {self.recorded}",
            "# HELP chatwarden_audit_checkpoints_total Signed audit checkpoints written.",
            "# TYPE chatwarden_audit_checkpoints_total counter",
            f"chatwarden_audit_checkpoints_total {self.checkpoints}",
            "# HELP chatwarden_audit_failures_total Audit writes that failed; the read got 503.",
            "# TYPE chatwarden_audit_failures_total counter",
        ]
        lines += [
            f'chatwarden_audit_failures_total{{cause="{c}"}} {n}'
            for c, n in sorted(self.failures.items())
        ]
        return "\n".join(lines) + "\n"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditTrail:
    """Records events durably, signs checkpoints by policy, fails closed on time."""

    def __init__(
        self,
        store: AuditStore,
        signer: Signer,
        *,
        timeout: float = 2.0,
        policy: CheckpointPolicy | None = None,
        max_pending: int = 64,
        clock: Callable[[], datetime] = _utcnow,
        scrub: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("audit timeout must be positive")
        self.store = store
        self.metrics = AuditMetrics()
        self._signer = signer
        self._timeout = timeout
        self._policy = policy or CheckpointPolicy()
        self._max_pending = max_pending
        self._pending = 0
        self._clock = clock
        # The justification is the one free-text field and a reader may paste a value
        # (or a name) into it; the service passes its full redactor here (patterns and
        # NER, off the event loop) so none is ever stored.
        self._scrub = scrub

    async def record(self, event: AuditEvent) -> Appended:
        """Append ``event`` and return once it is durably committed.

        Raises AuditUnavailable if the store fails, stalls past the timeout or is
        already saturated; the caller must then answer 503 and return no data.
        """
        now = self._clock()
        if self._scrub is not None and event.justification:
            try:
                scrubbed = await self._scrub(event.justification)
                # A placeholder can be longer than the value it hides: stay in the cap.
                event = replace(event, justification=scrubbed[:MAX_JUSTIFICATION])
            except Exception as exc:  # an unscrubbed justification is never stored
                self.metrics.failures["unwritable"] += 1
                raise AuditUnavailable(
                    f"justification could not be redacted ({type(exc).__name__}); retry later",
                    "unwritable",
                ) from None

        def step(
            head: Frontier, last: Checkpoint | None, origin: str
        ) -> tuple[LogRow | None, Frontier, SignedCheckpoint | None]:
            body = encode_entry(head.size, head.root(), event)
            row = LogRow.of(head.size, body, event)
            new = head.append(row.leaf_hash)
            cp = None
            if self._policy.due(new.size, last, now):
                cp = sign_checkpoint(Checkpoint(origin, new.size, new.root(), now), self._signer)
            return row, new, cp

        row, cp = await self._guarded(step)
        assert row is not None
        self.metrics.recorded += 1
        return Appended(index=row.index, event_id=row.event_id, checkpoint=cp)

    async def checkpoint(self, *, force: bool = False) -> SignedCheckpoint | None:
        """Sign a checkpoint now if the policy says one is due (or ``force`` and the log
        grew since the last one). The service's periodic task and shutdown call this."""
        now = self._clock()

        def step(
            head: Frontier, last: Checkpoint | None, origin: str
        ) -> tuple[LogRow | None, Frontier, SignedCheckpoint | None]:
            grown = head.size > (last.size if last else 0)
            if (force and grown) or self._policy.due(head.size, last, now):
                cp = Checkpoint(origin, head.size, head.root(), now)
                return None, head, sign_checkpoint(cp, self._signer)
            return None, head, None

        _, cp = await self._guarded(step)
        return cp

    async def _guarded(self, step: AppendStep) -> tuple[LogRow | None, SignedCheckpoint | None]:
        if self._pending >= self._max_pending:
            self.metrics.failures["backlog"] += 1
            raise AuditUnavailable(
                "audit store has too many writes in flight; retry later", "backlog"
            )
        # The store call runs as its own task, shielded from the timeout: a stalled
        # executor thread cannot be cancelled anyway, so it stays counted in _pending
        # until it really ends, and later calls fail fast instead of queueing behind it.
        task = asyncio.ensure_future(self.store.append(step))
        self._pending += 1
        task.add_done_callback(self._finished)
        try:
            row, cp = await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except TimeoutError:
            self.metrics.failures["timeout"] += 1
            raise AuditUnavailable(
                "audit store did not commit within the configured timeout; retry later",
                "timeout",
            ) from None
        except InvalidEvent:
            raise
        except Exception as exc:
            self.metrics.failures["unwritable"] += 1
            raise AuditUnavailable(
                f"audit store cannot be written ({type(exc).__name__}); check the audit "
                "database and its disk",
                "unwritable",
            ) from None
        if cp is not None:
            self.metrics.checkpoints += 1
        return row, cp

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._pending -= 1
        if not task.cancelled():
            task.exception()  # retrieved here so a late failure is not reported as lost

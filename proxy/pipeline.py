"""The ingest pipeline: replay check -> redact -> tag -> seal -> store, acknowledged only
after the durable commit.

Per request (:meth:`Ingestor.ingest`):

1. **Replay**: a ``message_id`` already stored answers with the stored body (HTTP 200);
   it is not redacted again. The same id with another conversation or another text
   (compared by a keyed digest stored with the record) is no replay: the whole request
   is refused with :class:`~proxy.storage.errors.MessageIdReused` (HTTP 409), nothing
   stored. Storage repeats the check inside its transaction, for concurrent posts.
2. **Lock** the conversations of the new messages (in this process, in sorted order),
   load each one's placeholder state and purposes from storage.
3. **Redact** with :class:`redact.Redactor` (detection in its process pool, off the event
   loop); the text of the conversation's previous message (kept in memory only, never
   written) feeds the conversation window.
4. **Tag** purposes with the policy's :class:`PurposeTagger`; union with the purposes
   the conversation already has. Storage widens the conversation (re-tagging its earlier
   messages) in the same transaction as the put.
5. **Seal** each original (UTF-8 text) with its conversation's data key from the
   :class:`Sealer` (:meth:`~Sealer.key_for_put`): the stored key, or for a conversation
   without one a fresh key that is not stored yet.
6. **Put** records, outbox rows, the placeholder state when new numbers were given, and
   a fresh data key in ONE durable transaction (shared with concurrent requests by the
   group commit): the only write of the request. The put checks, under its locks, that
   the state version is still the one read in step 2 (compare-and-set), that a fresh
   key's conversation still has no key, and that the records' key is the conversation's
   stored key (not shredded meanwhile). If another replica got there first, nothing of
   the request is stored (the other requests of the group commit normally), the sealer
   forgets the conversation's key, and steps 2-5 are redone: with the other replica's
   numbering and its key (or a new key after a shred). A fresh key enters the sealer's
   cache only once the put committed.

Any failure leaves nothing of the request stored — no record, no state, no data key:
everything is written by the one put, which is all or nothing. Detection, tagging, keys
and storage errors propagate and the error middleware answers 503 (fail closed). The
original text only ever leaves this module sealed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgpack  # type: ignore[import-untyped]  # no stubs published

from policies.tagging import PurposeTagger, TagInput
from proxy.handlers.errors import Unavailable
from proxy.handlers.validation import IngestMessage
from proxy.sealing import ConversationKey, SealContext, Sealer
from proxy.storage.base import (
    ConversationWrite,
    OutboxItem,
    Storage,
    StoredMessage,
    same_message,
)
from proxy.storage.errors import MessageIdReused, WriteConflict
from redact import ConversationState, Message, Redaction, Redactor
from redact.engine import WINDOW_CHARS

__all__ = ["Ingestor", "Outcome", "open_original", "response_body"]

STATE_FORMAT = 1
_CAS_ATTEMPTS = 5
# Requests with at most this much text are purpose-tagged on the event loop (see _ingest_new).
_INLINE_TAG_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer body of one message and whether this request created it."""

    body: bytes
    created: bool


def response_body(message_id: str, redaction: Redaction, purposes: Sequence[str]) -> bytes:
    doc = {
        "message_id": message_id,
        "redacted": redaction.redacted,
        "entities": [{"start": s.start, "end": s.end, "type": s.type} for s in redaction.spans],
        "purposes": sorted(purposes),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def upstream_payload(rec: StoredMessage) -> bytes:
    """What is forwarded upstream: the redacted copy and metadata, never the original."""
    doc = {
        "message_id": rec.message_id,
        "conversation_id": rec.conversation_id,
        "sender_id": rec.sender_id,
        "sender_role": rec.sender_role,
        "recipient_id": rec.recipient_id,
        "sent_at": rec.sent_at.isoformat().replace("+00:00", "Z"),
        "order_id": rec.order_id,
        "dispute_id": rec.dispute_id,
        "region": rec.region,
        "lang": rec.lang,
        "redacted": rec.redacted,
        "entities": [{"start": s, "end": e, "type": t} for s, e, t in rec.entities],
        "purposes": sorted(rec.purposes),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def open_original(sealer: Sealer, rec: StoredMessage) -> str:
    """The original text of a stored record (DecryptionError if shredded or tampered)."""
    ctx = SealContext(
        rec.tenant, rec.conversation_id, rec.message_id, rec.region, rec.schema_version
    )
    return (await sealer.open(ctx, rec.sealed)).decode("utf-8")


class _LostRace(Exception):
    """Another writer changed a conversation's placeholder state or data key first (the
    put's check failed and stored nothing): redo."""


class _Window:
    """The last text seen per conversation, in memory only, bounded (LRU)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._last: OrderedDict[str, str] = OrderedDict()

    def get(self, cid: str) -> str | None:
        return self._last.get(cid)

    def put(self, cid: str, text: str) -> None:
        if self._size <= 0:
            return
        # Only the tail can continue into the next message: keep no more than that.
        self._last[cid] = text[-2 * WINDOW_CHARS :]
        self._last.move_to_end(cid)
        while len(self._last) > self._size:
            self._last.popitem(last=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RetentionTerms(Protocol):
    """Days a message serving ``purposes`` is kept; the service passes the policy's terms."""

    def days_for(self, purposes: frozenset[str]) -> int: ...


class Ingestor:
    """Runs the pipeline of the module docstring. One per app."""

    def __init__(
        self,
        *,
        tenant: str,
        storage: Storage,
        redactor: Redactor,
        tagger: PurposeTagger,
        sealer: Sealer,
        retention: RetentionTerms,
        text_digest: Callable[[str, str], bytes],
        upstream_url: str | None = None,
        on_enqueue: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        window_size: int = 10_000,
    ) -> None:
        self.tenant = tenant
        self.storage = storage
        self.redactor = redactor
        self.tagger = tagger
        self.sealer = sealer
        self.retention = retention
        # (message_id, text) -> keyed digest (HMAC) stored with the record: tells a replay
        # from a reused message_id without keeping a plain hash of chat text.
        self.text_digest = text_digest
        self.upstream_url = upstream_url
        self.on_enqueue = on_enqueue
        self.clock = clock
        self._window = _Window(window_size)
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"Ingestor(tenant={self.tenant!r})"

    @contextlib.asynccontextmanager
    async def _locked(self, cids: Sequence[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for cid in sorted(set(cids)):
                lock = self._locks.setdefault(cid, asyncio.Lock())
                await stack.enter_async_context(lock)
            try:
                yield
            finally:
                for cid in set(cids):
                    held = self._locks.get(cid)
                    # Forget idle locks; a waiter still holds its reference.
                    if held is not None and not getattr(held, "_waiters", None):
                        self._locks.pop(cid, None)

    async def ingest(self, messages: Sequence[IngestMessage]) -> list[Outcome]:
        """Outcomes in input order; raises (nothing stored) on any failure."""
        out: list[Outcome | None] = [None] * len(messages)
        fresh: list[int] = []
        # One look-up for the whole request (not one per message: each is a statement, or
        # a round trip on PostgreSQL, and a task of its own on the event loop).
        replays = await self.storage.get_messages(self.tenant, [m.message_id for m in messages])
        for i, m in enumerate(messages):
            stored = replays.get(m.message_id)
            if stored is not None:
                digest = self.text_digest(m.message_id, m.text)
                if not same_message(stored, m.conversation_id, digest):
                    raise MessageIdReused(m.message_id)  # before anything is stored
                out[i] = Outcome(stored.response, False)
            else:
                fresh.append(i)
        if fresh:
            todo = [messages[i] for i in fresh]
            async with self._locked([m.conversation_id for m in todo]):
                for attempt in range(_CAS_ATTEMPTS):
                    try:
                        results = await self._ingest_new(todo)
                        break
                    except _LostRace:
                        if attempt == _CAS_ATTEMPTS - 1:
                            raise TimeoutError("conversation state kept changing") from None
            for i, r in zip(fresh, results, strict=True):
                out[i] = r
        return [o for o in out if o is not None]

    async def _ingest_new(self, msgs: Sequence[IngestMessage]) -> list[Outcome]:
        tenant = self.tenant
        cids = list(dict.fromkeys(m.conversation_id for m in msgs))
        # 2. state and purposes per conversation
        versions: dict[str, int] = {}
        states: dict[str, ConversationState] = {}
        known: dict[str, frozenset[str]] = {}
        # State and purposes of every conversation of the request in one look-up.
        snapshots = await self.storage.get_conversations(tenant, cids)
        for cid in cids:
            snap = snapshots.get(cid)
            st = snap.state if snap is not None else None
            versions[cid] = st.version if st is not None else 0
            states[cid] = self._decode_state(st.data if st is not None else None)
            known[cid] = snap.purposes if snap is not None else frozenset()
        before = {cid: states[cid].count for cid in cids}
        previous = {cid: t for cid in cids if (t := self._window.get(cid)) is not None}
        # 3. redact (seq = order in the request)
        batch = [
            Message(m.message_id, m.text, m.conversation_id, i, m.lang, m.sender_role)
            for i, m in enumerate(msgs)
        ]
        try:
            redactions = await self.redactor.redact(batch, states, previous)
        except BrokenProcessPool:
            # A worker died: start a fresh pool for the next request, fail this one closed.
            await asyncio.to_thread(self._restart_pool)
            raise
        # 4. purposes, conversation-scoped
        try:
            # Rule matching is pure CPU (~0.1 ms per message). A small request is tagged
            # here: a thread hop costs more than that and, under the GIL, frees nothing.
            # A large one goes to a thread so the event loop keeps answering meanwhile.
            if sum(len(m.text) for m in msgs) <= _INLINE_TAG_CHARS:
                tagged = self._tag(msgs, redactions)
            else:
                tagged = await asyncio.to_thread(self._tag, msgs, redactions)
        except Exception:
            raise Unavailable(
                "purpose tagging failed; nothing was stored, retry later", kind="tagging"
            ) from None
        conv_purposes: dict[str, frozenset[str]] = dict(known)
        for m, p in zip(msgs, tagged, strict=True):
            conv_purposes[m.conversation_id] = conv_purposes[m.conversation_id] | frozenset(p)
        # 5. seal (one data key per conversation; a new one is stored by the put) and build
        # records
        now = self.clock()
        records: list[StoredMessage] = []
        outbox: list[OutboxItem] = []
        keys: dict[str, ConversationKey] = {}
        for m, r in zip(msgs, redactions, strict=True):
            purposes = conv_purposes[m.conversation_id]
            ctx = SealContext(tenant, m.conversation_id, m.message_id, m.region)
            key = keys.get(m.conversation_id)
            if key is None:
                key = keys[m.conversation_id] = await self.sealer.key_for_put(ctx)
            sealed = self.sealer.seal_with(key, ctx, m.text.encode("utf-8"))
            rec = StoredMessage(
                tenant=tenant,
                message_id=m.message_id,
                conversation_id=m.conversation_id,
                sender_id=m.sender_id,
                sender_role=m.sender_role,
                recipient_id=m.recipient_id,
                sent_at=m.sent_at,
                region=m.region,
                redacted=r.redacted,
                sealed=sealed,
                ingested_at=now,
                response=response_body(m.message_id, r, sorted(purposes)),
                order_id=m.order_id,
                dispute_id=m.dispute_id,
                lang=m.lang,
                entities=tuple((s.start, s.end, s.type) for s in r.spans),
                purposes=purposes,
                retention_until=m.sent_at + timedelta(days=self.retention.days_for(purposes)),
                text_digest=self.text_digest(m.message_id, m.text),
            )
            records.append(rec)
            if self.upstream_url:
                outbox.append(
                    OutboxItem(tenant, m.message_id, self.upstream_url, upstream_payload(rec))
                )
        # 6. the one durable transaction: records, outbox, the new placeholder state
        # (compare-and-set against the version read in step 2; no new numbers: nothing to
        # save and no race to lose), a new data key (only if the conversation still has
        # none), and the check that the records' data key is the stored one
        writes: list[ConversationWrite] = []
        for cid in cids:
            changed = states[cid].count != before[cid]
            writes.append(
                ConversationWrite(
                    tenant,
                    cid,
                    state=self._encode_state(states[cid]) if changed else None,
                    expected_version=versions[cid],
                    new_key=keys[cid].new,
                    dek_id=keys[cid].dek_id,
                )
            )
        try:
            stored = await self.storage.put_messages(records, outbox, conversations=writes)
        except WriteConflict as exc:
            if exc.kind == "data_key":  # stored by another replica, or shredded: read again
                self.sealer.forget(tenant, exc.conversation_id)
            raise _LostRace() from None
        for key in keys.values():
            self.sealer.committed(key)
        for m, (_, created) in zip(msgs, stored, strict=True):
            if created:  # a lost duplicate race must not feed another conversation's window
                self._window.put(m.conversation_id, m.text)
        if outbox and self.on_enqueue is not None:
            self.on_enqueue()
        return [Outcome(rec.response, created) for rec, created in stored]

    def _tag(
        self, msgs: Sequence[IngestMessage], redactions: Sequence[Redaction]
    ) -> list[tuple[str, ...]]:
        return self.tagger.tag_conversations(
            [
                TagInput(
                    m.text,
                    frozenset(s.type for s in r.spans),
                    m.conversation_id,
                    {
                        k: v
                        for k, v in (("order_id", m.order_id), ("dispute_id", m.dispute_id))
                        if v
                    },
                )
                for m, r in zip(msgs, redactions, strict=True)
            ]
        )

    def _restart_pool(self) -> None:
        self.redactor.close()
        self.redactor.start()

    # -- placeholder state: keyed digests -> numbers, never values
    def _decode_state(self, data: bytes | None) -> ConversationState:
        if not data:
            return self.redactor.new_state()
        doc = msgpack.unpackb(data, raw=False)
        return ConversationState.from_dict(self.redactor.state_key, doc["numbers"])

    @staticmethod
    def _encode_state(state: ConversationState) -> bytes:
        return bytes(msgpack.packb({"v": STATE_FORMAT, "numbers": state.to_dict()}))

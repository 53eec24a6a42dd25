"""The storage interface: records, the :class:`Storage` protocol, shared encodings.

Two backends implement it with the same behaviour and the same test suite
(``tests/test_storage.py``): :mod:`proxy.storage.sqlite` (embedded, default) and
:mod:`proxy.storage.postgres` (many stateless replicas). :func:`proxy.storage.open_storage`
picks one from a URL.

Contract every backend keeps
----------------------------
* ``put_messages`` runs in ONE transaction and returns only once it is durable (SQLite WAL
  with ``synchronous=FULL``; PostgreSQL COMMIT). Concurrent calls may share that
  transaction (group commit, :mod:`proxy.storage.batching`); each call still succeeds or
  fails as a whole, and one call's conflict or failure never stores or fails another's
  records. It is idempotent on
  ``(tenant, message_id)``, also for two concurrent puts of the same id: exactly one
  record is created, the other call gets the stored record back with ``created=False``
  (and its ``response`` bytes, so a replayed request answers the same body). A message
  deleted since (retention, erasure) leaves a tombstone: a replay gets ``created=False``
  and the caller's record carrying the original ``seq`` and ``response`` — it is never
  stored again. Deleting a message means deleting its ``messages`` row only. Outbox
  items for a message are enqueued in the same transaction, only when it was created.
* A record whose ``message_id`` is already stored under another conversation or another
  ``text_digest`` (:func:`same_message` is false) is not a replay: the put raises
  :class:`~proxy.storage.errors.MessageIdReused` and its transaction stores nothing (a
  tombstone keeps no digest, so a deleted message's id is compared by nothing).
* A put may carry one :class:`ConversationWrite` per conversation, checked and applied in
  the same transaction as its records, so that the ingest path makes one durable write
  per request: the placeholder state as a compare-and-set on the state version, a new
  data key that the conversation must not have yet, and the id of the data key the
  records are sealed under, which must be the conversation's stored key when the put
  commits (a key shredded meanwhile, or another writer's key, fails the check). If any
  check of a call fails, the call raises :class:`~proxy.storage.errors.WriteConflict` and
  nothing of it is stored — no record, no state, no key; the other calls of its group
  commit normally. The caller reads the conversation again and redoes its work.
  On PostgreSQL a put holds a key-share lock on each data key it checks until it commits,
  so a concurrent shred waits for it and then destroys the key the put committed under.
* ``seq`` is assigned by storage in ingest order (monotonic, may have gaps).
* Purposes are conversation-scoped: a put merges the message's purposes into its
  conversation and stores the union; ``add_conversation_purposes`` re-tags every stored
  message of the conversation in one transaction; later messages inherit.
* ``query_messages`` orders by ``seq`` and pages with an opaque cursor.
* Every database failure is raised as :class:`~proxy.storage.errors.StorageUnavailable`
  (the service answers 503 + Retry-After); the database's own message is never passed on.

Blobs: ``entities`` are stored as msgpack ``[schema, [[start, end, type], ...]]`` — offsets
and types, never values. ``sealed`` is the crypto blob (see :mod:`proxy.crypto`),
``response`` the exact ack body.

Hooks for holds and retention (added by the policies work, not implemented here):
``retention_until`` is a stored, indexed column; a backend may grow ``set_hold(tenant,
conversation_id, case_id)``, ``release_hold(...)`` and ``purge_expired(now, limit)``
(delete messages whose ``retention_until`` passed and whose conversation has no hold).
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import msgpack  # type: ignore[import-untyped]  # no stubs published

from proxy.storage.errors import InvalidCursor, InvalidRecord, WriteConflict

__all__ = [
    "RECORD_SCHEMA_VERSION",
    "ConversationState",
    "ConversationWrite",
    "DataKeyRecord",
    "Entity",
    "OutboxItem",
    "OutboxRow",
    "Page",
    "Storage",
    "StoredMessage",
    "admit",
    "check_record",
    "check_writes",
    "decode_cursor",
    "decode_entities",
    "decode_purposes",
    "encode_cursor",
    "encode_entities",
    "encode_purposes",
    "evolve",
    "same_message",
]

RECORD_SCHEMA_VERSION = 1
"""Schema version of :class:`StoredMessage` and its msgpack blobs; bound into the AAD."""

Entity = tuple[int, int, str]
"""(start, end, type) of one detected span, in offsets of the original text."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One ingested chat message as stored: redacted text, sealed original, metadata.

    ``seq`` is 0 on the way in and assigned by storage. ``sent_at``, ``ingested_at`` and
    ``retention_until`` are timezone-aware (UTC).
    """

    tenant: str
    message_id: str
    conversation_id: str
    sender_id: str
    sender_role: str
    sent_at: datetime
    region: str
    redacted: str
    sealed: bytes
    ingested_at: datetime
    response: bytes = b""
    recipient_id: str | None = None
    order_id: str | None = None
    dispute_id: str | None = None
    lang: str | None = None
    entities: tuple[Entity, ...] = ()
    purposes: frozenset[str] = frozenset()
    retention_until: datetime | None = None
    schema_version: int = RECORD_SCHEMA_VERSION
    seq: int = 0
    # Keyed digest (HMAC) of the message's text, for telling a replay from a reused
    # message_id; never a plain hash. None on records stored before it existed.
    text_digest: bytes | None = None


_RECORD_FIELDS = tuple(f.name for f in fields(StoredMessage))
_RECORD_INDEX = {name: i for i, name in enumerate(_RECORD_FIELDS)}
_record_values = operator.attrgetter(*_RECORD_FIELDS)


def evolve(rec: StoredMessage, **changes: Any) -> StoredMessage:
    """``dataclasses.replace(rec, **changes)``, in a third of the time: storage calls it
    for every record it returns (seq, final purposes), on its writer thread, where
    ``replace``'s generic per-field path was a quarter of the Python work per message."""
    values = list(_record_values(rec))
    for name, value in changes.items():
        values[_RECORD_INDEX[name]] = value  # a name that is no field raises KeyError
    return StoredMessage(*values)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A payload to forward upstream for one message, enqueued with the message."""

    tenant: str
    message_id: str
    destination: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row due for delivery. ``attempts`` counts earlier tries."""

    id: int
    tenant: str
    message_id: str
    destination: str
    payload: bytes
    attempts: int
    next_at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DataKeyRecord:
    """A conversation's data key, wrapped by its region's KEK (``key_id`` names the KEK
    version). ``dek_id`` is the 16-byte id sealed blobs carry."""

    tenant: str
    conversation_id: str
    region: str
    dek_id: bytes
    key_id: str
    wrapped: bytes
    created_at: datetime

    def __repr__(self) -> str:  # the wrapped key is not secret, but it is noise
        return (
            f"DataKeyRecord(tenant={self.tenant!r}, conversation_id={self.conversation_id!r},"
            f" region={self.region!r}, dek_id={self.dek_id.hex()!r}, key_id={self.key_id!r})"
        )


@dataclass(frozen=True, slots=True)
class ConversationState:
    """Opaque per-conversation state (msgpack, e.g. placeholder digest -> number maps)
    with a version for compare-and-set updates."""

    data: bytes
    version: int


@dataclass(frozen=True, slots=True)
class ConversationWrite:
    """What a put checks and stores for one conversation besides its records, in the
    records' transaction (all or nothing with them; see the contract above).

    * ``state``: the new placeholder state, stored only if the conversation's state
      version is still ``expected_version`` (0: it has no state yet); the stored version
      becomes ``expected_version + 1``. None: the state is neither checked nor written.
    * ``new_key``: a data key made for this put; stored only if the conversation has no
      data key. None: no key is written.
    * ``dek_id``: the data key the put's records of this conversation are sealed under;
      the conversation's stored key (``new_key`` once stored) must carry this id. Taken
      from ``new_key`` when that is given. None: the key is not checked.
    """

    tenant: str
    conversation_id: str
    state: bytes | None = None
    expected_version: int = 0
    new_key: DataKeyRecord | None = None
    dek_id: bytes | None = None

    @property
    def sealed_under(self) -> bytes | None:
        """The data key id the conversation must hold when the put commits."""
        return self.new_key.dek_id if self.new_key is not None else self.dek_id

    def __repr__(self) -> str:  # the state is opaque bytes: noise in logs and test output
        return (
            f"ConversationWrite(tenant={self.tenant!r},"
            f" conversation_id={self.conversation_id!r},"
            f" state={'set' if self.state is not None else None},"
            f" expected_version={self.expected_version}, new_key={self.new_key!r},"
            f" dek_id={None if self.dek_id is None else self.dek_id.hex()!r})"
        )


@dataclass(frozen=True, slots=True)
class ConversationSnapshot:
    """What the ingest path reads of a conversation before it redacts: its placeholder
    state (None: none stored yet) and its purposes."""

    state: ConversationState | None
    purposes: frozenset[str]


# Most keys one look-up statement lists (SQLite allows 32,766 bound parameters; a batch
# holds at most [server] max_batch messages, up to 10,000).
LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query; ``next_cursor`` is None on the last page."""

    items: tuple[StoredMessage, ...]
    next_cursor: str | None = None


@runtime_checkable
class Storage(Protocol):
    """What the service needs from a database. All methods may raise StorageUnavailable."""

    # -- messages
    async def put_messages(
        self,
        records: Sequence[StoredMessage],
        outbox: Sequence[OutboxItem] = (),
        *,
        conversations: Sequence[ConversationWrite] = (),
    ) -> list[tuple[StoredMessage, bool]]:
        """Store ``records`` (and ``conversations``' state and keys, at most one write per
        conversation) in one durable transaction; return, in input order, each stored
        record (with ``seq`` and merged purposes) and whether it was created. Raises
        WriteConflict, storing nothing, when a conversation write's check fails."""
        ...

    async def get_message(self, tenant: str, message_id: str) -> StoredMessage | None: ...

    async def get_messages(
        self, tenant: str, message_ids: Sequence[str]
    ) -> dict[str, StoredMessage]:
        """The stored messages among ``message_ids``, by id (absent: not stored), in one
        look-up: the ingest path's replay check for a whole request."""
        ...

    async def query_messages(
        self,
        tenant: str,
        *,
        purpose: str | None,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Messages of ``tenant`` serving ``purpose`` (None: any), ``since <= sent_at <
        until``, in ``seq`` order, starting after the cursor ``after``."""
        ...

    # -- conversations
    async def add_conversation_purposes(
        self, tenant: str, conversation_id: str, purposes: Iterable[str]
    ) -> frozenset[str]:
        """Add purposes to a conversation and re-tag all its stored messages; returns
        the conversation's purposes afterwards."""
        ...

    async def conversation_purposes(self, tenant: str, conversation_id: str) -> frozenset[str]:
        ...

    async def get_conversation_state(
        self, tenant: str, conversation_id: str
    ) -> ConversationState | None: ...

    async def get_conversations(
        self, tenant: str, conversation_ids: Sequence[str]
    ) -> dict[str, ConversationSnapshot]:
        """State and purposes of the stored conversations among ``conversation_ids``, by id
        (absent: no row, i.e. no state and no purposes), in one look-up."""
        ...

    async def put_conversation_state(
        self,
        tenant: str,
        conversation_id: str,
        data: bytes,
        *,
        expected_version: int | None = None,
    ) -> bool:
        """Store ``data`` in a transaction of its own. With ``expected_version`` (0 = must
        not exist yet) it is a compare-and-set: False when another writer got there first.
        (The ingest path writes state with its put instead: :class:`ConversationWrite`.)"""
        ...

    # -- data keys
    async def get_data_key(self, tenant: str, conversation_id: str) -> DataKeyRecord | None: ...

    async def put_data_key_if_absent(self, record: DataKeyRecord) -> DataKeyRecord:
        """Store ``record`` in a transaction of its own unless the conversation already has
        a key; return the stored one (the winner when two writers race). (The ingest path
        stores a new key with its put instead: :class:`ConversationWrite`.)"""
        ...

    async def replace_data_key_wrapping(
        self, record: DataKeyRecord, *, expected_key_id: str
    ) -> bool:
        """Update ``key_id``/``wrapped`` of the key with ``record.dek_id`` if it is still
        wrapped under ``expected_key_id`` (for rewrap); False if it changed or is gone."""
        ...

    async def delete_data_key(self, tenant: str, conversation_id: str) -> bool:
        """Destroy the conversation's data key (crypto-shredding); True if one existed."""
        ...

    def iter_data_keys(self, *, batch: int = 500) -> AsyncIterator[DataKeyRecord]:
        """Every stored data key, in a stable order, fetched in batches."""
        ...

    # -- outbox
    async def outbox_fetch_due(
        self, now: datetime, limit: int, *, lease_seconds: float = 30.0
    ) -> list[OutboxRow]:
        """Rows with ``next_at <= now``, oldest first. Each returned row is leased: its
        ``next_at`` moves to ``now + lease_seconds`` so another worker skips it."""
        ...

    async def outbox_done(self, id: int) -> None: ...

    async def outbox_retry(self, id: int, next_at: datetime, error_kind: str) -> None:
        """Schedule another attempt; ``error_kind`` is a short label, never content."""
        ...

    # -- lifecycle
    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- encodings


_TEXT_FIELDS = (
    "tenant", "message_id", "conversation_id", "sender_id", "sender_role", "recipient_id",
    "order_id", "dispute_id", "region", "lang", "redacted",
)


def check_record(rec: StoredMessage) -> None:
    """Raise InvalidRecord unless both backends can store ``rec`` exactly."""
    for name in _TEXT_FIELDS:
        value = getattr(rec, name)
        if value is not None and "\x00" in value:
            raise InvalidRecord(f"{name} contains a NUL character; strip it before storing")
    for name in ("tenant", "message_id", "conversation_id", "region"):
        if not getattr(rec, name):
            raise InvalidRecord(f"{name} is empty; every stored message needs one")
    try:
        encode_purposes(rec.purposes)
    except ValueError:
        raise InvalidRecord("a purpose name is lower-case letters, digits and _") from None


def check_writes(writes: Sequence[ConversationWrite]) -> None:
    """Raise InvalidRecord unless ``writes`` (of one put) can be applied as documented."""
    seen: set[tuple[str, str]] = set()
    for w in writes:
        key = (w.tenant, w.conversation_id)
        if key in seen:
            raise InvalidRecord("one conversation write per conversation and put; merge them")
        seen.add(key)
        if w.new_key is not None:
            if (w.new_key.tenant, w.new_key.conversation_id) != key:
                raise InvalidRecord("a new data key belongs to the conversation it is written for")
            if w.dek_id is not None and w.dek_id != w.new_key.dek_id:
                raise InvalidRecord("dek_id and new_key name different data keys; pass one")
        if w.expected_version < 0:
            raise InvalidRecord("expected_version counts state writes; it is 0 or more")


def admit(
    writes: Sequence[ConversationWrite],
    versions: dict[tuple[str, str], int],
    keys: dict[tuple[str, str], bytes | None],
) -> WriteConflict | None:
    """Check one put's conversation writes against the state versions and data key ids
    its transaction sees (``versions``: 0 for no state, for every conversation of
    ``writes``; ``keys``: None for no key, for every conversation whose write has a
    ``sealed_under``). On success, update both maps as if the writes were applied (so the
    next call of a group is checked against them) and return None; otherwise leave them
    unchanged and return the first conflict."""
    for w in writes:
        key = (w.tenant, w.conversation_id)
        if w.state is not None and versions[key] != w.expected_version:
            return WriteConflict("state", w.conversation_id)
        if w.new_key is not None and keys[key] is not None:
            return WriteConflict("data_key", w.conversation_id)
        if w.dek_id is not None and w.new_key is None and keys[key] != w.dek_id:
            return WriteConflict("data_key", w.conversation_id)
    for w in writes:
        key = (w.tenant, w.conversation_id)
        if w.state is not None:
            versions[key] = w.expected_version + 1
        if w.new_key is not None:
            keys[key] = w.new_key.dek_id
    return None


def same_message(stored: StoredMessage, conversation_id: str, text_digest: bytes | None) -> bool:
    """Whether a message arriving under ``stored``'s message_id is a replay of it: the same
    conversation and, when both sides carry one, the same keyed text digest. A record
    stored before digests existed is compared by conversation only."""
    if stored.conversation_id != conversation_id:
        return False
    return stored.text_digest is None or text_digest is None or stored.text_digest == text_digest


def encode_entities(entities: Sequence[Entity]) -> bytes:
    return bytes(msgpack.packb([RECORD_SCHEMA_VERSION, [list(e) for e in entities]]))


def decode_entities(blob: bytes) -> tuple[Entity, ...]:
    _version, items = msgpack.unpackb(blob)
    return tuple((int(s), int(e), str(t)) for s, e, t in items)


_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def encode_purposes(purposes: Iterable[str]) -> str:
    """``,a,b,`` (sorted) so that ``LIKE '%,a,%'`` selects by purpose on both backends."""
    ps = sorted(set(purposes))
    for p in ps:
        if not _PURPOSE.fullmatch(p):
            raise ValueError("a purpose name is lower-case letters, digits and _")
    return "," + ",".join(ps) + "," if ps else ""


def decode_purposes(text: str | None) -> frozenset[str]:
    return frozenset(p for p in (text or "").split(",") if p)


def purpose_pattern(purpose: str) -> str:
    """LIKE pattern for one purpose (``_`` escaped with ``\\``)."""
    return "%," + purpose.replace("_", "\\_") + ",%"


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s1:{seq}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The seq after which a page starts (0 for no cursor); InvalidCursor if malformed."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        kind, _, num = text.partition(":")
        if kind != "s1" or not num.isdigit():
            raise ValueError
        return int(num)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(
            "the cursor is malformed; pass next_cursor from the last page"
        ) from None


def utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (naive values are taken to be UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)

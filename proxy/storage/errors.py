"""Errors of the storage layer. Messages name the kind of problem and the fix, never
content (database error texts can quote values, so they are never passed on)."""

from __future__ import annotations

from proxy.errors import ChatwardenError, UsageError


class StorageError(ChatwardenError):
    """Base class of every storage error."""


class StorageUnavailable(StorageError):
    """The database could not be reached or did not complete the operation. Nothing was
    stored (a transaction is all or nothing); the service answers 503 with
    ``Retry-After: retry_after`` and the client retries."""

    def __init__(self, message: str, cause: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        # The failing exception's class name, e.g. "OperationalError": a /metrics label.
        self.cause = cause
        self.retry_after = retry_after


class InvalidStorageUrl(StorageError, UsageError):
    """The storage URL has an unknown scheme or a malformed path."""


class ConflictingRecord(StorageError):
    """A record violates a storage invariant the caller can fix (e.g. a conversation's
    region or tenant differs from the one its data key was created for)."""


class MessageIdReused(ConflictingRecord):
    """A ``message_id`` already stored for a different message (another conversation or
    another text): not a replay. Nothing of the put was stored. ``message_id`` tells the
    caller which one; the message names neither it nor any content."""

    def __init__(self, message_id: str) -> None:
        super().__init__(
            "message_id: already used for a different message (another conversation or "
            "text); give every message its own message_id"
        )
        self.message_id = message_id


class WriteConflict(StorageError):
    """Another writer changed a conversation's placeholder state or data key since the
    caller read them, so a put's compare-and-set check failed (see
    :class:`~proxy.storage.base.ConversationWrite`). Nothing of the put was stored; the
    caller reads the conversation again and redoes its work. ``kind`` is ``"state"`` or
    ``"data_key"``; ``conversation_id`` names the conversation (ids only, no content)."""

    def __init__(self, kind: str, conversation_id: str) -> None:
        super().__init__(
            f"conversation {kind.replace('_', ' ')} changed since it was read; "
            "read the conversation again and retry"
        )
        self.kind = kind
        self.conversation_id = conversation_id


class InvalidCursor(StorageError, UsageError):
    """A query cursor that this service did not issue (or that was altered)."""


class InvalidRecord(StorageError, UsageError):
    """A record the database cannot hold as given (e.g. a NUL character in a text field,
    a malformed purpose name). Validate input before storing it."""

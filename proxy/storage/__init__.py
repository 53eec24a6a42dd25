"""Storage of redacted messages, sealed originals, data keys and the outbox.

:func:`open_storage` opens a backend from a URL (``[storage] url`` in the config):

* ``sqlite:///abs/path.db`` or ``sqlite:rel/path.db`` — the embedded default (same
  conventions as the audit store, which shares the file); ``sqlite::memory:`` for tests;
* ``postgresql://user@host:port/db`` (or ``postgres://``), with an optional
  ``?schema=NAME`` to keep chatwarden's tables in their own schema.

See :mod:`proxy.storage.base` for the contract both backends keep.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

from proxy.storage.base import (
    RECORD_SCHEMA_VERSION,
    ConversationSnapshot,
    ConversationState,
    ConversationWrite,
    DataKeyRecord,
    Entity,
    OutboxItem,
    OutboxRow,
    Page,
    Storage,
    StoredMessage,
)
from proxy.storage.errors import (
    InvalidCursor,
    InvalidRecord,
    InvalidStorageUrl,
    MessageIdReused,
    StorageError,
    StorageUnavailable,
    WriteConflict,
)

__all__ = [
    "RECORD_SCHEMA_VERSION",
    "ConversationSnapshot",
    "ConversationState",
    "ConversationWrite",
    "DataKeyRecord",
    "Entity",
    "InvalidCursor",
    "InvalidRecord",
    "InvalidStorageUrl",
    "MessageIdReused",
    "OutboxItem",
    "OutboxRow",
    "Page",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredMessage",
    "WriteConflict",
    "open_storage",
    "sqlite_path",
]


def sqlite_path(url: str) -> str:
    """The file path of a SQLite URL, with the audit store's conventions:
    ``sqlite:///abs/path.db`` is absolute, ``sqlite:rel/path.db`` relative to the working
    directory, ``sqlite::memory:`` / ``sqlite://:memory:`` an in-memory database."""
    if not url.startswith("sqlite:"):
        raise InvalidStorageUrl("a SQLite URL looks like sqlite:///path/to/chatwarden.db")
    rest = url[len("sqlite:") :]
    if rest.removeprefix("//") == ":memory:":
        return ":memory:"
    if rest.startswith("//"):
        parsed = urlparse(url)
        path = unquote(parsed.netloc + parsed.path)
    else:
        path = unquote(rest)
    if not path or path.endswith("/"):
        raise InvalidStorageUrl("a SQLite URL names a file: sqlite:///path/to/chatwarden.db")
    return path


async def open_storage(url: str, **options: object) -> Storage:
    """Open (and create the tables of) the storage named by ``url``.

    ``options`` go to the backend (SQLite: ``busy_timeout``; PostgreSQL: ``pool_size``,
    ``command_timeout``, ``schema``). Raises InvalidStorageUrl for an unknown scheme and
    StorageUnavailable if the database cannot be reached.
    """
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from proxy.storage.sqlite import SQLiteStorage

        return await SQLiteStorage(sqlite_path(url), **options).open()  # type: ignore[arg-type]
    if scheme in ("postgresql", "postgres"):
        from proxy.storage.postgres import PostgresStorage

        query = parse_qs(urlparse(url).query)
        if "schema" in query and "schema" not in options:
            options["schema"] = query["schema"][0]
        return await PostgresStorage(url, **options).open()  # type: ignore[arg-type]
    raise InvalidStorageUrl(
        "unknown storage URL scheme; use sqlite:///path/to/db or postgresql://user@host/db"
    )

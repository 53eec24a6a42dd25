"""Decoding and validating ingest bodies: pure functions, no I/O.

A body is one message object or ``{"messages": [...]}``. Each message is checked field by
field; the first bad one raises :class:`InvalidField` naming it (``messages[3].sent_at``)
and the fix. Unknown fields are ignored (and never stored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack  # type: ignore[import-untyped]  # no stubs published

from proxy.handlers.errors import InvalidField, MalformedBody, UnsupportedMediaType

__all__ = ["CONTENT_TYPES", "IngestMessage", "Limits", "decode_body", "parse_messages"]

CONTENT_TYPES = ("application/json", "application/msgpack")
SENDER_ROLES = ("buyer", "seller")
MAX_ID_CHARS = 200
# Accepted range of sent_at: wide, but retention deadlines and monthly partitions of
# times near datetime.max would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

# RFC 3339 date-time: full date, 'T' (or space), time, optional fraction, Z or offset.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_ID = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")
# An unpaired surrogate (valid JSON "\\ud800", but no Unicode text): one C-speed scan.
_SURROGATE = re.compile("[\ud800-\udfff]")
_LANG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class Limits:
    max_batch: int = 100
    max_text_chars: int = 20_000
    regions: tuple[str, ...] = ("default",)
    default_region: str = "default"


@dataclass(frozen=True, slots=True)
class IngestMessage:
    message_id: str
    conversation_id: str
    sender_id: str
    sender_role: str
    recipient_id: str
    sent_at: datetime
    text: str
    region: str
    order_id: str | None = None
    dispute_id: str | None = None
    lang: str | None = None

    def __repr__(self) -> str:  # never show the text
        return f"IngestMessage(message_id={self.message_id!r}, conv={self.conversation_id!r})"


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type header; 415 unless JSON or msgpack."""
    mt = (header or "").split(";", 1)[0].strip().lower()
    if mt in ("application/x-msgpack", "application/vnd.msgpack"):
        mt = "application/msgpack"
    if mt not in CONTENT_TYPES:
        raise UnsupportedMediaType("send Content-Type: application/json or application/msgpack")
    return mt


def decode_body(body: bytes, mt: str) -> Any:
    """Parse the body; MalformedBody (naming the format, not the content) on failure."""
    if mt == "application/json":
        try:
            return json.loads(body)
        # ValueError covers JSONDecodeError and Python's limit on integer digits.
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise MalformedBody(
                "the body is not valid JSON (UTF-8); send one JSON object"
            ) from None
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, timestamp=0)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError):
        raise MalformedBody("the body is not valid msgpack; send one msgpack map") from None


def parse_messages(doc: Any, limits: Limits) -> tuple[list[IngestMessage], bool]:
    """The messages of a decoded body, and whether it was a batch."""
    if not isinstance(doc, dict):
        raise MalformedBody('the body must be an object: one message or {"messages": [...]}')
    if "messages" in doc:
        items = doc["messages"]
        if not isinstance(items, list) or not items:
            raise InvalidField("must be a non-empty array of message objects", field="messages")
        if len(items) > limits.max_batch:
            raise InvalidField(
                f"holds more than {limits.max_batch} messages; split the batch "
                "(limit: [server] max_batch)",
                field="messages",
            )
        out = [parse_message(m, limits, f"messages[{i}].") for i, m in enumerate(items)]
        seen: set[str] = set()
        for i, m in enumerate(out):
            if m.message_id in seen:
                raise InvalidField(
                    "repeats an earlier message_id of this batch", field=f"messages[{i}].message_id"
                )
            seen.add(m.message_id)
        return out, True
    return [parse_message(doc, limits, "")], False


def _ident(m: Mapping[str, Any], key: str, prefix: str, *, required: bool) -> str | None:
    v = m.get(key)
    if v is None:
        if required:
            raise InvalidField("is required (a non-empty string)", field=prefix + key)
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not v or len(v) > MAX_ID_CHARS or not _ID.fullmatch(v):
        raise InvalidField(
            f"must be a non-empty string of at most {MAX_ID_CHARS} characters without "
            "control characters",
            field=prefix + key,
        )
    return v


def parse_time(v: Any, field: str) -> datetime:
    if not isinstance(v, str) or not _RFC3339.fullmatch(v):
        raise InvalidField(
            "must be an RFC 3339 time with a timezone, e.g. 2026-01-31T12:00:00Z", field=field
        )
    text = v.replace("z", "Z").replace("t", "T")
    # fromisoformat accepts at most 6 fraction digits: truncate nanoseconds.
    m = re.match(r"(.*\.\d{6})\d+(.*)", text)
    if m:
        text = m.group(1) + m.group(2)
    try:
        when = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidField("is not a valid date and time (RFC 3339)", field=field) from None
    if not EARLIEST <= when < LATEST:
        raise InvalidField("must be between 1970 and 2200 (check the clock)", field=field)
    return when


def parse_message(m: Any, limits: Limits, prefix: str) -> IngestMessage:
    if not isinstance(m, dict):
        raise InvalidField("must be a message object", field=prefix.rstrip(".") or "body")
    ids = {
        k: _ident(m, k, prefix, required=True)
        for k in ("message_id", "conversation_id", "sender_id", "recipient_id")
    }
    role = m.get("sender_role")
    if role not in SENDER_ROLES:
        raise InvalidField("must be 'buyer' or 'seller'", field=prefix + "sender_role")
    if "sent_at" not in m:
        raise InvalidField("is required (an RFC 3339 time)", field=prefix + "sent_at")
    sent_at = parse_time(m["sent_at"], prefix + "sent_at")
    text = m.get("text")
    if not isinstance(text, str):
        raise InvalidField("is required (a string; may be empty)", field=prefix + "text")
    if len(text) > limits.max_text_chars:
        raise InvalidField(
            f"is longer than {limits.max_text_chars} characters ([redact] max_text_chars)",
            field=prefix + "text",
        )
    if "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None):
        raise InvalidField(
            "holds a NUL or an unpaired surrogate; send valid Unicode text", field=prefix + "text"
        )
    region = m.get("region")
    if region is None:
        region = limits.default_region
    elif region not in limits.regions:
        raise InvalidField("is not a configured region ([keys] regions)", field=prefix + "region")
    lang = m.get("lang")
    if lang is not None and (not isinstance(lang, str) or not _LANG.fullmatch(lang)):
        raise InvalidField("must be a language tag such as en or pt-BR", field=prefix + "lang")
    return IngestMessage(
        message_id=ids["message_id"] or "",
        conversation_id=ids["conversation_id"] or "",
        sender_id=ids["sender_id"] or "",
        sender_role=str(role),
        recipient_id=ids["recipient_id"] or "",
        sent_at=sent_at,
        text=text,
        region=str(region),
        order_id=_ident(m, "order_id", prefix, required=False),
        dispute_id=_ident(m, "dispute_id", prefix, required=False),
        lang=lang,
    )

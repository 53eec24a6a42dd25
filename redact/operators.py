"""How a detected value is replaced in the redacted copy.

Operators are typed, validated when built, and pure given a :class:`ConversationState`.

* :class:`Placeholder` -- ``[CREDIT_CARD_1]``; the same value in one conversation gets
  the same number again.
* :class:`Mask` -- ``************1111``: keeps the last ``keep_last`` characters.
* :class:`KeyedHash` -- ``<IBAN:3f9c2a1b7d0e>``: HMAC-SHA256 under a configured key,
  truncated; the same value gives the same tag across conversations.
* :class:`Drop` -- removes the value.

Conversation state records, per type, a keyed digest of each value seen (never the
value), so it can be persisted next to a conversation's records.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from redact.errors import ConfigError

# Everything but the characters str.isalnum() accepts: ``\w`` is exactly those and "_".
_NOT_ALNUM = re.compile(r"[\W_]+")


def canonical(value: str) -> str:
    """The form of a value that identity is decided on: alphanumerics, casefolded."""
    return _NOT_ALNUM.sub("", value.casefold())


def keyed_hex(key: bytes, entity_type: str, value: str) -> str:
    """HMAC-SHA256 under ``key`` of the type, a NUL and the canonical value, in hex: the
    identity of a value for placeholder numbering and for keyed hashes."""
    msg = f"{entity_type}\x00{canonical(value)}".encode()
    return hmac.digest(key, msg, "sha256").hex()


@dataclass(slots=True)
class ConversationState:
    """Placeholder numbering of one conversation: type -> value digest -> number."""

    key: bytes
    numbers: dict[str, dict[str, int]] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the key
        return f"ConversationState(types={sorted(self.numbers)})"

    def digest(self, entity_type: str, value: str) -> str:
        return keyed_hex(self.key, entity_type, value)[:32]

    @property
    def count(self) -> int:
        """How many numbers were given so far. Numbers are only ever added (a value keeps
        its number), so the state changed exactly when this grew."""
        return sum(len(t) for t in self.numbers.values())

    def number(self, entity_type: str, value: str) -> int:
        table = self.numbers.setdefault(entity_type, {})
        d = self.digest(entity_type, value)
        n = table.get(d)
        if n is None:
            n = len(table) + 1
            table[d] = n
        return n

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {t: dict(v) for t, v in self.numbers.items()}

    @classmethod
    def from_dict(cls, key: bytes, data: Mapping[str, Mapping[str, int]]) -> ConversationState:
        return cls(key, {t: dict(v) for t, v in data.items()})


class Operator(Protocol):
    def apply(self, entity_type: str, value: str, state: ConversationState) -> str: ...


@dataclass(frozen=True, slots=True)
class Placeholder:
    def apply(self, entity_type: str, value: str, state: ConversationState) -> str:
        return f"[{entity_type}_{state.number(entity_type, value)}]"


@dataclass(frozen=True, slots=True)
class Mask:
    keep_last: int = 4
    char: str = "*"

    def __post_init__(self) -> None:
        if not 0 <= self.keep_last <= 8:
            raise ConfigError("mask keep_last must be between 0 and 8")
        if len(self.char) != 1:
            raise ConfigError("mask char must be a single character")

    def apply(self, entity_type: str, value: str, state: ConversationState) -> str:
        alnum = [i for i, ch in enumerate(value) if ch.isalnum()]
        keep = set(alnum[len(alnum) - self.keep_last :]) if self.keep_last else set()
        # A value too short to hide anything after keeping keep_last is masked whole.
        if len(alnum) <= self.keep_last * 2:
            keep = set()
        return "".join(
            ch if i in keep or not ch.isalnum() else self.char for i, ch in enumerate(value)
        )


@dataclass(frozen=True, slots=True)
class KeyedHash:
    key: bytes = field(repr=False)
    length: int = 12

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ConfigError("keyed hash key must be at least 16 bytes")
        if not 8 <= self.length <= 64:
            raise ConfigError("keyed hash length must be between 8 and 64 hex digits")

    def apply(self, entity_type: str, value: str, state: ConversationState) -> str:
        tag = keyed_hex(self.key, entity_type, value)[: self.length]
        return f"<{entity_type}:{tag}>"


@dataclass(frozen=True, slots=True)
class Drop:
    def apply(self, entity_type: str, value: str, state: ConversationState) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class OperatorTable:
    """Entity type -> operator, with a default for types not listed."""

    by_type: Mapping[str, Operator] = field(default_factory=dict)
    default: Operator = field(default_factory=Placeholder)

    def for_type(self, entity_type: str) -> Operator:
        return self.by_type.get(entity_type, self.default)


def build_operator(spec: Mapping[str, object], hash_key: bytes | None) -> Operator:
    """Build one operator from a config table such as ``{"kind": "mask", "keep_last": 4}``."""
    kind = spec.get("kind")
    if kind == "placeholder":
        return Placeholder()
    if kind == "drop":
        return Drop()
    if kind == "mask":
        keep = spec.get("keep_last", 4)
        ch = spec.get("char", "*")
        if not isinstance(keep, int) or not isinstance(ch, str):
            raise ConfigError("mask takes an integer keep_last and a one-character char")
        return Mask(keep, ch)
    if kind == "hash":
        if hash_key is None:
            raise ConfigError("operator 'hash' needs a hash key; set [redact] hash_key_file")
        length = spec.get("length", 12)
        if not isinstance(length, int):
            raise ConfigError("hash length must be an integer")
        return KeyedHash(hash_key, length)
    raise ConfigError("operator kind must be one of: placeholder, mask, hash, drop")

"""The detector interface and the building blocks pattern detectors share.

A detector receives *normalised* text (see :mod:`redact.normalize`) and returns spans
in that text; the engine maps them back to original offsets. Detectors are pure and
immutable: patterns compile once, when the detector is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from redact.span import Span


@runtime_checkable
class Detector(Protocol):
    """Finds one or more entity types in a single normalised message."""

    @property
    def name(self) -> str: ...

    @property
    def entity_types(self) -> frozenset[str]: ...

    def detect(self, text: str) -> tuple[Span, ...]: ...


@runtime_checkable
class BatchDetector(Protocol):
    """A detector that is much cheaper per message when fed many at once (NER).

    ``covered``, when given, holds per text the (start, end) of what other detectors
    already found there: the detector may skip work on what lies inside them.
    """

    @property
    def name(self) -> str: ...

    @property
    def entity_types(self) -> frozenset[str]: ...

    def detect_batch(
        self,
        texts: Sequence[str],
        covered: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[tuple[Span, ...]]: ...


def context_before(text: str, start: int, pattern: re.Pattern[str], window: int = 48) -> bool:
    """True when ``pattern`` matches in the ``window`` characters before ``start``."""
    return pattern.search(text, max(0, start - window), start) is not None


def context_around(
    text: str, start: int, end: int, pattern: re.Pattern[str], before: int = 48, after: int = 24
) -> bool:
    """True when ``pattern`` matches just before ``start`` or just after ``end``."""
    if pattern.search(text, max(0, start - before), start) is not None:
        return True
    return pattern.search(text, end, min(len(text), end + after)) is not None


Validator = Callable[[str], bool]


def digits_of(value: str) -> str:
    """The ASCII digits of ``value``, separators dropped (text is already normalised)."""
    return "".join(ch for ch in value if "0" <= ch <= "9")


@dataclass(frozen=True, slots=True)
class PatternDetector:
    """A compiled regex, an optional validator over the match, optional context.

    * ``group``: the regex group that holds the value (0 = whole match).
    * ``validator``: a pure function over the matched value (e.g. a checksum).
    * ``context``: when set, a match is kept only if the context pattern occurs within
      ``context_window`` characters before it (or ``context_after`` after it).
    """

    name: str
    entity_type: str
    pattern: re.Pattern[str]
    score: float = 0.9
    group: int = 0
    validator: Validator | None = None
    context: re.Pattern[str] | None = None
    context_window: int = 48
    context_after: int = 0
    entity_types: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_types", frozenset({self.entity_type}))

    def detect(self, text: str) -> tuple[Span, ...]:
        found: list[Span] = []
        for m in self.pattern.finditer(text):
            start, end = m.span(self.group)
            if start >= end:
                continue
            if self.validator is not None and not self.validator(m.group(self.group)):
                continue
            if self.context is not None and not context_around(
                text, start, end, self.context, self.context_window, self.context_after
            ):
                continue
            found.append(Span(start, end, self.entity_type, self.score, self.name))
        return tuple(found)

"""Required-literal prefilters: skip a regex search when the text cannot match.

For a regular expression, :func:`required_literals` finds a set of literal strings such
that *every* match of the expression contains at least one of them as a substring (the
idea of RE2's prefilter). A text that contains none of them cannot match, and ``str in
str`` is far cheaper than letting ``re`` try dozens of alternatives at every position.
:class:`Filtered` pairs a compiled pattern with its literals; the tagging rules search
through it. The literals are worked out once, when the policy compiles.

Checking literals one ``in`` at a time pays per literal, so :meth:`Filtered.search` only
checks short lists (``MAX_CHECKED``). A caller with many patterns (the purpose tagger)
instead finds every literal of all of them in one pass over the text with
:class:`LiteralScan` (an Aho-Corasick automaton, ``pyahocorasick``) and asks each pattern
:meth:`Filtered.search_found`: no list is too long then.

The analysis reads the parse tree of CPython's own regex parser (``re._parser``, private
but stable within a CPython version). Every rule is conservative: whatever it cannot
prove -- character classes, ``.``, anchors and lookarounds, back-references, optional
parts, case-insensitive matching -- yields *no* prefilter (``None``), never a wrong one;
so does a missing or failing parser. A ``None`` prefilter only costs speed.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import ahocorasick  # type: ignore[import-not-found]  # C extension, no stubs

# CPython's regex parser is private (and untyped, hence import_module): its absence or
# any change to it must cost speed, never correctness.
_sre_parse: ModuleType | None
try:
    _sre_parse = importlib.import_module("re._parser")
    _c = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - other Pythons
    _sre_parse = None

# Longest cross product kept when adjacent fixed parts are joined into longer literals:
# (?:a|b)(?:c|d) gives {"ac", "ad", "bc", "bd"}; beyond this many strings the join stops.
MAX_JOINED = 32

# Most literals a prefilter checks. Each ``in`` costs ~50 ns on a dev message, a keyword
# regex that finds nothing ~1.5-3 us: past about this many literals (common words among
# them, so the regex often runs too) the check costs more than it saves. Measured with
# tagprof on dev.jsonl: 17-22 literals still won, 31 and more lost.
MAX_CHECKED = 24

# Global flags that leave the matching of literal characters alone (IGNORECASE and
# LOCALE do not; an unknown future flag might not either, so this lists what is allowed).
_SAFE_FLAGS = int(re.UNICODE | re.ASCII | re.MULTILINE | re.DOTALL | re.VERBOSE)


@dataclass(frozen=True, slots=True)
class _Req:
    """What is known about the strings one node of the parse tree matches.

    ``exact``: every match *is* one of ``strings`` (a finite language, joinable with its
    neighbours). Otherwise every match *contains* one of ``strings``."""

    strings: frozenset[str]
    exact: bool


def _simplified(strings: Iterable[str]) -> frozenset[str]:
    """``strings`` without those containing another of them (the shorter one implies it)."""
    out: list[str] = []
    for s in sorted(set(strings), key=len):
        if not any(t in s for t in out):
            out.append(s)
    return frozenset(out)


def _score(strings: frozenset[str]) -> tuple[int, int]:
    """Selectivity of a 'contains one of' set: longest shortest string, then fewest strings."""
    return (min(map(len, strings)), -len(strings))


def _node(op: Any, av: Any) -> _Req | None:
    if op is _c.LITERAL:
        return _Req(frozenset({chr(av)}), True)
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        # A local (?i:...) or (?-s:...) changes how the group matches: give up.
        return None if add_flags or del_flags else _seq(sub)
    if op is _c.BRANCH:
        alts = [_seq(alt) for alt in av[1]]
        if any(a is None for a in alts):
            return None  # one alternative with nothing required: the branch requires nothing
        reqs = [a for a in alts if a is not None]
        strings = frozenset().union(*(a.strings for a in reqs))
        exact = all(a.exact for a in reqs)
        return _Req(strings if exact else _simplified(strings), exact)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        lo, hi, sub = av
        if lo < 1:
            return None  # may match nothing at all
        inner = _seq(sub)
        if inner is None:
            return None
        if lo == hi == 1 and inner.exact:
            return inner
        return _Req(_simplified(inner.strings), False)
    # IN, ANY, NOT_LITERAL (not one literal), AT, ASSERT, ASSERT_NOT (zero-width),
    # GROUPREF (unknown text), CATEGORY, ATOMIC_GROUP and anything newer: nothing proven.
    return None


def _seq(items: Sequence[tuple[Any, Any]]) -> _Req | None:
    """A sequence matches only if every item does: the best single requirement among its
    items, where runs of adjacent exact items are joined into longer literals."""
    candidates: list[frozenset[str]] = []
    run: frozenset[str] | None = None  # cross product of the current run of exact items
    whole_exact = True
    for op, av in items:
        req = _node(op, av)
        if req is None or not req.exact:
            whole_exact = False
            if run is not None:
                candidates.append(run)
                run = None
            if req is not None:
                candidates.append(req.strings)
            continue
        if run is None:
            run = req.strings
        elif len(run) * len(req.strings) <= MAX_JOINED:
            run = frozenset(a + b for a in run for b in req.strings)
        else:  # too many combinations: keep what was joined, start again from this item
            whole_exact = False
            candidates.append(run)
            run = req.strings
    if whole_exact:
        return _Req(run if run is not None else frozenset({""}), True)
    if run is not None:
        candidates.append(run)
    best: frozenset[str] | None = None
    for strings in candidates:
        s = _simplified(strings)
        if min(map(len, s)) == 0:
            continue  # the empty string is in every text: no requirement
        if best is None or _score(s) > _score(best):
            best = s
    return None if best is None else _Req(best, False)


def _parse(regex: re.Pattern[str]) -> list[tuple[Any, Any]] | None:
    """The top-level items of ``regex``'s parse tree; ``None`` if the parser is missing or
    fails, or if a flag changes how literal characters match ((?i), LOCALE...)."""
    if _sre_parse is None:  # pragma: no cover - other Pythons
        return None
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
        if (regex.flags | tree.state.flags) & ~_SAFE_FLAGS:
            return None
        return list(tree)
    except Exception:  # a private module may change: no prefilter rather than a crash
        return None


def required_literals(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings at least one of which every match of ``regex`` contains, sorted; ``None``
    when nothing can be proven (then the regex must always be searched)."""
    items = _parse(regex)
    if items is None:
        return None
    try:
        req = _seq(items)
    except Exception:  # an unexpected parse tree: no prefilter rather than a wrong one
        return None
    if req is None:
        return None
    strings = _simplified(req.strings)
    if min(map(len, strings)) == 0:
        return None
    return tuple(sorted(strings))


@dataclass(frozen=True, slots=True)
class Filtered:
    """A compiled pattern and its prefilter: searched only in texts holding a literal
    every match needs (``required is None``: always searched)."""

    regex: re.Pattern[str]
    required: tuple[str, ...] | None
    # Every literal of the prefilter, however many (``None``: nothing proven); what
    # :meth:`search_found` checks against a :class:`LiteralScan`'s findings.
    literals: frozenset[str] | None = None

    @classmethod
    def of(cls, regex: re.Pattern[str]) -> Filtered:
        """``regex`` with its prefilter; :meth:`search` checks it unless checking that many
        literals one by one would cost more than the search it saves (``MAX_CHECKED``)."""
        required = required_literals(regex)
        return cls(
            regex,
            required if required is None or len(required) <= MAX_CHECKED else None,
            None if required is None else frozenset(required),
        )

    def search_found(self, text: str, found: frozenset[str] | set[str]) -> re.Match[str] | None:
        """``regex.search(text)``, skipped when none of the prefilter's literals is among
        ``found``: what :meth:`LiteralScan.found` returned for this same ``text``."""
        literals = self.literals
        if literals is not None and literals.isdisjoint(found):
            return None
        return self.regex.search(text)

    def search(self, text: str) -> re.Match[str] | None:
        """``regex.search(text)``, skipped when the prefilter proves there is no match."""
        required = self.required
        if required is not None:
            for s in required:
                if s in text:
                    break
            else:
                return None
        return self.regex.search(text)


class LiteralScan:
    """Which of a set of literals a text contains, all found in one pass over the text
    (an Aho-Corasick automaton: the cost grows with the text and the matches, not with
    the number of literals). Overlapping occurrences are all found: "refunds" yields both
    "refund" and "funds" when both are literals."""

    __slots__ = ("_automaton",)

    def __init__(self, literals: Iterable[str]) -> None:
        words = sorted({s for s in literals if s})
        self._automaton: Any = None
        if words:
            automaton = ahocorasick.Automaton()
            for w in words:
                automaton.add_word(w, w)
            automaton.make_automaton()
            self._automaton = automaton

    @classmethod
    def of(cls, filters: Iterable[Filtered]) -> LiteralScan:
        """A scan for every literal of ``filters``' prefilters."""
        return cls(s for f in filters if f.literals is not None for s in f.literals)

    def found(self, text: str) -> set[str]:
        """The literals that occur in ``text``."""
        if self._automaton is None:
            return set()
        return {w for _end, w in self._automaton.iter(text)}

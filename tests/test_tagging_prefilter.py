"""Required-literal prefilters: what is extracted, and that a prefilter never rejects a
text its regex matches."""

from __future__ import annotations

import itertools
import json
import random
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import prefilter
from policies.loader import DEFAULT_DIR, load_policy
from policies.prefilter import (
    MAX_CHECKED,
    MAX_JOINED,
    Filtered,
    LiteralScan,
    required_literals,
)
from policies.tagging import (
    PurposeTagger,
    TagInput,
    TagRule,
    fold,
    keywords_regex,
    load_default_tagger,
)

from .conftest import EVAL

_CAP_PATTERN = "(?:aa|bb)(?:cc|dd)(?:ee|ff)(?:gg|hh)(?:ii|jj)(?:kk|ll)"
_CAP_LITERALS = tuple(
    sorted(
        "".join(p)
        for p in itertools.product(
            ("aa", "bb"), ("cc", "dd"), ("ee", "ff"), ("gg", "hh"), ("ii", "jj")
        )
    )
)

# (pattern, required literals or None for "always search")
EXTRACT = [
    (r"refund", ("refund",)),  # a plain literal is required as it is
    (r"abc|de", ("abc", "de")),  # alternation: one of the alternatives
    (r"(?:ab|cd)ef", ("abef", "cdef")),  # adjacent fixed parts are joined
    (r"(ab(c|de))f", ("abcf", "abdef")),  # nested capturing groups are joined too
    (r"(?:x|yy)z", ("xz", "yyz")),  # alternatives of different lengths joined
    (r"a{1,1}b", ("ab",)),  # a repeat of exactly once stays fixed
    (r"x(?:abc)+d", ("abc",)),  # min-1 repeat: its item, the longest requirement
    (r"(?:ab)+?", ("ab",)),  # lazy min-1 repeat
    (r"(?:ab)++c", ("ab",)),  # possessive min-1 repeat
    (r"(?:foo){2}", ("foo",)),  # fixed count > 1: item required, not joined
    (r"x*refund", ("refund",)),  # min-0 repeat contributes nothing
    (r"(?:foo)?", None),  # only an optional part: nothing required
    (r"(?:foo){0,3}", None),  # bounded min-0 repeat: nothing required
    (r"\bpin\b", ("pin",)),  # word boundaries are zero-width
    (r"(?<![a-z])pay(?!ment)", ("pay",)),  # lookarounds add nothing, take nothing
    (r"(?=abc)", None),  # a lookahead alone consumes nothing
    (r"^$", None),  # anchors alone
    (r"[ab]c", ("c",)),  # a class is not a literal; the literal beside it is
    (r"[abc]", None),  # a class alone
    (r"\d+", None),  # a category alone
    (r".", None),  # any character
    (r"[^x]", None),  # a negated class
    (r"(?i)refund", None),  # case-insensitive: literals do not say what matches
    (r"(?i:refund) now", (" now",)),  # a local flag group gives nothing, the rest does
    (r"(?s)refund.", ("refund",)),  # DOTALL leaves literals alone
    (r"(?x) ref und", ("refund",)),  # VERBOSE whitespace is not part of the literal
    (r"平台|站外", ("平台", "站外")),  # CJK literals
    (r"直接(?:打款|付款)给", ("直接付款给", "直接打款给")),  # CJK literals joined
    (_CAP_PATTERN, _CAP_LITERALS),  # joining stops at MAX_JOINED strings
    (r"ab|a", ("a",)),  # a string containing another is implied by it
    (r"a|", None),  # an empty alternative: nothing required
    (r"(a)\1", ("a",)),  # a back-reference adds nothing; its group does
    (r"(a)?(?(1)b|c)", None),  # a conditional: not analysed
    (r"(?>abc)", None),  # an atomic group: not analysed
    (r"(?:abc|[xy])", None),  # one alternative requires nothing
    (r"abc\d+def", ("abc",)),  # equally selective parts: the first one suffices
    (r"ab\d+cdef", ("cdef",)),  # the longer literal is the more selective
    (r"(?:one|two|three)\s+alpha", ("alpha",)),  # longest shortest string wins
    (r"", None),  # the empty pattern matches everywhere
]


@pytest.mark.parametrize(("pattern", "want"), EXTRACT, ids=[f"row{i}" for i in range(len(EXTRACT))])
def test_required_literals(pattern: str, want: tuple[str, ...] | None) -> None:
    """Each row's pattern requires exactly the listed literals (or nothing provable)."""
    assert required_literals(re.compile(pattern)) == want


def test_cap_row_is_at_the_cap() -> None:
    """The cap row's literals are as many as MAX_JOINED allows (the table tests the cap)."""
    assert len(_CAP_LITERALS) == MAX_JOINED


# (keywords, required literals of their keywords_regex)
KEYWORDS = [
    (["charge back"], ("charge",)),  # 'charge[\s\-]+back': the longer word
    (["refund*", "退款"], ("refund", "退款")),  # a stem's fixed part; a CJK keyword
    (["pin"], ("pin",)),  # boundaries around a Latin word add nothing
    (["nao recebi", "money back"], ("money", "recebi")),  # best word of each keyword
    (["-x"], ("-x",)),  # a keyword starting with punctuation
]


@pytest.mark.parametrize(("words", "want"), KEYWORDS, ids=[f"row{i}" for i in range(len(KEYWORDS))])
def test_keyword_regex_literals(words: list[str], want: tuple[str, ...]) -> None:
    """The keyword regexes (lookahead, then the alternation) yield their words' literals."""
    assert required_literals(keywords_regex(words)) == want


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
@pytest.mark.parametrize(
    "pattern", [p for p, _ in EXTRACT], ids=[f"row{i}" for i in range(len(EXTRACT))]
)
def test_prefilter_passes_texts_the_regex_matches(pattern: str, data: st.DataObject) -> None:
    """Texts built to contain a match of a table pattern all pass its prefilter."""
    regex = re.compile(pattern)
    text = data.draw(st.from_regex(regex))
    assert regex.search(text) is not None
    assert Filtered(regex, required_literals(regex)).search(text) is not None


def _random_pattern(rng: random.Random, depth: int) -> str:
    """A random regex over 'a', 'A' and 'b' using every construct the extractor handles."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(
            [
                "a",
                "b",
                "ab",
                "ba",
                "aab",
                "A",
                "[ab]",
                ".",
                r"\b",
                r"\B",
                "(?=a)",
                "(?!b)",
                "(?<=a)",
                "(?<!b)",
                "",
                " ",
                r"\s",
                "^",
                "$",
            ]
        )
    kind = rng.randrange(7)
    parts = [_random_pattern(rng, depth - 1) for _ in range(rng.randint(2, 3))]
    if kind == 0:
        return "|".join(parts)
    if kind == 1:
        return "(?:" + "|".join(parts) + ")"
    if kind == 2:
        return "(" + "".join(parts) + ")"
    if kind == 3:
        quant = rng.choice(["?", "*", "+", "+?", "*?", "{2}", "{1,3}", "{0,2}", "++", "{1}"])
        return "(?:" + parts[0] + ")" + quant
    if kind == 4:
        return "(?i:" + parts[0] + ")"
    return "".join(parts)


def test_prefilter_never_rejects_a_match_of_random_patterns() -> None:
    """For 600 seeded random patterns and every text of up to 5 characters over 'aAb ',
    a text the regex matches always passes the prefilter."""
    rng = random.Random(20240611)
    texts = ["".join(t) for n in range(6) for t in itertools.product("aAb ", repeat=n)]
    filtered = 0
    for i in range(600):
        source = _random_pattern(rng, 3)
        if rng.random() < 0.1:
            source = "(?i)" + source
        regex = re.compile(source)
        required = required_literals(regex)
        if required is None:
            continue
        filtered += 1
        for text in texts:
            if regex.search(text) is not None:
                assert any(s in text for s in required), f"pattern {i}"
    assert filtered >= 120  # the check is not vacuous (142 of the 600 have a prefilter)


def test_case_insensitive_pattern_still_matches_unfiltered() -> None:
    """A (?i) pattern gets no prefilter and keeps matching what it matched."""
    f = Filtered.of(re.compile("(?i)REFUND"))
    assert f.required is None
    assert f.search("a refund please") is not None


def test_search_returns_the_regex_match() -> None:
    """Past the prefilter, search returns what regex.search does."""
    f = Filtered.of(re.compile(r"\bnew (?:bank )?account\b"))
    assert f.required == ("account",)
    m = f.search("our new bank account")
    assert m is not None and m.span() == (4, 20)
    assert f.search("no accounts here") is None
    assert f.search("nothing") is None


def test_too_many_literals_are_not_checked() -> None:
    """A prefilter of more than MAX_CHECKED literals is dropped: checking it costs more
    than the search it would save."""
    words = [f"w{i:03d}" for i in range(MAX_CHECKED + 1)]
    regex = re.compile("|".join(words))
    assert required_literals(regex) == tuple(words)
    assert Filtered.of(regex).required is None
    assert Filtered.of(re.compile("|".join(words[:MAX_CHECKED]))).required is not None


def test_scan_finds_every_literal_overlapping_ones_included() -> None:
    """One pass finds each literal the text holds, those inside or across others too."""
    scan = LiteralScan(["refund", "funds", "und", "ds a", "退款", "absent"])
    assert scan.found("two refunds and a 退款") == {"refund", "funds", "und", "ds a", "退款"}
    assert scan.found("nothing here") == set()
    assert LiteralScan([]).found("refund") == set()
    # Astral characters and a lone surrogate (JSON may carry one) are just characters.
    assert scan.found("\ud800😀退款😀refunds\udfff") == {"refund", "funds", "und", "退款"}


@given(
    st.lists(st.text("abc ", min_size=1, max_size=4), max_size=12),
    st.text("abcd ", max_size=40),
)
@settings(max_examples=300, deadline=None)
def test_scan_agrees_with_substring_checks(literals: list[str], text: str) -> None:
    """What the scan finds is exactly the literals that ``in`` finds."""
    assert LiteralScan(literals).found(text) == {s for s in literals if s in text}


def test_search_found_checks_long_literal_lists() -> None:
    """Past MAX_CHECKED, search() no longer checks the literals, but search_found() does:
    a text holding none of them is not searched, one holding one is."""
    words = [f"{chr(97 + i % 26)}{chr(97 + i // 26)}zq" for i in range(MAX_CHECKED + 10)]
    f = Filtered.of(re.compile(r"\b(?:" + "|".join(words) + r")\b"))
    assert f.required is None and f.literals == frozenset(words)
    scan = LiteralScan.of([f])
    for text, hit in (("has fbzq in it", True), ("has fb and fbzqx", True), ("none", False)):
        found = scan.found(text)
        assert (f.search_found(text, found) is not None) == (f.search(text) is not None)
        assert bool(found) is hit
    # The regex is not even tried when no literal was found.
    assert Filtered(re.compile("x"), None, frozenset({"y"})).search_found("x", set()) is None


def test_compiled_default_tagger_scans_and_survives_pickling() -> None:
    """The default policy's tagger scans for its literals, and a pickled copy (a worker
    started by spawn) fires the same rules."""
    import pickle

    tagger = load_default_tagger()
    assert tagger.scan is not None
    copy = pickle.loads(pickle.dumps(tagger))
    m = TagInput("I want a refund, the goods arrived damaged", frozenset())
    assert [r.id for r in copy.fired(m)] == [r.id for r in tagger.fired(m)]
    assert "dispute_handling" in copy.message_purposes(m)


class _BrokenParser:
    @staticmethod
    def parse(*_args: object) -> object:
        raise RuntimeError("changed internals")


def test_missing_parser_means_no_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CPython's private parser every pattern is simply searched."""
    monkeypatch.setattr(prefilter, "_sre_parse", None)
    assert required_literals(re.compile("refund")) is None


def test_failing_parser_means_no_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser that raises gives no prefilter rather than an error."""
    monkeypatch.setattr(prefilter, "_sre_parse", _BrokenParser)
    assert required_literals(re.compile("refund")) is None


class _OddTree(list[tuple[object, object]]):
    """A parse tree of a shape the extractor does not expect: a literal that is no code point."""

    state = SimpleNamespace(flags=0)


class _OddParser:
    @staticmethod
    def parse(*_args: object) -> _OddTree:
        return _OddTree([(prefilter._c.LITERAL, "not a code point")])


def test_unexpected_parse_tree_means_no_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parse tree of an unexpected shape gives no prefilter rather than an error."""
    monkeypatch.setattr(prefilter, "_sre_parse", _OddParser)
    assert required_literals(re.compile("refund")) is None


# --- the default policy: prefilters change no rule's outcome -----------------------------

_UNICODE = [
    "é", "Ü", "ß", "İ", "ﬁ", "ｆ", "\u0301", "\u200b", "\u00a0", "’", "“", "´", "-", "\n",
    "平台", "账户", "退款", "微信", "中", "ñ", "ç", "ö", "Ω",
]  # fmt: skip


def _reference(rule: TagRule) -> TagRule:
    """``rule`` as it was compiled before prefilters: every regex always searched, the
    patterns joined into one alternation."""
    joined = "|".join(f"(?:{p.regex.pattern})" for p in rule.patterns)
    return TagRule(
        rule.id,
        rule.purpose,
        tuple(Filtered(g.regex, None) for g in rule.groups),
        (Filtered(re.compile(joined), None),) if rule.patterns else (),
        rule.entities,
        rule.metadata,
        None if rule.unless is None else Filtered(rule.unless.regex, None),
    )


def _variants(texts: list[str], literals: list[str]) -> list[str]:
    """The texts and seeded mutations of each: a random piece with its case changed,
    inserted Unicode, and a literal some prefilter looks for spliced between two pieces
    (so prefilters pass and the regexes decide)."""
    rng = random.Random(7)
    out: list[str] = []
    for t in texts:
        out.append(t)
        i, j = sorted(rng.randrange(len(t) + 1) for _ in range(2))
        piece = list(t[i:j])
        for k in rng.sample(range(len(piece)), len(piece) // 3):
            piece[k] = piece[k].swapcase()
        out.append("".join(piece))
        chars = list(t)
        for _ in range(rng.randint(1, 4)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(_UNICODE))
        out.append("".join(chars).upper() if rng.random() < 0.2 else "".join(chars))
        other = rng.choice(texts)
        out.append(
            t[: rng.randrange(len(t) + 1)]
            + rng.choice(literals)
            + other[rng.randrange(len(other) + 1) :]
        )
    return out


def test_default_rules_fire_as_without_prefilters() -> None:
    """Over dev.jsonl and seeded mutations of it, the default rules that fire with
    prefilters are exactly those that fire without them (each pattern searched alone or
    all joined)."""
    tagger = load_default_tagger()
    reference = PurposeTagger(tuple(_reference(r) for r in tagger.rules))
    filters = [f for r in tagger.rules for f in (*r.groups, *r.patterns, r.unless) if f]
    literals = sorted({s for f in filters for s in required_literals(f.regex) or ()})
    assert any(f.required for f in filters) and len(literals) > 500  # 748
    with (EVAL / "dev.jsonl").open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    # Every entity and metadata condition holds, so each rule turns on its text alone.
    entities = frozenset(e for r in tagger.rules for e in r.entities)
    metadata = {k: "1" for r in tagger.rules for k in r.metadata}
    fired = 0
    for n, text in enumerate(_variants(texts, literals)):
        m = TagInput(text, entities, metadata=metadata)
        got = [r.id for r in tagger.fired(m)]
        want = [r.id for r in reference.fired(m)]
        assert got == want, f"text {n}"  # rule ids and an index only: no chat text
        fired += len(got) > 1  # more than dispute.metadata, which always fires here
    assert fired > 2000  # 2519 of 14348: the texts exercise the rules, not only prefilters


def test_rules_selected_by_literals_fire_as_every_rule_checked() -> None:
    """The default tagger checks only the rules whose gate literals a text holds; over
    dev.jsonl with its labelled entity types, that fires exactly the rules that checking
    every rule fires."""
    tagger = load_default_tagger()
    assert tagger.scan is not None and tagger.by_literal
    checked = 0
    with (EVAL / "dev.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    for n, row in enumerate(rows):
        m = TagInput(
            row["text"],
            frozenset(s["type"] for s in row["spans"]),
            metadata={"dispute_id": "d1"} if n % 5 == 0 else {},
        )
        folded = fold(m.text)
        found = tagger.scan.found(folded)
        want = [r.id for r in tagger.rules if r.matches(folded, m.entity_types, m.metadata, found)]
        assert [r.id for r in tagger.fired(m)] == want, f"row {n}"
        checked += len(want) > 0
    assert checked > 500


def test_a_rule_without_a_gate_is_checked_on_every_text() -> None:
    """A rule with no literal a text must hold (here: a pattern the prefilter cannot
    reduce to literals) is checked on every text, not only on texts with literals."""
    pattern = Filtered.of(re.compile(r"\d{3}"))
    keyword = Filtered.of(keywords_regex(["refund"]))
    assert pattern.literals is None and keyword.literals
    tagger = PurposeTagger.compiled(
        [
            TagRule("digits", "risk_control", patterns=(pattern,)),
            TagRule("refund", "dispute_handling", groups=(keyword,)),
        ]
    )
    assert tagger.ungated == (0,)
    # Built by hand with a scan, the gates are built too (at construction).
    by_hand = PurposeTagger(tagger.rules, LiteralScan.of([pattern, keyword]))
    assert by_hand.ungated == (0,) and dict(by_hand.by_literal) == dict(tagger.by_literal)
    assert [r.id for r in by_hand.fired(TagInput("refund 555"))] == ["digits", "refund"]
    assert [r.id for r in tagger.fired(TagInput("call 555 now"))] == ["digits"]
    assert [r.id for r in tagger.fired(TagInput("refund 555"))] == ["digits", "refund"]
    assert [r.id for r in tagger.fired(TagInput("nothing here"))] == []


def _keyword_groups() -> list[tuple[str, list[str], Filtered]]:
    """(rule id, keywords, compiled group) for every keyword list of the default policy."""
    doc = tomllib.loads((DEFAULT_DIR / "tagging.toml").read_text(encoding="utf-8"))
    rules = {r.id: r for r in load_default_tagger().rules}
    out: list[tuple[str, list[str], Filtered]] = []
    for t in doc["tagging"]["rules"]:
        rule = rules[t["id"]]
        lists = ([t["any"]] if "any" in t else []) + t.get("all", [])
        out += [(rule.id, words, g) for words, g in zip(lists, rule.groups, strict=True)]
        if rule.unless is not None:
            out.append((rule.id, t["unless"], rule.unless))
    return out


def test_default_keyword_prefilters_pass_each_keyword() -> None:
    """Every keyword of the default policy, alone in a text, matches its list's regex and
    passes the list's prefilter (the literals left unchecked past MAX_CHECKED included)."""
    groups = _keyword_groups()
    assert len(groups) == sum(
        len(r.groups) + (r.unless is not None) for r in load_default_tagger().rules
    )
    for rule_id, words, g in groups:
        required = required_literals(g.regex)
        assert required is not None, rule_id  # keyword lists always yield literals
        for j, word in enumerate(words):
            text = f"x {fold(word.removesuffix('*'))} x"
            assert g.regex.search(text) is not None, (rule_id, j)
            assert g.search(text) is not None, (rule_id, j)
            assert any(s in text for s in required), (rule_id, j)


_POLICY = """version = 1
[purposes.dispute_handling]
retention_days = 30
[[tagging.rules]]
id = "r1"
purpose = "dispute_handling"
patterns = ['(?i)REFUND', '''\\bnew (?:bank )?account\\b''']
"""


def test_each_pattern_is_compiled_with_its_own_prefilter(tmp_path: Path) -> None:
    """A rule's patterns are kept apart: a (?i) pattern (no prefilter) leaves the other's
    prefilter in place, and either pattern matching fires the rule."""
    path = tmp_path / "p.toml"
    path.write_text(_POLICY, encoding="utf-8")
    tagger = load_policy([path]).tagger
    assert [p.required for p in tagger.rules[0].patterns] == [None, ("account",)]
    assert tagger.message_purposes(TagInput("A refund, please")) == {"dispute_handling"}
    assert tagger.message_purposes(TagInput("Our new bank account")) == {"dispute_handling"}
    assert tagger.message_purposes(TagInput("Our bank")) == frozenset()

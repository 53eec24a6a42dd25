"""Building blocks shared by the payment and identity detectors.

* **Digit runs.** A number may be printed compact, grouped by spaces, dashes, dots or
  slashes, or spaced one digit at a time. :func:`digit_runs` finds maximal runs of digit
  groups joined by one separator; :func:`windows` walks the candidate numbers inside a
  run (consecutive whole groups), so that "4111 1111 1111 1111 09/27" still yields the
  card without the expiry date, and two numbers separated by a space are tried apart.
* **Keywords.** :class:`Keywords` is one compiled, case-insensitive alternation of
  context words in several languages.
* **Nearest context.** :func:`nearest_context` answers which of two keyword sets occurs
  *closest* before a position, so "order 6011..." vetoes a card while "order 123, card
  6011..." does not.
* **Value after a keyword.** :func:`value_after` returns the first identifier-like
  token that follows a keyword across a few filler words ("number", "is", ":"), and
  never across another number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# One separator between digit groups: a space, or a dash/dot/slash optionally padded by
# single spaces ("4111 - 1111"). Commas are not separators: they split prices.
_SEP = r"(?: {0,2}[-./] {0,2}| {1,2})"

# Separator look-alikes that NFKC leaves alone, folded one character for one character
# (offsets stay valid): Unicode hyphens and dashes, the minus sign, middle dots, tabs.
_FOLD = str.maketrans(
    {
        **{chr(c): "-" for c in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212)},
        "\u00b7": ".",
        "\u30fb": ".",
        "\u2027": ".",
        "\t": " ",
    }
)


def fold_separators(text: str) -> str:
    """``text`` with dash, dot and space look-alikes replaced by ASCII, same length."""
    return text if text.isascii() and "\t" not in text else text.translate(_FOLD)


_RUN = re.compile(rf"(?<![0-9A-Za-z])\d+(?:{_SEP}\d+)*(?:{_SEP}?[Xx](?![0-9A-Za-z]))?")
_GROUP = re.compile(r"\d+|[Xx]")
_HAS_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    """Cheap prefilter: detectors of numbers skip messages without any digit."""
    return _HAS_DIGIT.search(text) is not None


@dataclass(frozen=True, slots=True)
class Group:
    """One run of digits (or a trailing check letter ``X``) inside a printed number."""

    start: int
    end: int
    chars: str


def digit_runs(
    text: str, start: int = 0, end: int | None = None, min_chars: int = 0
) -> Iterator[tuple[Group, ...]]:
    """Maximal runs of digit groups joined by single separators, in order.

    A run printed in fewer than ``min_chars`` characters holds fewer digits than that and
    is skipped before its groups are built (most runs are short: prices, quantities).
    """
    stop = len(text) if end is None else end
    for m in _RUN.finditer(text, start, stop):
        base = m.start()
        if m.end() - base < min_chars:
            continue
        yield tuple(
            Group(base + g.start(), base + g.end(), g.group()) for g in _GROUP.finditer(m.group())
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    chars: str  # the digits (and trailing X) of the candidate, separators dropped
    groups: int  # how many printed groups it spans


def windows(
    run: tuple[Group, ...], min_len: int, max_len: int, accept: Callable[[Candidate], bool]
) -> Iterator[Candidate]:
    """Non-overlapping candidates in ``run``: from each start, the longest accepted window.

    A window is a sequence of consecutive whole groups whose character count lies in
    ``[min_len, max_len]``. After a hit the walk resumes after it.
    """
    i, n = 0, len(run)
    while i < n:
        best: Candidate | None = None
        chars = ""
        for j in range(i, n):
            chars += run[j].chars
            if len(chars) > max_len:
                break
            if len(chars) >= min_len:
                cand = Candidate(run[i].start, run[j].end, chars, j - i + 1)
                if accept(cand):
                    best = cand
        if best is None:
            i += 1
            continue
        yield best
        while i < n and run[i].start < best.end:
            i += 1


def keywords(*alternatives: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """Compile context words into one alternation.

    Latin words get word boundaries; alternatives holding CJK characters do not (CJK text
    has no spaces). Alternatives are regex fragments. The boundaries wrap the whole Latin
    alternation once, so the engine tests them once per position, not once per word.
    """
    cjk = [a for a in alternatives if re.search(r"[\u3000-\u9fff]", a)]
    latin = [a for a in alternatives if a not in cjk]
    parts = []
    if latin:
        parts.append(rf"(?<![A-Za-z0-9])(?:{'|'.join(latin)})(?![A-Za-z])")
    if cjk:
        parts.append(f"(?:{'|'.join(cjk)})")
    return re.compile("|".join(parts), flags)


# Words that mark a number as a business fact (order, shipment, product, document),
# in the languages chatwarden sees. They veto detections that rest on weak evidence.
NEGATIVE = keywords(
    r"orders?",
    r"order\s*(?:no|id|number)",
    r"p\.?\s?o\.?",
    r"purchase\s+order",
    r"invoices?",
    r"inv",
    r"tracking",
    r"track",
    r"waybill",
    r"awb",
    r"b/l",
    r"bill\s+of\s+lading",
    r"shipment",
    r"parcel",
    r"consignment",
    r"container",
    r"sku",
    r"model",
    r"item",
    r"part",
    r"hs",
    r"hts",
    r"hs\s*code",
    r"product",
    r"batch",
    r"lot",
    r"ref",
    r"reference",
    r"quote",
    r"quotation",
    r"contract",
    r"ticket",
    r"case",
    r"serial",
    r"imei",
    r"barcode",
    r"ean",
    r"upc",
    r"moq",
    r"qty",
    r"quantity",
    r"pcs",
    r"units?",
    r"pedido",
    r"encomenda",
    r"fatura",
    r"nota\s+fiscal",
    r"rastreamento",
    r"rastreio",
    r"c[oó]digo\s+de\s+rastreio",
    r"factura",
    r"seguimiento",
    r"n[uú]mero\s+de\s+pedido",
    r"bestellung",
    r"bestellnummer",
    r"rechnung",
    r"rechnungsnummer",
    r"sendungsnummer",
    r"auftrag",
    r"auftragsnummer",
    r"artikel",
    r"artikelnummer",
    r"lieferschein",
    r"订单",
    r"订单号",
    r"发票",
    r"运单",
    r"快递单",
    r"物流单",
    r"单号",
    r"型号",
    r"货号",
    r"海关编码",
    r"批号",
    r"合同",
)


def nearest_context(
    text: str, pos: int, positive: re.Pattern[str], negative: re.Pattern[str], window: int = 40
) -> bool | None:
    """Which context occurs closest before ``pos``: True (positive), False, or None (neither)."""
    lo = max(0, pos - window)
    best_end, verdict = -1, None
    for pattern, value in ((positive, True), (negative, False)):
        for m in pattern.finditer(text, lo, pos):
            # Ties (one word in both sets) go to the negative set: vetoes are cheap.
            if m.end() > best_end or (m.end() == best_end and not value):
                best_end, verdict = m.end(), value
    return verdict


def negative_near(text: str, start: int, end: int, before: int = 24) -> bool:
    """A business-fact word right before ``start`` or anywhere in ``[start, end)``."""
    return NEGATIVE.search(text, max(0, start - before), end) is not None


# A number followed by a unit or currency, or preceded by a currency sign, is an amount.
_UNIT_AFTER = re.compile(
    r"\s?(?:%|(?:usd|eur|rmb|cny|gbp|jpy|brl|hkd|dollars?|euros?|yuan|reais|pcs|pieces?|"
    r"units?|sets?|pairs?|kgs?|tons?|mt|cartons?|ctns?|boxes|box|bags?|rolls?|meters?|m|"
    r"days?|hours?|months?|years?|st[uü]ck|unidades|pe[cç]as|件|个|套|箱|元|天)(?![A-Za-z]))",
    re.IGNORECASE,
)
_MONEY_BEFORE = re.compile(r"[$€£¥₹]\s?$|(?:usd|eur|rmb|cny|gbp|us\$)\s?$", re.IGNORECASE)


def is_amount(text: str, start: int, end: int) -> bool:
    """The number at ``[start, end)`` reads as a quantity or a price, not an identifier."""
    if _MONEY_BEFORE.search(text, max(0, start - 5), start):
        return True
    return _UNIT_AFTER.match(text, end) is not None


# Identifier-like token: letters and digits, inner dashes/dots allowed ("A12-345.6").
_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]+(?:[-./][0-9A-Za-z]+)*")
# What may stand between a keyword and its value: short words and punctuation, no digit.
_BREAK = re.compile(r"[\n\r。；;!?？！]")
# A further all-digit group of the same value ("AB 12 34 56", "1  2  3").
_NEXT_DIGITS = re.compile(r" {1,2}[0-9]+(?![0-9A-Za-z])")


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str


def value_after(
    text: str, pos: int, *, max_gap: int = 32, max_words: int = 4, join_digit_groups: bool = True
) -> Token | None:
    """The first token holding a digit after ``pos``, across at most ``max_words`` words.

    Returns ``None`` when the gap is longer than ``max_gap`` characters, crosses a line or
    sentence break, or a negative (business-fact) word. With ``join_digit_groups``,
    following space-separated all-digit groups are joined ("AB 12 34 56").
    """
    words = 0
    limit = min(len(text), pos + max_gap + 64)
    for m in _TOKEN.finditer(text, pos, limit):
        if m.start() - pos > max_gap:
            return None
        gap = text[pos : m.start()]
        if _BREAK.search(gap):
            return None
        if not _HAS_DIGIT.search(m.group()):
            if NEGATIVE.fullmatch(m.group()):
                return None
            words += 1
            if words > max_words:
                return None
            continue
        end = m.end()
        if join_digit_groups:
            while True:
                nxt = _NEXT_DIGITS.match(text, end)
                if nxt is None:
                    break
                end = nxt.end()
        return Token(m.start(), end, text[m.start() : end])
    return None


_VALUE_BEFORE = re.compile(
    r"(?<![0-9A-Za-z])([0-9A-Za-z]+(?:[-./][0-9A-Za-z]+)*)\s*[,:\-]?\s*"
    r"(?:(?:is|was|=)\s+)?(?:(?:my|the|his|her|our|your|their)\s+)?(?:new\s+)?$",
    re.IGNORECASE,
)


def value_before(text: str, pos: int) -> Token | None:
    """The token holding a digit right before a keyword at ``pos`` ("X1234567 is my passport").

    Only "is", "was", "=" and a possessive may stand between; anything else means the
    token belongs to something else, and so does a token right after a business word.
    """
    m = _VALUE_BEFORE.search(text, max(0, pos - 48), pos)
    if m is None or not _HAS_DIGIT.search(m.group(1)):
        return None
    if NEGATIVE.search(text, max(0, m.start(1) - 16), m.start(1)):
        return None  # "order 12345678, passport ..." names the order
    return Token(m.start(1), m.end(1), m.group(1))


def alnum(value: str) -> str:
    """Letters and digits of ``value``, separators dropped."""
    return "".join(ch for ch in value if ch.isascii() and ch.isalnum())

"""Payment data: card numbers, CVV and expiry, IBAN, SWIFT/BIC, bank accounts.

Scores (resolution keeps the highest on overlap, see :mod:`redact.resolve`):

* 0.97 a Luhn-valid card number introduced as a *bank* card (银行卡, "bank card"): the
  marketplace labels those ``BANK_ACCOUNT``, and this beats the card detector's 0.95;
* 0.95 checksum-validated values (Luhn + scheme, IBAN mod 97, ABA routing);
* 0.9  card expiry/CVV printed right after a detected card, or after their keyword;
* 0.85 SWIFT/BIC with context, a Luhn-valid card of no known scheme with card context;
* 0.8  account numbers identified by context alone.

Card numbers without card context are reported only when their IIN range and length
fit a scheme *and* the nearest context word before them is not a business-fact word
("order", "tracking", "invoice"...): an 18-digit order number that happens to pass Luhn
stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from redact.checksums import aba_valid, card_valid, iban_valid, luhn, swift_bic_valid
from redact.detectors.base import Detector
from redact.detectors.numeric import (
    NEGATIVE,
    Candidate,
    alnum,
    digit_runs,
    fold_separators,
    has_digit,
    is_amount,
    keywords,
    nearest_context,
    negative_near,
    value_after,
    windows,
)
from redact.span import Span

CARD_CONTEXT = keywords(
    r"cards?",
    r"cc",
    r"cc\s*(?:no|num|#)",
    r"credit",
    r"debit",
    r"visa",
    r"master\s?card",
    r"amex",
    r"american\s+express",
    r"discover",
    r"jcb",
    r"union\s?pay",
    r"maestro",
    r"diners",
    r"(?-i:PAN)",  # upper case only: a "pan" is also cookware
    r"card\s*(?:no|num|number|#)",
    r"cart[aã]o",
    r"tarjeta",
    r"karte",
    r"kreditkarte",
    r"carte",
    r"kartennummer",
    r"n[uú]mero\s+do\s+cart[aã]o",
    r"carte\s+bancaire",
    r"num[ée]ro\s+de\s+carte",
    r"carta\s+di\s+credito",
    r"carta",
    r"信用卡",
    r"银行卡",
    r"借记卡",
    r"储蓄卡",
    r"卡号",
    r"银联",
    r"卡",
)

# An expiry date needs a card in sight; "credit" alone does not count (a letter of
# credit has an expiry date too).
EXPIRY_CARD_CONTEXT = keywords(
    r"cards?",
    r"cc",
    r"visa",
    r"master\s?card",
    r"amex",
    r"american\s+express",
    r"jcb",
    r"union\s?pay",
    r"maestro",
    r"cart[aã]o",
    r"tarjeta",
    r"karte",
    r"kreditkarte",
    r"carte",
    r"信用卡",
    r"银行卡",
    r"借记卡",
    r"卡号",
)

# A card introduced as a bank card is reported as BANK_ACCOUNT (the corpus convention
# for Chinese UnionPay debit cards used to receive wire payments).
BANK_CARD_CONTEXT = keywords(r"bank\s*card", r"银行卡", r"借记卡", r"储蓄卡", r"银联卡")

CVV_KEYWORDS = keywords(
    r"cvv2?",
    r"cvc2?",
    r"csc",
    r"cvn",
    r"cvv2?\s*/\s*cvc2?",
    r"security\s+code",
    r"sec\.?\s*code",
    r"card\s+code",
    r"card\s+verification\s+(?:code|number|value)",
    r"c[oó]d\.?\s*(?:de\s+)?seg(?:\.|uran[cç]a)?",
    r"c[oó]digo\s+de\s+verifica(?:[cç][aã]o|ci[oó]n)",
    r"c[oó]digo\s+(?:de\s+)?(?:seguridad|seguran[cç]a)\s+(?:da|de\s+la|del)\s+(?:cart[aã]o|tarjeta)",
    r"karten(?:sicherheits|verifizierungs)(?:code|nummer)",
    r"pr[uü]fnr\.?",
    r"security\s+(?:no|nr|number|#)\.?",
    r"code\s+(?:cvv|cvc|cryptogramme)",
    r"codice\s+(?:cvv|cvc|di\s+verifica)",
    r"card\s+security\s+code",
    r"code\s+on\s+the\s+back",
    r"verification\s+(?:code|number|value)",
    r"安全码",
    r"验证码",
    r"校验码",
    r"c[oó]digo\s+de\s+seguran[cç]a",
    r"c[oó]digo\s+de\s+seguridad",
    r"c[oó]digo\s+(?:cvv|cvc)2?",
    r"pr[uü]fnummer",
    r"kartenpr[uü]fnummer",
    r"sicherheitscode",
    r"(?:卡)?背面(?:的)?(?:三|3|四|4)位(?:数字|数|码)?",
    r"卡背(?:面)?(?:的)?(?:数字|号码)?",
    r"(?:karten)?pr[uü]fziffer",
    r"sicherheitsnummer",
    r"cryptogramme(?:\s+visuel)?",
    r"code\s+de\s+s[ée]curit[ée]",
    r"codice\s+di\s+sicurezza",
)
# Bare "code"/"código"/"CID" name a CVV only in a message that also holds a card word
# and a card expiry ("cartão ... validade 10/29 código 209"); "promo code 1234" has none.
CVV_WEAK_KEYWORDS = keywords(r"c[oó]digo", r"c[oó]d\.?", r"code", r"cid", r"codice", r"pin")
_CID = keywords(r"cid")
_WEAK_CODE_VETO = re.compile(
    r"(?:promo|discount|coupon|voucher|zip|postal|post|hs|product|tracking|order|sms|otp|"
    r"invite|referral|access|tarif|postal|cupom|cup[oó]n|rastreio|pedido|produto|producto)"
    r"\w*\s*$",
    re.IGNORECASE,
)
# Longer alternatives first: the alternation takes the first that matches ("exp. date").
EXPIRY_KEYWORDS = keywords(
    r"exp\.?\s+date",
    r"expiry\s+date",
    r"expiry",
    r"expires?",
    r"expiration(?:\s+date)?",
    r"exp\.",
    r"exp",
    r"vto\.?",
    r"venc",
    r"valable\s+jusqu['’]\s?(?:au|à|a)",
    r"date\s+de\s+validit[ée]",
    r"fin\s+de\s+validit[ée]",
    r"valid[ao]\s+fino\s+(?:al|a)",
    r"scad\.",
    r"mm\s?/\s?(?:yy|aa|jj)(?:yy|aa|jj)?",
    r"val\.",
    r"g[uü]lt\.",
    r"valid\s+(?:thru|through|until|till)",
    r"good\s+(?:thru|through)",
    r"有效期(?:至)?",
    r"到期(?:日|时间)?",
    r"过期",
    r"validade",
    r"v[aá]lido\s+at[eé]",
    r"vencimento",
    r"vencimiento",
    r"vence",
    r"venc\.",
    r"expira",
    r"caduca",
    r"fecha\s+de\s+(?:vencimiento|caducidad|expiraci[oó]n)",
    r"caducidad",
    r"v[aá]lida?\s+hasta",
    r"ablaufdatum",
    r"g[uü]ltig\s+bis",
    r"ablauf",
    r"date\s+d'expiration",
    r"expire\s+fin",
    r"scadenza",
)
# An expiry: month then 2- or 4-digit year ("09/27", "9-2027", "09 / 27", "2027/09" no).
# Not the tail of a full date: "15/12/2026" holds no expiry "12/2026".
_EXPIRY = re.compile(
    r"(?<![0-9])(?<![0-9][/.\-])(0?[1-9]|1[0-2]) ?[/.\-|] ?((?:20)?\d{2})(?![0-9]|[/.\-]\d)"
)
# After an expiry keyword only: "exp Dec 2029", "valid thru Sept. 29".
_EXPIRY_NAMED = re.compile(
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? ?(?:20)?\d{2}(?![0-9])",
    re.IGNORECASE,
)
# Compact month+year ("1128") or ISO year-month ("2027-09"), only after an expiry word.
_EXPIRY_COMPACT = re.compile(
    r"(?<![0-9])(?:(?:0[1-9]|1[0-2])\d{2}|20\d{2}[-/.](?:0[1-9]|1[0-2])|20\d{2}\s?年\s?\d{1,2}\s?月)"
    r"(?![0-9]|[-/.]\d)"
)
# Expiry words that name a card expiry on their own (no card word needed in the message)
# when the value is month/year with a separator: a card split over several messages
# ("card is 4111 ..." then "exp 05/30"). "expires"/"vence" stay weak ("offer expires").
_STRONG_EXPIRY_WORD = re.compile(
    r"exp\.?|expiry(?:\s+date)?|exp\.?\s+date|expiration\s+date|valid\s+(?:thru|through)|vto\.?|"
    r"valable\s+jusqu['’]\s?(?:au|à|a)|mm\s?/\s?(?:yy|aa|jj)(?:yy|aa|jj)?|"
    r"good\s+thru|validade|vencimiento|fecha\s+de\s+vencimiento|g[uü]ltig\s+bis|ablaufdatum|"
    r"有效期至?|date\s+d'expiration|scadenza",
    re.IGNORECASE,
)
_MONTH_SLASH_YEAR = re.compile(r"(?:0[1-9]|1[0-2]) ?[/|] ?(?:20)?\d{2}")
# A message about an offer, a document or goods: its expiry is no card's.
_NOT_CARD_EXPIRY = keywords(
    r"offer",
    r"quot(?:e|ation)",
    r"price",
    r"promo\w*",
    r"coupon",
    r"voucher",
    r"contract",
    r"passport",
    r"visa\s+(?:application|stamp)",
    r"licen[cs]e",
    r"warrant(?:y|ies)",
    r"certificate",
    r"l/c",
    r"letter\s+of\s+credit",
    r"shelf",
    r"best\s+before",
    r"batch",
    r"lot",
    r"proforma",
    r"pi",
    r"oferta",
    r"cota[cç][aã]o",
    r"cotizaci[oó]n",
    r"angebot",
    r"passaporte",
    r"pasaporte",
    r"reisepass",
    r"garantia",
    r"garant[ií]a",
    r"lote",
    # goods (shelf life, production) and bills (a due date is no card expiry)
    r"mfg",
    r"mfd",
    r"manufactur\w*",
    r"production",
    r"shelf\s+life",
    r"produto",
    r"producto",
    r"mercadoria",
    r"mercanc[ií]a",
    r"fabrica[cç][aã]o",
    r"fabricaci[oó]n",
    r"charge",
    r"mhd",
    r"haltbar\w*",
    r"invoice",
    r"bill",
    r"factura",
    r"fatura",
    r"boleto",
    r"rechnung",
    r"facture",
    r"fattura",
    r"due",
    r"domain",
    r"subscription",
    r"trial",
    r"membership",
    r"报价",
    r"护照",
    r"合同",
    r"保质期",
)
_EXPIRY_WORD = re.compile(r"exp|valid|thru|venc|有效期|到期|ablauf|g[uü]ltig", re.IGNORECASE)
_CVV = re.compile(r"(?<![0-9A-Za-z.,/\-])\d{3,4}(?![0-9A-Za-z]|[.,/\-]\d|\s*%)")
# Short labels allowed between a card and its expiry or CVV ("exp", "cvv:", "，").
_FILLER = re.compile(
    r"[\s,;:()\[\]|/，：；、-]*(?:(?:exp\w*|valid\w*|thru|through|until|date|cvv2?|cvc2?|"
    r"cid|csc|security|sec|seg|code|c[oó]d|c[oó]digo|card|verification|the|on|back|is|and|"
    r"with|de|la|da|seguran[cç]a|seguridad|validade|vencimiento|vence|ablaufdatum|g[uü]ltig|bis|"
    r"karte|kartenpr[uü]fnummer|pr[uü]fnummer|pr[uü]fnr|pr[uü]fziffer|sicherheitscode|codice|"
    r"scadenza|vto|venc|valable|valida|fino|al|mm/yy|mm/aa|"
    r"cryptogramme|有效期至?|安全码|到期)(?![A-Za-z])"
    r"[\s,;:.()\[\]|/，：；、-]*)*",
    re.IGNORECASE,
)


_NON_DIGITS = re.compile(r"[^0-9]+")
_MONTH_THEN_YEAR = re.compile(r" ?[/\-.] ?\d{2}")


def _plausible_grouping(cand: Candidate, text: str) -> bool:
    """One kind of separator throughout, and no month of an expiry date swallowed.

    "4111 1111 1111 1111 09/27" must not become an 18-digit card ending in "09". Mixed
    separators ("4111 1111-1111 1111") are accepted only when the window is the whole
    printed number, with no digit group glued before or after it.
    """
    printed = text[cand.start : cand.end]
    if len({sep.strip() for sep in _NON_DIGITS.findall(printed)}) > 1 and (
        _DIGIT_BEFORE.search(text, max(0, cand.start - 5), cand.start)
        or _NEXT_GROUP.match(text, cand.end)
    ):
        return False
    last = printed.rsplit(None, 1)[-1] if cand.groups > 1 else printed
    last_group = _NON_DIGITS.split(last)[-1]
    return not (
        cand.groups > 1
        and len(last_group) <= 2
        and len(cand.chars) > 2 * cand.groups  # not spaced one digit at a time
        and _MONTH_THEN_YEAR.match(text, cand.end) is not None
    )


_PUNCT_GROUPED = re.compile(r"\d+( ?[-./] ?)\d")


def _inside_longer_number(cand: Candidate, text: str) -> bool:
    """A dash/dot/slash-grouped window glued to more groups by the same separator.

    "658-4070-9970-1543-1566" is one 20-digit reference, not a card after "658-".
    Space-grouped cards are exempt: a CVV or an expiry often follows after a space.
    """
    if cand.groups < 2:
        return False
    m = _PUNCT_GROUPED.match(text, cand.start, cand.end)
    if m is None:
        return False
    sep = m.group(1).strip()
    before = text[max(0, cand.start - 3) : cand.start].rstrip()
    after = text[cand.end : cand.end + 3].lstrip()
    return (before.endswith(sep) and before[:-1].rstrip()[-1:].isdigit()) or (
        after.startswith(sep) and after[1:].lstrip()[:1].isdigit()
    )


def _is_card(cand: Candidate, text: str) -> bool:
    digits = cand.chars
    # Luhn first: every accepted window passes it, and nine in ten candidates fail it.
    if not luhn(digits) or not _plausible_grouping(cand, text):
        return False
    if _inside_longer_number(cand, text):
        return False
    if cand.start > 0 and text[cand.start - 1] == "+":
        return False  # an international phone number
    context = nearest_context(text, cand.start, CARD_CONTEXT, NEGATIVE)
    if context is False:
        return False
    if card_valid(digits):
        return True
    return context is True and _whole_number(cand, text)


_DIGIT_BEFORE = re.compile(r"\d {0,2}[-./]? {0,2}$")
_NEXT_GROUP = re.compile(r" {0,2}([-./]?) {0,2}(\d+)")


def _whole_number(cand: Candidate, text: str) -> bool:
    """A window accepted on Luhn alone must not be a piece of a longer grouped number.

    It must start its run, and when printed in groups, the next group (if any) may only
    be a short one such as the month of an expiry date: "card 4526 0181 5908 3013" is a
    bad 16-digit number, not a 12-digit card followed by a CVV.
    """
    if _DIGIT_BEFORE.search(text, max(0, cand.start - 4), cand.start):
        return False
    if cand.groups < 2:
        return True
    nxt = _NEXT_GROUP.match(text, cand.end)
    return nxt is None or len(nxt.group(2)) <= 2


@dataclass(frozen=True, slots=True)
class CardDetector:
    """Card numbers (Luhn + scheme), and the expiry date and CVV printed right after."""

    name: str = "payment.card"
    entity_types: frozenset[str] = frozenset({"CREDIT_CARD", "CARD_EXPIRY", "CARD_CVV"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for run in digit_runs(text, min_chars=12):
            if sum(len(g.chars) for g in run) < 12:
                continue
            for cand in windows(run, 12, 19, lambda c: _is_card(c, text)):
                score = 0.95 if card_valid(cand.chars) else 0.85
                found.append(Span(cand.start, cand.end, "CREDIT_CARD", score, self.name))
                found.extend(self._trailing(text, cand.end))
        return tuple(found)

    def _trailing(self, text: str, pos: int) -> list[Span]:
        """Expiry and CVV printed right after a card, in either order, short labels between."""
        out: list[Span] = []
        seen_expiry = seen_cvv = False
        for _ in range(2):
            gap = _FILLER.match(text, pos)
            at = gap.end() if gap else pos
            if at - pos > 40:
                break
            exp = None if seen_expiry else _EXPIRY.match(text, at)
            if exp is None and not seen_expiry and _EXPIRY_WORD.search(text, pos, at):
                exp = _EXPIRY_COMPACT.match(text, at)
                if exp is not None and is_amount(text, exp.start(), exp.end()):
                    exp = None
            if exp is not None:
                out.append(Span(exp.start(), exp.end(), "CARD_EXPIRY", 0.9, self.name))
                seen_expiry, pos = True, exp.end()
                continue
            cvv = None if seen_cvv else _CVV.match(text, at)
            if (
                cvv is not None
                and not negative_near(text, cvv.end(), cvv.end() + 12, before=0)
                and not is_amount(text, cvv.start(), cvv.end())
            ):
                out.append(Span(cvv.start(), cvv.end(), "CARD_CVV", 0.9, self.name))
                seen_cvv, pos = True, cvv.end()
                continue
            break
        return out


@dataclass(frozen=True, slots=True)
class CardExtrasDetector:
    """CVV and expiry dates introduced by their own keyword, in several languages.

    An expiry keyword alone is weak ("offer expires 12/26"), so an expiry also needs a
    card mentioned somewhere in the message (a card word or a CVV keyword).
    """

    name: str = "payment.card_extras"
    entity_types: frozenset[str] = frozenset({"CARD_EXPIRY", "CARD_CVV"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for kw in CVV_KEYWORDS.finditer(text):
            tok = value_after(text, kw.end(), max_gap=16, max_words=3, join_digit_groups=False)
            if (
                tok is not None
                and tok.text.isdigit()
                and len(tok.text) in (3, 4)
                and not is_amount(text, tok.start, tok.end)
            ):
                found.append(Span(tok.start, tok.end, "CARD_CVV", 0.9, self.name))
        card_context = EXPIRY_CARD_CONTEXT.search(text) is not None or bool(found)
        for kw in EXPIRY_KEYWORDS.finditer(text):
            gap = _FILLER.match(text, kw.end())
            at = gap.end() if gap else kw.end()
            if at - kw.end() > 16:
                continue
            exp = _EXPIRY.match(text, at) or _EXPIRY_NAMED.match(text, at)
            if exp is None:
                exp = _EXPIRY_COMPACT.match(text, at)
                if exp is not None and is_amount(text, exp.start(), exp.end()):
                    exp = None
            if exp is None:
                continue
            if card_context or (
                _STRONG_EXPIRY_WORD.fullmatch(kw.group(0)) is not None
                and _MONTH_SLASH_YEAR.fullmatch(exp.group(0)) is not None
                and _NOT_CARD_EXPIRY.search(text) is None
            ):
                found.append(Span(exp.start(), exp.end(), "CARD_EXPIRY", 0.9, self.name))
        if card_context and not any(s.type == "CARD_CVV" for s in found):
            if any(s.type == "CARD_EXPIRY" for s in found):
                found.extend(self._weak_cvv(text, CVV_WEAK_KEYWORDS))
            else:  # Amex's "CID" with a card word, no expiry needed
                found.extend(self._weak_cvv(text, _CID))
        return tuple(found)

    def _weak_cvv(self, text: str, labels: re.Pattern[str]) -> list[Span]:
        """A CVV after a bare "code"/"código" in a message that names a card and its expiry."""
        out: list[Span] = []
        for kw in labels.finditer(text):
            if _WEAK_CODE_VETO.search(text, max(0, kw.start() - 16), kw.start()) is not None:
                continue
            tok = value_after(text, kw.end(), max_gap=6, max_words=1, join_digit_groups=False)
            if (
                tok is not None
                and tok.text.isdigit()
                and len(tok.text) in (3, 4)
                and not is_amount(text, tok.start, tok.end)
            ):
                out.append(Span(tok.start, tok.end, "CARD_CVV", 0.9, self.name))
        return out


# IBAN start: two letters then two check digits ("DE89", "de89"), or in capitals with
# single spaces between characters ("D E 8 9", spaced one by one). Never "no. 27":
# a separator after lower-case letters is prose.
_IBAN_START = re.compile(r"(?<![0-9A-Za-z])(?:[A-Za-z]{2}[ -]?\d{2}|[A-Z] [A-Z] \d ?\d)")
_IBAN_SEP = " -."


@dataclass(frozen=True, slots=True)
class IbanDetector:
    """IBANs of every registry country, compact or grouped, any case; mod 97 validated."""

    name: str = "payment.iban"
    entity_types: frozenset[str] = frozenset({"IBAN"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        from redact.checksums import IBAN_LENGTHS

        found: list[Span] = []
        for m in _IBAN_START.finditer(text):
            cc = alnum(m.group()[:3])[:2].upper()
            length = IBAN_LENGTHS.get(cc)
            if length is None:
                continue
            end = _take_alnum(text, m.start(), length)
            if end is None:
                continue
            if iban_valid(text[m.start() : end]):
                found.append(Span(m.start(), end, "IBAN", 0.95, self.name))
        return tuple(found)


def _take_alnum(text: str, start: int, count: int) -> int | None:
    """End of ``count`` letters/digits from ``start`` with single separators between.

    ``None`` when the text runs out, a double separator interrupts, or the value goes
    on (an alphanumeric character glued to the last one).
    """
    got, i, n = 0, start, len(text)
    last_end = start
    while i < n and got < count:
        ch = text[i]
        if ch.isascii() and ch.isalnum():
            got += 1
            i += 1
            last_end = i
            continue
        if ch in _IBAN_SEP and got:
            j = i + 1
            while j < n and j - i < 3 and text[j] in _IBAN_SEP:
                j += 1  # at most three separator characters: "DE44 - 5001", "DE44  5001"
            if j < n and text[j].isascii() and text[j].isalnum():
                i = j
                continue
        return None
    if got < count:
        return None
    if last_end < n and text[last_end].isascii() and text[last_end].isalnum():
        return None
    return last_end


SWIFT_CONTEXT = keywords(
    r"swift",
    r"bic",
    r"swift\s*/\s*bic",
    r"bic\s*/\s*swift",
    r"bank\s+identifier\s+code",
    r"bank\s+code",
    r"银行代码",
    r"银行识别码",
    r"swift\s*代码",
    r"swift\s*码",
    r"c[oó]digo\s+(?:swift|bic)",
    r"bic-code",
    r"bankleitzahl",
    r"(?:beneficiary|receiving|intermediary|correspondent)(?:'s)?\s+bank",
    r"收款(?:人)?银行",
)
_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]+")
_BIC_LABELS = frozenset(
    {"code", "no", "number", "is", "bic", "swift", "id", "or", "of", "bank", "the"}
)
_BIC_TOKEN = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z]{6}[A-Za-z0-9]{2}(?:[A-Za-z0-9]{3})?(?![0-9A-Za-z])"
)


@dataclass(frozen=True, slots=True)
class SwiftBicDetector:
    """SWIFT/BIC codes: ISO 9362 structure with a real country, after a SWIFT/BIC word.

    Structure alone would match ordinary upper-case words, so context is required. The
    first BIC-shaped token within a few words of the keyword is taken; a lower-case one
    only when nothing but punctuation separates it from the keyword.
    """

    name: str = "payment.swift_bic"
    entity_types: frozenset[str] = frozenset({"SWIFT_BIC"})

    def detect(self, text: str) -> tuple[Span, ...]:
        found: list[Span] = []
        for kw in SWIFT_CONTEXT.finditer(text):
            for m in _BIC_TOKEN.finditer(text, kw.end(), min(len(text), kw.end() + 40)):
                between = text[kw.end() : m.start()]
                words = [w for w in _WORD.findall(between) if w.lower() not in _BIC_LABELS]
                if len(words) > 3:
                    break
                token = m.group()
                if not token.isupper():
                    # "swift delivery" is prose; "swift code: deutdeff" is a code.
                    labelled = ":" in between or "：" in between or len(_WORD.findall(between)) > 0
                    if words or not labelled:
                        continue
                if swift_bic_valid(token):
                    found.append(Span(m.start(), m.end(), "SWIFT_BIC", 0.85, self.name))
                    break
        return tuple(found)


ACCOUNT_CONTEXT = keywords(
    r"(?:bank\s+)?account(?:\s*(?:no|nr|num|number|#))?",
    r"acct(?:\s*(?:no|#))?",
    r"acc(?:\s*no)?",
    r"a/c(?:\s*no)?",
    r"beneficiary\s+account",
    r"account\s+number",
    r"routing(?:\s+number)?",
    r"aba",
    r"rtn",
    r"bank\s*card",
    r"kontonummer",
    r"konto(?:-?nr)?",
    r"iban",
    r"conta(?:\s+corrente)?",
    r"n[uú]mero\s+da\s+conta",
    r"ag[eê]ncia",
    r"cuenta",
    r"n[uú]mero\s+de\s+cuenta",
    r"clabe",
    r"(?-i:RIB)",
    r"num[ée]ro\s+de\s+compte",
    r"compte(?:\s+bancaire)?",
    r"conto(?:\s+corrente)?",
    r"户名账号",
    r"银行账号",
    r"sort\s*code",
    r"(?-i:BSB)",
    r"账号",
    r"帐号",
    r"账户",
    r"帐户",
    r"卡号",
    r"银行卡",
    r"借记卡",
    r"储蓄卡",
    r"收款账户",
    r"银行账户",
    r"开户行账号",
)
ROUTING_CONTEXT = keywords(r"routing(?:\s+(?:number|no|#))?", r"aba", r"rtn", r"transit\s+number")


@dataclass(frozen=True, slots=True)
class BankAccountDetector:
    """Bank account and routing numbers, found by context.

    * after a routing word: exactly 9 digits that pass the ABA check (0.95);
    * after a bank-card word: a Luhn-valid 16-19 digit card number (0.97, BANK_ACCOUNT);
    * after an account word: the first number of 6 to 30 digits (0.8).
    """

    name: str = "payment.bank_account"
    entity_types: frozenset[str] = frozenset({"BANK_ACCOUNT"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for kw in ACCOUNT_CONTEXT.finditer(text):
            tok = value_after(text, kw.end(), max_gap=24, max_words=3)
            if tok is None or not _digits_only(tok.text):
                continue
            digits = "".join(ch for ch in tok.text if ch.isdigit())
            if ROUTING_CONTEXT.fullmatch(kw.group()):
                if len(digits) == 9 and aba_valid(digits):
                    found.append(Span(tok.start, tok.end, "BANK_ACCOUNT", 0.95, self.name))
                continue
            if BANK_CARD_CONTEXT.search(kw.group()) and 16 <= len(digits) <= 19 and luhn(digits):
                found.append(Span(tok.start, tok.end, "BANK_ACCOUNT", 0.97, self.name))
                continue
            if 6 <= len(digits) <= 30 and not is_amount(text, tok.start, tok.end):
                found.append(Span(tok.start, tok.end, "BANK_ACCOUNT", 0.8, self.name))
        return tuple(found)


_ACCOUNT_SHAPE = re.compile(r"[0-9][0-9 ./-]*(?:-[0-9Xx])?")


def _digits_only(value: str) -> bool:
    """Digits with separators, and at most a check character after a dash ("12345-X").

    An account number, not an IBAN or an alphanumeric code.
    """
    return _ACCOUNT_SHAPE.fullmatch(value) is not None


def detectors() -> tuple[Detector, ...]:
    return (
        CardDetector(),
        CardExtrasDetector(),
        IbanDetector(),
        SwiftBicDetector(),
        BankAccountDetector(),
    )

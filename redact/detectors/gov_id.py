"""Government and tax identifiers, and dates of birth.

Scores (resolution keeps the highest on overlap):

* 0.95 checksummed IDs that need no context (Chinese resident ID with mod 11-2 and a
  real birth date, punctuated CPF/CNPJ, VAT numbers that pass their country check,
  Chinese credit codes, Italian codici fiscali), and any validated ID after its own
  keyword (an SSN after "SSN", a CPF after "CPF", a NINO after "national insurance");
* 0.9  a UK NINO in capitals without a keyword;
* 0.85 passport and driver-licence numbers after their keyword, VAT-shaped numbers and
  EINs after a tax word, dates after a birth word;
* 0.8  a dashed SSN in valid ranges without an SSN word, any other value after a tax word;
* 0.75 a value after a generic identity word ("my ID"), a bare CPF/CNPJ without context.

Values found by structure alone are vetoed when the nearest context word before them
is a business-fact word ("order", "invoice", "tracking", "SKU"...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from redact.checksums import (
    cn_resident_id_valid,
    cn_uscc_valid,
    cnpj_valid,
    cpf_valid,
    eu_vat_valid,
    it_codice_fiscale_valid,
    plausible_date,
    uk_nino_valid,
    us_ein_valid,
    us_ssn_valid,
)
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
    value_after,
    value_before,
    windows,
)
from redact.span import Span

SSN_CONTEXT = keywords(
    r"ssn#?",
    r"ss#",
    r"social\s+security(?:\s+(?:number|no|#))?",
    r"soc\.?\s*sec\.?",
    r"n[uú]mero\s+de\s+seguro\s+social",
    r"seguro\s+social",
    r"社会安全号码?",
    r"社会保障号码?",
    r"社保号",
)
_SSN_DASHED = re.compile(r"(?<![0-9A-Za-z\-./])\d{3}-\d{2}-\d{4}(?![0-9A-Za-z]|[-./]\d)")


@dataclass(frozen=True, slots=True)
class UsSsnDetector:
    """US SSNs in valid ranges: dashed anywhere, any grouping after an SSN word."""

    name: str = "gov_id.us_ssn"
    entity_types: frozenset[str] = frozenset({"US_SSN"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for kw in SSN_CONTEXT.finditer(text):
            tok = value_after(text, kw.end(), max_gap=24, max_words=3) or value_before(
                text, kw.start()
            )
            if tok is not None and _digits(tok.text) == alnum(tok.text) and us_ssn_valid(tok.text):
                found.append(Span(tok.start, tok.end, "US_SSN", 0.95, self.name))
        for m in _SSN_DASHED.finditer(text):
            if not us_ssn_valid(m.group()):
                continue
            context = nearest_context(text, m.start(), SSN_CONTEXT, NEGATIVE)
            if context is False:
                continue
            found.append(Span(m.start(), m.end(), "US_SSN", 0.95 if context else 0.8, self.name))
        return tuple(found)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if "0" <= ch <= "9")


CN_ID_CONTEXT = keywords(
    r"身份证(?:号码?)?",
    r"公民身份号码",
    r"身份号码",
    r"证件号码?",
    r"resident\s+id",
    r"id\s+card",
    r"national\s+id",
    r"chinese\s+id",
    r"id\s+(?:no|number)",
)


@dataclass(frozen=True, slots=True)
class CnResidentIdDetector:
    """Chinese resident IDs: 18 characters, province, real birth date, mod 11-2 check."""

    name: str = "gov_id.cn_resident_id"
    entity_types: frozenset[str] = frozenset({"CN_RESIDENT_ID"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for run in digit_runs(text, min_chars=18):
            if sum(len(g.chars) for g in run) < 18:
                continue
            for cand in windows(run, 18, 18, lambda c: self._accept(c, text)):
                found.append(Span(cand.start, cand.end, "CN_RESIDENT_ID", 0.95, self.name))
        return tuple(found)

    @staticmethod
    def _accept(cand: Candidate, text: str) -> bool:
        return cn_resident_id_valid(cand.chars) and (
            nearest_context(text, cand.start, CN_ID_CONTEXT, NEGATIVE) is not False
        )


def _checked(valid: Callable[[str], bool], cand: Candidate) -> bool:
    return cand.chars.isdigit() and valid(cand.chars)


CPF_CONTEXT = keywords(r"cpf", r"cadastro\s+de\s+pessoas?\s+f[ií]sicas?", r"cpf/mf")
CNPJ_CONTEXT = keywords(r"cnpj", r"cadastro\s+nacional\s+da\s+pessoa\s+jur[ií]dica", r"cnpj/mf")
_CPF_PRINTED = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_CNPJ_PRINTED = re.compile(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}")


@dataclass(frozen=True, slots=True)
class BrazilDetector:
    """CPF (11 digits) and CNPJ (14 digits) with their mod-11 check digits.

    Printed in the official punctuation, or after their acronym, they score 0.95; bare
    digit strings that pass the check score 0.75 (a phone or order number passes one
    time in a hundred) and are vetoed by business-fact words.
    """

    name: str = "gov_id.brazil"
    entity_types: frozenset[str] = frozenset({"BR_CPF", "BR_CNPJ"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for run in digit_runs(text, min_chars=11):
            total = sum(len(g.chars) for g in run)
            if total < 11:
                continue
            for kind, size, valid, printed, context in (
                ("BR_CNPJ", 14, cnpj_valid, _CNPJ_PRINTED, CNPJ_CONTEXT),
                ("BR_CPF", 11, cpf_valid, _CPF_PRINTED, CPF_CONTEXT),
            ):
                if total < size:
                    continue
                for cand in windows(run, size, size, partial(_checked, valid)):
                    near = nearest_context(text, cand.start, context, NEGATIVE)
                    if printed.fullmatch(text, cand.start, cand.end) or near is True:
                        score = 0.95
                    elif near is None:
                        score = 0.75
                    else:
                        continue
                    found.append(Span(cand.start, cand.end, kind, score, self.name))
        return tuple(found)


NINO_CONTEXT = keywords(
    r"national\s+insurance(?:\s+(?:number|no|#))?",
    r"nino",
    r"ni\s+(?:number|no)",
    r"nin",
)
# Separators may fall between any two characters ("QQ 12 34 56 C", "QQ12.3456.C",
# "Q Q 1 2 ..."); dotted or slashed forms need a keyword (they look like codes too).
_NINO = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z][ ]?[A-Za-z](?:[ .\-/]?\d){6}[ .\-/]?[A-Da-d](?![0-9A-Za-z])"
)
_NINO_CODE_SEPARATORS = re.compile(r"[./]")


@dataclass(frozen=True, slots=True)
class UkNinoDetector:
    """UK National Insurance numbers: valid prefix letters, six digits, suffix A-D."""

    name: str = "gov_id.uk_nino"
    entity_types: frozenset[str] = frozenset({"UK_NINO"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for m in _NINO.finditer(text):
            if not uk_nino_valid(m.group()):
                continue
            context = nearest_context(text, m.start(), NINO_CONTEXT, NEGATIVE, window=48)
            if context is False or (context is None and not m.group().isupper()):
                continue
            if context is None and _NINO_CODE_SEPARATORS.search(m.group()) is not None:
                continue
            found.append(Span(m.start(), m.end(), "UK_NINO", 0.95 if context else 0.9, self.name))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class KeywordIdDetector:
    """An identifier of free format (passport, licence, tax ID) found after its keyword.

    The value is the first token holding a digit within a few words of the keyword, of
    ``min_len``..``max_len`` letters and digits, at least ``min_digits`` of them digits.
    A business-fact word just before the keyword ("order ID") vetoes it.
    """

    name: str
    entity_type: str
    context: re.Pattern[str]
    score: float
    min_len: int = 5
    max_len: int = 20
    min_digits: int = 1
    max_words: int = 4
    veto_before: re.Pattern[str] | None = None
    entity_types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_types", frozenset({self.entity_type}))

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for kw in self.context.finditer(text):
            if NEGATIVE.search(text, max(0, kw.start() - 12), kw.start()):
                continue
            if self.veto_before is not None and self.veto_before.search(
                text, max(0, kw.start() - 16), kw.start()
            ):
                continue
            tok = value_after(text, kw.end(), max_gap=40, max_words=self.max_words)
            if tok is None:
                tok = value_before(text, kw.start())
            if tok is None:
                continue
            chars = alnum(tok.text)
            if not self.min_len <= len(chars) <= self.max_len:
                continue
            if sum(map(str.isdigit, chars)) < self.min_digits or _looks_like_date(tok.text):
                continue
            if is_amount(text, tok.start, tok.end):
                continue
            found.append(Span(tok.start, tok.end, self.entity_type, self.score, self.name))
        return tuple(found)


_DATE_SHAPE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def _looks_like_date(value: str) -> bool:
    return _DATE_SHAPE.fullmatch(value) is not None and len(_digits(value)) <= 8


PASSPORT_CONTEXT = keywords(
    r"passport(?:\s*(?:no|nr|num|number|#|id))?",
    r"passports",
    r"passeport",
    r"travel\s+document",
    r"护照(?:号码|号)?",
    r"passaporte",
    r"pasaporte",
    r"n[uú]mero\s+d[eo]l?\s+pas{1,2}aporte",
    r"reisepass(?:nummer)?",
    r"passnummer",
    r"pass-?nr",
    r"pass\s+no",
    r"num[ée]ro\s+de\s+passeport",
    r"港澳通行证(?:号码?)?",
    r"台胞证(?:号码?)?",
    r"通行证号码?",
)
GENERIC_ID_CONTEXT = keywords(
    r"(?:my|your|his|her|the|an?)\s+ID",
    r"ID\s*(?:no|nr|number|#|card)",
    r"identity\s+(?:card|document|number)",
    r"identification\s+(?:number|no)",
    r"证件号码?",
    r"documento(?:\s+de\s+identi(?:dade|dad))?",
    r"(?-i:DNI)",
    r"(?-i:RG)",
    r"c[eé]dula(?:\s+de\s+identidad)?",
    r"personalausweis(?:nummer)?",
    r"ausweisnummer",
    r"ausweis",
    r"national\s+id(?:entity)?(?:\s+(?:card|no|number|document))?",
    r"id\s+document",
    r"carteira\s+de\s+identidade",
    r"documento\s+nacional\s+de\s+identidad",
    r"carte\s+d'identit[ée]",
    r"身份证件号码?",
)
LICENSE_CONTEXT = keywords(
    r"driver'?s?\s+licen[cs]e(?:\s*(?:no|number|#))?",
    r"driving\s+licen[cs]e(?:\s*(?:no|number|#))?",
    r"driver\s+license",
    r"licen[cs]e\s+(?:no|number|#)",
    r"(?-i:DL)\s*(?:no\.?|#|number|:)",  # "DL" alone is also a deadline
    r"驾照(?:号码?)?",
    r"驾驶证(?:号码?)?",
    r"驾驶执照(?:号码?)?",
    r"cnh",
    r"carteira\s+de\s+(?:motorista|habilita[cç][aã]o)",
    r"carta\s+de\s+condu[cç][aã]o",
    r"licencia\s+de\s+(?:conducir|manejo|conducci[oó]n)",
    r"permiso\s+de\s+conducir",
    r"carn[eé]\s+de\s+conducir",
    r"f[uü]hrerschein(?:nummer)?",
    r"fahrerlaubnis",
    r"permis\s+de\s+conduire",
    r"patente(?:\s+di\s+guida)?",
)
# "business licence number" is a company registration, not a driver licence.
NOT_DRIVING = keywords(
    r"business",
    r"trade",
    r"export",
    r"import",
    r"operating",
    r"software",
    r"product",
    r"import/export",
    r"营业",
    r"经营",
    r"进出口",
)
TAX_CONTEXT = keywords(
    r"tax\s*(?:id|no|number|#|code|registration(?:\s+(?:no|number))?|identification\s+number)",
    r"(?-i:TIN)",  # upper case only: tin is also a metal
    r"vat(?:\s*(?:id|no|number|#|reg(?:istration)?(?:\s+(?:no|number))?))?",
    r"(?-i:EIN)",  # upper case only: "ein" is a German word
    r"fein",
    r"employer\s+identification\s+number",
    r"itin",
    r"税号",
    r"纳税人识别号",
    r"统一社会信用代码",
    r"税务登记号",
    r"ust-?id(?:nr)?",
    r"umsatzsteuer-?id(?:entifikationsnummer)?",
    r"steuernummer",
    r"steuer-?id",
    r"steuer-?nr",
    r"nif",
    r"(?-i:NIE)",
    r"p\.?\s?iva",
    r"partita\s+iva",
    r"n°\s*tva",
    r"tva",
    r"btw",
    r"(?-i:RFC)",
    r"cuit",
    r"(?-i:RUC)",
    r"(?-i:NIT)",
    r"(?-i:ABN)",
    r"gstin",
    r"inscri[cç][aã]o\s+estadual",
    r"n[uú]mero\s+de\s+identifica[cç][aã]o\s+fiscal",
    r"identificaci[oó]n\s+fiscal",
    r"num[ée]ro\s+fiscal",
    r"codice\s+fiscale",
    r"gst(?:in)?(?:\s*(?:no|number|#))?",
    r"siret",
    r"siren",
)

_VAT_COUNTRIES = (
    "ATU|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GB|XI|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|CHE"
)
_VAT = re.compile(
    rf"(?<![0-9A-Za-z])(?:{_VAT_COUNTRIES})[ .-]?[0-9A-Z](?:[ .-]?[0-9A-Z]){{7,13}}(?![0-9A-Za-z])"
)
# Chinese unified social credit code and Italian codice fiscale: checksummed, so found
# without context.
_USCC = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Za-z])"
)
_CODICE_FISCALE = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z](?![0-9A-Za-z])"
)
_EIN = re.compile(r"(?<![0-9A-Za-z\-./])\d{2}-\d{7}(?![0-9A-Za-z]|[-./]\d)")


_SSN_SHAPED = re.compile(r"(?<![0-9A-Za-z\-./])\d{3}[- ]\d{2}[- ]\d{4}(?![0-9A-Za-z]|[-./]\d)")


def _itin_valid(value: str) -> bool:
    digits = _digits(value)
    group = int(digits[3:5])
    return digits[0] == "9" and (
        50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99
    )


@dataclass(frozen=True, slots=True)
class VatEinDetector:
    """Checksummed tax IDs (EU/UK VAT, Chinese credit codes, codici fiscali), ITINs, EINs.

    A VAT number that passes its country's check needs no context; one that only has the
    VAT shape (country code + 8-12 characters, mostly digits) needs a tax word before it.
    ITINs (area 9xx, reserved groups) need none when dashed; EINs always need a tax word.
    """

    name: str = "gov_id.vat_ein"
    entity_types: frozenset[str] = frozenset({"TAX_ID"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for m in _VAT.finditer(text):
            value = m.group()
            if sum(map(str.isdigit, value)) < 7:
                continue
            context = nearest_context(text, m.start(), TAX_CONTEXT, NEGATIVE)
            if context is False:
                continue
            if eu_vat_valid(value):
                found.append(Span(m.start(), m.end(), "TAX_ID", 0.95, self.name))
            elif context:
                found.append(Span(m.start(), m.end(), "TAX_ID", 0.85, self.name))
        for pattern, valid in ((_USCC, cn_uscc_valid), (_CODICE_FISCALE, it_codice_fiscale_valid)):
            for m in pattern.finditer(text):
                if not valid(m.group()):
                    continue
                context = nearest_context(text, m.start(), TAX_CONTEXT, NEGATIVE)
                # An all-digit credit code is one 18-digit number in 31: it needs a tax word.
                if context is False or (context is None and m.group().isdigit()):
                    continue
                found.append(Span(m.start(), m.end(), "TAX_ID", 0.95, self.name))
        for m in _SSN_SHAPED.finditer(text):
            # ITINs: area 9xx with groups 50-65, 70-88, 90-92, 94-99 (never valid SSNs).
            if not _itin_valid(m.group()):
                continue
            context = nearest_context(text, m.start(), TAX_CONTEXT, NEGATIVE)
            if context is False or (context is None and " " in m.group()):
                continue  # spaced groups without a tax word may be anything
            found.append(Span(m.start(), m.end(), "TAX_ID", 0.8, self.name))
        for m in _EIN.finditer(text):
            if us_ein_valid(m.group()) and nearest_context(text, m.start(), TAX_CONTEXT, NEGATIVE):
                found.append(Span(m.start(), m.end(), "TAX_ID", 0.85, self.name))
        return tuple(found)


DOB_CONTEXT = keywords(
    r"dob",
    r"d\.o\.b\.?",
    r"date\s+of\s+birth",
    r"birth\s*date",
    r"birthday",
    r"born(?:\s+on)?",
    r"出生日期",
    r"出生年月日?",
    r"生日",
    r"出生于?",
    r"data\s+de\s+nascimento",
    r"nascid[oa]\s+em",
    r"nascimento",
    r"fecha\s+de\s+nacimiento",
    r"nacid[oa]\s+el",
    r"nacimiento",
    r"geburtsdatum",
    r"geb\.",
    r"geboren(?:\s+am)?",
    r"date\s+de\s+naissance",
    r"n[ée]e?\s+le",
    r"nasci\s+em",
    r"nac[ií]\s+el",
    r"fecha\s+de\s+nac\.?",
    r"birth",
    r"date\s+de\s+naissance",
    r"data\s+di\s+nascita",
    r"nato\s+il",
    r"nata\s+il",
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
    r"janeiro|fevereiro|mar[cç]o|abril|maio|junho|julho|agosto|setembro|outubro|novembro|"
    r"dezembro|enero|febrero|marzo|mayo|junio|julio|septiembre|octubre|noviembre|diciembre|"
    r"januar|februar|m[aä]rz|juni|juli|oktober|dezember|"
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|d[ée]cembre|"
    r"gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre"
)
_DOB_VALUE = re.compile(
    r"(?P<dmy>(?P<d1>\d{1,2})\s?[./-]\s?(?P<m1>\d{1,2})\s?[./-]\s?(?P<y1>\d{4}|\d{2}))(?![0-9])"
    r"|(?P<ymd>(?P<y2>\d{4})\s?[./-]\s?(?P<m2>\d{1,2})\s?[./-]\s?(?P<d2>\d{1,2}))(?![0-9])"
    r"|(?P<cjk>\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日?)"
    rf"|(?P<dmonth>\d{{1,2}}(?:st|nd|rd|th|º|\.)?\s+(?:of\s+|de\s+)?(?:{_MONTHS})\.?,?\s+(?:de\s+)?\d{{4}})"
    rf"|(?P<monthd>(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
    r"|(?P<year>19\d{2}|20[01]\d)(?![0-9./\-])",
    re.IGNORECASE,
)
# Between the keyword and the date: a few words ("born in Porto on"), no digits, no
# sentence break.
_DOB_GAP = re.compile(r"[^\d\n.;!?。；！？]{0,40}")
_GAP_WORDS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class DateOfBirthDetector:
    """Dates introduced as a date of birth, in the date formats of five languages."""

    name: str = "gov_id.date_of_birth"
    entity_types: frozenset[str] = frozenset({"DATE_OF_BIRTH"})

    def detect(self, text: str) -> tuple[Span, ...]:
        if not has_digit(text):
            return ()
        text = fold_separators(text)
        found: list[Span] = []
        for kw in DOB_CONTEXT.finditer(text):
            gap = _DOB_GAP.match(text, kw.end())
            limit = gap.end() if gap else kw.end()
            if limit < len(text) and text[limit] == ".":
                limit = min(len(text), limit + 2)  # "geb. 07.03.1985", "b. 1985"
            m = _DOB_VALUE.search(text, kw.end(), min(len(text), limit + 24))
            if m is None or m.start() > limit or not _real_date(m):
                continue
            words = len(_GAP_WORDS.findall(text, kw.end(), m.start()))
            if words > 5 or (m.group("year") and words > 2):
                continue  # a bare year must sit right after its keyword
            found.append(Span(m.start(), m.end(), "DATE_OF_BIRTH", 0.85, self.name))
        return tuple(found)


def _real_date(m: re.Match[str]) -> bool:
    """Numeric dates must be real calendar dates (day-first or month-first)."""
    if m.group("dmy"):
        a, b, y = int(m.group("d1")), int(m.group("m1")), int(m.group("y1"))
        year = y if y > 99 else 1900 + y
        return plausible_date(year, b, a) or plausible_date(year, a, b)
    if m.group("ymd"):
        return plausible_date(int(m.group("y2")), int(m.group("m2")), int(m.group("d2")))
    return True


def detectors() -> tuple[Detector, ...]:
    return (
        UsSsnDetector(),
        CnResidentIdDetector(),
        BrazilDetector(),
        UkNinoDetector(),
        VatEinDetector(),
        DateOfBirthDetector(),
        KeywordIdDetector(
            "gov_id.passport", "PASSPORT", PASSPORT_CONTEXT, 0.85, min_len=6, max_len=14
        ),
        KeywordIdDetector(
            "gov_id.generic_id", "PASSPORT", GENERIC_ID_CONTEXT, 0.75, min_len=6, max_len=14
        ),
        KeywordIdDetector(
            "gov_id.driver_license",
            "DRIVER_LICENSE",
            LICENSE_CONTEXT,
            0.85,
            min_digits=3,
            veto_before=NOT_DRIVING,
        ),
        KeywordIdDetector("gov_id.tax_id", "TAX_ID", TAX_CONTEXT, 0.8, min_len=6, min_digits=6),
    )

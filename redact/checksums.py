"""Checksums and structural checks of payment and identity numbers.

Every function here is pure and total: it takes the candidate as detected (already
normalised: ASCII digits, no zero-width characters) and answers ``True`` or ``False``;
it never raises on malformed input. Separators (spaces, dashes, dots, slashes) are
ignored where the number is commonly printed with them.

Hand-written where python-stdnum is slower or stricter than real data warrants:

* IBAN: stdnum also runs national BBAN checks for some countries, which reject numbers
  banks print every day when the national key is absent from the registry data; the
  registry lengths plus ISO 7064 mod 97-10 are what identifies an IBAN.
* Chinese resident ID: stdnum rejects numbers whose region code is missing from its
  (dated) administrative-division list; new and merged counties are common in practice.

stdnum is used for the BIC country list and EU VAT numbers, whose per-country rules are
long and maintained upstream.
"""

from __future__ import annotations

import datetime as _dt
import re

from stdnum import bic as _bic
from stdnum.cn import uscc as _cn_uscc
from stdnum.eu import vat as _eu_vat
from stdnum.gb import vat as _gb_vat
from stdnum.it import codicefiscale as _it_cf

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NOT_DIGIT = re.compile(r"[^0-9]")


def _digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards; ``digits`` holds only ASCII digits."""
    if not digits or not digits.isdigit() or not digits.isascii():
        return False
    total = sum(map(int, digits[-1::-2])) + sum(_LUHN_DOUBLE[int(c)] for c in digits[-2::-2])
    return total % 10 == 0


# Card schemes: (IIN prefix ranges, allowed lengths). Ranges are inclusive and compared
# on the leading digits of the same width as the bounds.
_CARD_SCHEMES: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    (
        "discover",
        ((6011, 6011), (644, 649), (65, 65), (622126, 622925)),
        frozenset({16, 17, 18, 19}),
    ),
    ("jcb", ((3528, 3589),), frozenset({16, 17, 18, 19})),
    ("unionpay", ((62, 62), (81, 81)), frozenset({16, 17, 18, 19})),
    ("diners", ((300, 305), (36, 36), (38, 39), (3095, 3095)), frozenset({14, 15, 16, 17, 18, 19})),
    (
        "maestro",
        (
            (5018, 5018),
            (5020, 5020),
            (5038, 5038),
            (5893, 5893),
            (6304, 6304),
            (6759, 6759),
            (6761, 6763),
            (56, 58),
            (639, 639),
            (67, 67),
        ),
        frozenset(range(12, 20)),
    ),
    ("mir", ((2200, 2204),), frozenset({16, 17, 18, 19})),
    ("rupay", ((60, 60), (508, 508), (652, 653)), frozenset({16})),
    ("troy", ((9792, 9792),), frozenset({16})),
    ("jcb15", ((1800, 1800), (2131, 2131)), frozenset({15})),
)


def card_scheme(digits: str) -> str | None:
    """The card scheme whose IIN range and length fit ``digits``, or ``None``."""
    n = len(digits)
    if not (digits.isascii() and digits.isdigit()):
        return None
    for name, ranges, lengths in _CARD_SCHEMES:
        if n not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return name
    return None


def card_valid(digits: str) -> bool:
    """A card number of a known scheme (IIN range and length) that passes Luhn."""
    return 12 <= len(digits) <= 19 and card_scheme(digits) is not None and luhn(digits)


# IBAN lengths per country, from the SWIFT IBAN registry (release 101), plus the
# national IBANs of the African and Middle-East banks that print them (marked "ext").
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HN": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
    # ext: national IBANs outside the registry.
    "AO": 25,
    "BF": 28,
    "BJ": 28,
    "CI": 28,
    "CM": 27,
    "CV": 25,
    "DZ": 26,
    "IR": 26,
    "MG": 27,
    "ML": 28,
    "MZ": 25,
    "SN": 28,
}


def iban_valid(value: str) -> bool:
    """Country length and ISO 7064 mod 97-10 check of an IBAN (any case, any grouping)."""
    iban = _NOT_ALNUM.sub("", value).upper()
    if len(iban) < 15 or not iban.isascii():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    # Letters become two digits (A=10 ... Z=35); int() of the whole string is fast.
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def aba_valid(value: str) -> bool:
    """The ABA routing transit number check (weights 3, 7, 1) with a valid Fed prefix."""
    d = _digits(value)
    if len(d) != 9:
        return False
    prefix = int(d[:2])
    # 00 (government), 01-12 (Fed districts), 21-32 (thrifts), 61-72 (electronic), 80.
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(c) * w for c, w in zip(d, weights, strict=True)) % 10 == 0


def swift_bic_valid(value: str) -> bool:
    """ISO 9362 structure: 4 letters, an ISO 3166 country, 2 alnum, optional 3 alnum."""
    code = value.replace(" ", "").upper()
    return code.isascii() and code[:4].isalpha() and _bic.is_valid(code)


def _mod11_cpf_digit(digits: str, first_weight: int) -> int:
    total = sum(int(c) * w for c, w in zip(digits, range(first_weight, 1, -1), strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def cpf_valid(value: str) -> bool:
    """Brazilian CPF: 11 digits, two mod-11 check digits, not one repeated digit."""
    d = _digits(value)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    return _mod11_cpf_digit(d[:9], 10) == int(d[9]) and _mod11_cpf_digit(d[:10], 11) == int(d[10])


_CNPJ_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def cnpj_valid(value: str) -> bool:
    """Brazilian CNPJ: 14 digits, two mod-11 check digits, not one repeated digit."""
    d = _digits(value)
    if len(d) != 14 or len(set(d)) == 1:
        return False
    for weights, pos in ((_CNPJ_W1, 12), (_CNPJ_W2, 13)):
        rest = sum(int(c) * w for c, w in zip(d, weights, strict=False)) % 11
        if (0 if rest < 2 else 11 - rest) != int(d[pos]):
            return False
    return True


# First two digits of a resident ID: the province-level division (GB/T 2260).
_CN_PROVINCES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
        91,
    }
)
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


def cn_resident_id_valid(value: str) -> bool:
    """Chinese resident ID (GB 11643): 18 chars, province, real birth date, mod 11-2 (X = 10)."""
    v = _NOT_ALNUM.sub("", value).upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    if int(v[:2]) not in _CN_PROVINCES:
        return False
    year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
    if not 1900 <= year <= 2099 or not _valid_date(year, month, day):
        return False
    total = sum(int(c) * w for c, w in zip(v[:17], _CN_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == v[17]


def us_ssn_valid(value: str) -> bool:
    """US SSN ranges: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    d = _digits(value)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_NINO_RE = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino_valid(value: str) -> bool:
    """UK National Insurance number: allowed prefix letters, 6 digits, suffix A-D."""
    v = _NOT_ALNUM.sub("", value).upper()
    return _NINO_RE.fullmatch(v) is not None and v[:2] not in _NINO_BAD_PREFIXES


def eu_vat_valid(value: str) -> bool:
    """An EU (or UK) VAT number that passes its country's check (python-stdnum)."""
    v = _NOT_ALNUM.sub("", value).upper()
    if len(v) < 4:
        return False
    if v.startswith(("GB", "XI")):
        return bool(_gb_vat.is_valid(v))
    return bool(_eu_vat.is_valid(v))


def cn_uscc_valid(value: str) -> bool:
    """Chinese unified social credit code (18 characters, GB 32100 check; python-stdnum)."""
    v = _NOT_ALNUM.sub("", value).upper()
    return len(v) == 18 and bool(_cn_uscc.is_valid(v))


def it_codice_fiscale_valid(value: str) -> bool:
    """Italian codice fiscale of a person (16 characters, check letter; python-stdnum)."""
    v = _NOT_ALNUM.sub("", value).upper()
    return len(v) == 16 and bool(_it_cf.is_valid(v))


# EIN prefixes the IRS has assigned (campus codes); 00, 07-09, 17-19, 28, 29, 49, 69,
# 70, 78, 79 and 89 are not used.
_EIN_UNUSED = frozenset({0, 7, 8, 9, 17, 18, 19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97})


def us_ein_valid(value: str) -> bool:
    """US employer identification number: 9 digits with an assigned two-digit prefix."""
    d = _digits(value)
    return len(d) == 9 and int(d[:2]) not in _EIN_UNUSED


def plausible_date(year: int, month: int, day: int) -> bool:
    """A real calendar date between 1900 and 2100."""
    return 1900 <= year <= 2100 and _valid_date(year, month, day)

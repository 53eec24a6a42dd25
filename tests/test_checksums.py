"""Checksums and structural checks of payment and identity numbers (redact.checksums).

Every value here is either a published specimen (the ISO 13616 / SWIFT examples, the
GB 11643 sample ID) or made up for this file with its check digits computed; none comes
from an evaluation corpus.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redact import checksums as c

Check = Callable[[str], bool]

TABLE: list[tuple[Check, str, bool]] = [
    # --- Luhn ---
    (c.luhn, "4111111111111111", True),  # the classic Visa test number
    (c.luhn, "4111111111111112", False),  # last digit changed
    (c.luhn, "", False),  # empty input is not a number
    (c.luhn, "4111 1111", False),  # separators are the caller's business
    (c.luhn, "０", False),  # non-ASCII digits are never valid (text is normalised first)
    # --- card: scheme + length + Luhn ---
    (c.card_valid, "4526018159083012", True),  # Visa 16
    (c.card_valid, "4661318609139099600", True),  # Visa 19
    (c.card_valid, "5182199351819098", True),  # Mastercard 51-55
    (c.card_valid, "2223378657975436", True),  # Mastercard 2-series
    (c.card_valid, "372319487574919", True),  # Amex 15
    (c.card_valid, "6011186252760187", True),  # Discover
    (c.card_valid, "3530955597971140", True),  # JCB
    (c.card_valid, "6291703423667127685", True),  # UnionPay 19
    (c.card_valid, "6759426846563218", True),  # Maestro
    (c.card_valid, "36244026859951", True),  # Diners 14
    (c.card_valid, "9666176031372158", False),  # passes Luhn, but no scheme starts with 9
    (c.card_valid, "452601815908301", False),  # Visa prefix with a length Visa never uses
    (c.card_valid, "4526018159083013", False),  # Visa shape, bad check digit
    # --- IBAN ---
    (c.iban_valid, "GB29NWBK60161331926819", True),  # registry example, compact
    (c.iban_valid, "GB29 NWBK 6016 1331 9268 19", True),  # printed in groups of four
    (c.iban_valid, "gb29nwbk60161331926819", True),  # lower case
    (c.iban_valid, "DE44500105175407324931", True),  # Germany, 22
    (c.iban_valid, "NO9386011117947", True),  # Norway, the shortest (15)
    (c.iban_valid, "MT84MALT011000012345MTLCAST001S", True),  # Malta, 31, letters in the BBAN
    (c.iban_valid, "BR9700360305000010009795493P1", True),  # Brazil, trailing letters
    (c.iban_valid, "GB29NWBK60161331926818", False),  # one digit off: mod 97 fails
    (c.iban_valid, "GB29NWBK6016133192681", False),  # one character short for GB
    (c.iban_valid, "ZZ29NWBK60161331926819", False),  # not an IBAN country
    # --- ABA routing ---
    (c.aba_valid, "021000021", True),  # a published routing number
    (c.aba_valid, "122000661", True),  # made up, check digit computed
    (c.aba_valid, "021000022", False),  # bad check digit
    (c.aba_valid, "991000028", False),  # weights pass but 99 is no Federal Reserve prefix
    # --- SWIFT/BIC ---
    (c.swift_bic_valid, "DEUTDEFF", True),  # 8 characters
    (c.swift_bic_valid, "COBADEFFXXX", True),  # 11 characters with branch
    (c.swift_bic_valid, "deutdeff", True),  # case does not matter
    (c.swift_bic_valid, "DEUTXXFF", False),  # XX is not an ISO country
    (c.swift_bic_valid, "DEU1DEFF", False),  # bank code must be letters
    # --- Brazil ---
    (c.cpf_valid, "526.018.159-06", True),  # punctuated CPF
    (c.cpf_valid, "52601815906", True),  # bare CPF
    (c.cpf_valid, "52601815907", False),  # second check digit wrong
    (c.cpf_valid, "11111111111", False),  # repeated digit passes the arithmetic, never issued
    (c.cnpj_valid, "18.609.139/0001-00", True),  # punctuated CNPJ
    (c.cnpj_valid, "09960308000153", True),  # bare CNPJ
    (c.cnpj_valid, "18.609.139/0001-01", False),  # check digit wrong
    # --- Chinese resident ID ---
    (c.cn_resident_id_valid, "11010519491231002X", True),  # GB 11643 sample, X check
    (c.cn_resident_id_valid, "11010519491231002x", True),  # lower-case x
    (c.cn_resident_id_valid, "510104200002294565", True),  # born on a leap day
    (c.cn_resident_id_valid, "110105194912310021", False),  # check character wrong
    (c.cn_resident_id_valid, "510104200102294563", False),  # 29 Feb 2001 does not exist
    (c.cn_resident_id_valid, "990105194912310028", False),  # 99 is no province
    # --- US SSN ranges ---
    (c.us_ssn_valid, "078-05-1120", True),  # valid area, group and serial
    (c.us_ssn_valid, "000-12-3456", False),  # area 000
    (c.us_ssn_valid, "666-12-3456", False),  # area 666
    (c.us_ssn_valid, "912-12-3456", False),  # area 9xx (ITIN range)
    (c.us_ssn_valid, "123-00-4567", False),  # group 00
    (c.us_ssn_valid, "123-45-0000", False),  # serial 0000
    # --- UK NINO ---
    (c.uk_nino_valid, "AB123456C", True),  # compact
    (c.uk_nino_valid, "ab 12 34 56 c", True),  # spaced, lower case
    (c.uk_nino_valid, "QQ123456C", False),  # Q is never a first letter (HMRC's specimen)
    (c.uk_nino_valid, "GB123456A", False),  # GB is a reserved prefix
    (c.uk_nino_valid, "AB123456E", False),  # suffix beyond D
    # --- VAT / EIN ---
    (c.eu_vat_valid, "DE736343332", True),  # German VAT, check digit computed
    (c.eu_vat_valid, "DE736343333", False),  # German VAT, check digit wrong
    (c.eu_vat_valid, "GB980780684", True),  # UK VAT, mod 97 rule
    (c.cn_uscc_valid, "91350100M000100Y43", True),  # unified social credit code (stdnum example)
    (c.cn_uscc_valid, "91350100M000100Y44", False),  # check character wrong
    (c.it_codice_fiscale_valid, "RCCMNL83S18D969H", True),  # codice fiscale (stdnum example)
    (c.it_codice_fiscale_valid, "RCCMNL83S18D969J", False),  # check letter wrong
    (c.us_ein_valid, "12-3456789", True),  # assigned prefix
    (c.us_ein_valid, "07-3456789", False),  # prefix 07 is never assigned
]


@pytest.mark.parametrize(("check", "value", "expected"), TABLE)
def test_checksum_table(check: Check, value: str, expected: bool) -> None:
    """Each check accepts its valid rows and rejects the rest."""
    assert check(value) is expected, f"{check.__name__} row"


def test_card_scheme_names_the_scheme() -> None:
    """The scheme lookup uses the IIN range and the length together."""
    assert c.card_scheme("372319487574919") == "amex"
    assert c.card_scheme("2223378657975436") == "mastercard"
    assert c.card_scheme("37231948757491") is None


@given(st.text(max_size=40))
def test_checks_never_raise(value: str) -> None:
    """Every check is total: arbitrary text yields a bool, never an exception."""
    for check in {row[0] for row in TABLE}:
        assert isinstance(check(value), bool)


@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_luhn_agrees_with_stdnum(digits: str) -> None:
    """The hand-written Luhn check agrees with python-stdnum's."""
    from stdnum import luhn as reference

    assert c.luhn(digits) is reference.is_valid(digits)

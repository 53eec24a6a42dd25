"""Government-ID, tax-ID and date-of-birth detectors (redact.detectors.gov_id).

Rows go through the pattern-only Redactor so that disguises are folded by normalisation
first. Every number is made up for this file with its check digits computed (or is a
published specimen); none comes from an evaluation corpus.
"""

from __future__ import annotations

import pytest

from redact import Message, Redactor
from redact.detectors.gov_id import CnResidentIdDetector, UsSsnDetector, detectors

GOV_ID = frozenset(
    {
        "US_SSN",
        "CN_RESIDENT_ID",
        "BR_CPF",
        "BR_CNPJ",
        "UK_NINO",
        "PASSPORT",
        "DRIVER_LICENSE",
        "TAX_ID",
        "DATE_OF_BIRTH",
    }
)
ZW = "\u200b"
NBSP = "\u00a0"


def found(redactor: Redactor, text: str) -> set[tuple[str, str]]:
    """(original substring, type) of every government-ID span the redactor reports."""
    [out] = redactor.redact_batch([Message("t", text)])
    return {(text[s.start : s.end], s.type) for s in out.spans if s.type in GOV_ID}


Rows = list[tuple[str, set[tuple[str, str]]]]

SSN_ROWS: Rows = [
    # valid: dashed, after SSN
    ("SSN 078-05-1120", {("078-05-1120", "US_SSN")}),
    # valid: dashed with no keyword at all (structure + ranges)
    ("my ID for the loan is 078-05-1120", {("078-05-1120", "US_SSN")}),
    # valid: compact after the long keyword
    ("social security number 123456789", {("123456789", "US_SSN")}),
    # valid: spaced groups after the keyword
    ("My SSN is 123 45 6789", {("123 45 6789", "US_SSN")}),
    # disguise: zero-width space inside the dashed form
    (f"SSN 078-05{ZW}-1120", {(f"078-05{ZW}-1120", "US_SSN")}),
    # disguise: full-width digits
    ("SSN ０７８-０５-１１２０", {("０７８-０５-１１２０", "US_SSN")}),
    # disguise: one digit at a time after the keyword
    ("SSN: 1 2 3 4 5 6 7 8 9", {("1 2 3 4 5 6 7 8 9", "US_SSN")}),
    # disguise: en dashes
    ("SSN 078\u201305\u20131120", {("078\u201305\u20131120", "US_SSN")}),
    # the value before its keyword
    ("123456789 is my SSN", {("123456789", "US_SSN")}),
    # invalid range: area 666 is never issued
    ("SSN 666-12-3456", set()),
    # invalid range: group 00
    ("SSN 123-00-4567", set()),
    # missing context: nine bare digits are not an SSN
    ("please ship 123456789", set()),
    # keep: dashed shape after an order word
    ("order no. 123-45-6789", set()),
    # mixed language: Spanish keyword
    ("número de seguro social 078-05-1120", {("078-05-1120", "US_SSN")}),
]


@pytest.mark.parametrize(("text", "expected"), SSN_ROWS)
def test_ssn_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """SSNs in valid ranges are found; invalid ranges and business numbers are not."""
    assert found(pattern_redactor, text) == expected


CN_ROWS: Rows = [
    # valid: the GB 11643 sample with X check, no keyword needed
    ("11010519491231002X", {("11010519491231002X", "CN_RESIDENT_ID")}),
    # valid: after the Chinese keyword, glued to CJK text
    ("身份证号510104200002294565，收货人", {("510104200002294565", "CN_RESIDENT_ID")}),
    # valid: grouped 6-8-4
    ("身份证号码 330106 19851120 7713", {("330106 19851120 7713", "CN_RESIDENT_ID")}),
    # disguise: full-width digits
    (
        "身份证 ３３０１０６１９８５１１２０７７１３",
        {("３３０１０６１９８５１１２０７７１３", "CN_RESIDENT_ID")},
    ),
    # disguise: zero-width space inside
    (f"ID 3301061985{ZW}11207713", {(f"3301061985{ZW}11207713", "CN_RESIDENT_ID")}),
    # bad checksum: last character changed
    ("身份证号 330106198511207714", set()),
    # impossible birth date (29 Feb 2001) with a check digit that would fit
    ("身份证号 510104200102294563", set()),
    # keep: an 18-digit order number that passes the check stays after "order"
    ("order 330106198511207713 shipped", set()),
    # mixed language: English keyword in a Chinese message
    ("my resident ID 是 11010519491231002X", {("11010519491231002X", "CN_RESIDENT_ID")}),
]


@pytest.mark.parametrize(("text", "expected"), CN_ROWS)
def test_cn_resident_id_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """Chinese resident IDs need the mod 11-2 check and a real birth date."""
    assert found(pattern_redactor, text) == expected


BR_ROWS: Rows = [
    # valid CPF in official punctuation
    ("Meu CPF é 526.018.159-06", {("526.018.159-06", "BR_CPF")}),
    # valid CPF, bare digits after the acronym
    ("CPF: 52601815906", {("52601815906", "BR_CPF")}),
    # valid CNPJ in official punctuation
    ("CNPJ 18.609.139/0001-00", {("18.609.139/0001-00", "BR_CNPJ")}),
    # valid CNPJ, bare digits
    ("o CNPJ da empresa 09960308000153", {("09960308000153", "BR_CNPJ")}),
    # both in one message
    (
        "CPF 083.016.613-05 e CNPJ 09.960.308/0001-53",
        {("083.016.613-05", "BR_CPF"), ("09.960.308/0001-53", "BR_CNPJ")},
    ),
    # disguise: full-width digits
    ("CPF ５２６.０１８.１５９-０６", {("５２６.０１８.１５９-０６", "BR_CPF")}),
    # disguise: no-break space inside
    (f"CPF 526.018.159{NBSP}06", {(f"526.018.159{NBSP}06", "BR_CPF")}),
    # bad checksum
    ("CPF 526.018.159-07", set()),
    # repeated digits pass the arithmetic but are never issued
    ("CPF 111.111.111-11", set()),
    # keep: a bare 11-digit number after an order word
    ("pedido 52601815906", set()),
]


@pytest.mark.parametrize(("text", "expected"), BR_ROWS)
def test_brazil_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """CPF and CNPJ are found with or without punctuation when their check digits hold."""
    assert found(pattern_redactor, text) == expected


NINO_ROWS: Rows = [
    # valid: compact capitals, no keyword
    ("NINO AB123456C", {("AB123456C", "UK_NINO")}),
    # valid: spaced in pairs
    ("my national insurance number is AB 12 34 56 C", {("AB 12 34 56 C", "UK_NINO")}),
    # valid: lower case needs the keyword
    ("NI number ab123456c", {("ab123456c", "UK_NINO")}),
    # missing context: lower case alone is too weak
    ("code ab123456c", set()),
    # invalid prefix (Q first) even in capitals
    ("QQ123456C", set()),
    # disguise: full-width digits
    ("NINO AB１２３４５６C", {("AB１２３４５６C", "UK_NINO")}),
    # disguise: dots in odd places, after the keyword
    ("national insurance no. JT48.2291.C", {("JT48.2291.C", "UK_NINO")}),
    # disguise: dashes between every pair and before the suffix
    ("NI number: KR-48-22-91-A", {("KR-48-22-91-A", "UK_NINO")}),
    # missing context: a dotted code without a keyword is a part number
    ("ref KR.48.22.91.A", set()),
]


@pytest.mark.parametrize(("text", "expected"), NINO_ROWS)
def test_nino_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """UK NINOs need valid prefix letters; lower case needs a keyword."""
    assert found(pattern_redactor, text) == expected


DOC_ROWS: Rows = [
    # passport after the English keyword
    ("passport no: X1234567", {("X1234567", "PASSPORT")}),
    # Chinese passport keyword
    ("护照号码 E12345678", {("E12345678", "PASSPORT")}),
    # Portuguese
    ("passaporte FZ123456", {("FZ123456", "PASSPORT")}),
    # Spanish
    ("pasaporte: XDA123456", {("XDA123456", "PASSPORT")}),
    # German
    ("Reisepass C01X00T47", {("C01X00T47", "PASSPORT")}),
    # generic "my ID ... is" phrasing
    ("My ID for the transfer is K7Q2M9X41", {("K7Q2M9X41", "PASSPORT")}),
    # a national ID card number of no known format counts as an identity document
    ("National ID: 12345678", {("12345678", "PASSPORT")}),
    # keep: "DL" alone is a deadline, not a driver licence
    ("DL 20260315 for the sample", set()),
    # the value may come first: "<number> is my driver's license"
    ("5130634 is my driver's license", {("5130634", "DRIVER_LICENSE")}),
    # ... or "<number> is my passport number"
    ("X1234567 is my passport number", {("X1234567", "PASSPORT")}),
    # keep: a number named by a business word just before a passport word
    ("the order 12345678, passport pending", set()),
    # keep: "order ID" is a business number
    ("the order ID 12345678", set()),
    # missing context: a passport-shaped token alone
    ("X1234567", set()),
    # driver licence, English, dashed
    ("driver's license D1234-5678-9012", {("D1234-5678-9012", "DRIVER_LICENSE")}),
    # Chinese driving licence keyword
    ("驾驶证号 A12345678901", {("A12345678901", "DRIVER_LICENSE")}),
    # Brazilian CNH
    ("CNH 12345678900", {("12345678900", "DRIVER_LICENSE")}),
    # Spanish
    ("licencia de conducir 12345678", {("12345678", "DRIVER_LICENSE")}),
    # German
    ("Führerschein B072RRE2I55", {("B072RRE2I55", "DRIVER_LICENSE")}),
    # French
    ("permis de conduire 123456789012", {("123456789012", "DRIVER_LICENSE")}),
    # keep: a business licence number is no driver licence
    ("business license no. 12345678", set()),
    # Chinese travel permit counts as a passport
    ("港澳通行证 C12345678", {("C12345678", "PASSPORT")}),
    # disguise: full-width digits in a licence number
    ("driving licence ５１３０６３４", {("５１３０６３４", "DRIVER_LICENSE")}),
]


@pytest.mark.parametrize(("text", "expected"), DOC_ROWS)
def test_documents_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """Passport and driver-licence numbers are found after their keyword in five languages."""
    assert found(pattern_redactor, text) == expected


TAX_ROWS: Rows = [
    # valid German VAT number, no keyword needed
    ("Our VAT is DE736343332.", {("DE736343332", "TAX_ID")}),
    ("DE736343332", {("DE736343332", "TAX_ID")}),  # checksum alone is enough
    # bad checksum but a tax keyword: kept as a context-only TAX_ID
    ("tax ID is DE736343333", {("DE736343333", "TAX_ID")}),
    # bad checksum and no keyword: stays
    ("DE736343333", set()),
    # US EIN after its keyword
    ("EIN 12-3456789", {("12-3456789", "TAX_ID")}),
    # ITIN: dashed, area 9xx in a reserved group, no keyword needed
    ("912-70-1234", {("912-70-1234", "TAX_ID")}),
    # ITIN shape with a group outside the ITIN ranges (and never an SSN)
    ("912-40-1234", set()),
    # EIN shape without a tax keyword
    ("ref 12-3456789", set()),
    # Chinese unified social credit code after 税号
    ("税号 91350100M000100Y43", {("91350100M000100Y43", "TAX_ID")}),
    # Spanish NIF
    ("NIF 12345678Z", {("12345678Z", "TAX_ID")}),
    # German label before a VAT number
    ("USt-IdNr. DE736343332", {("DE736343332", "TAX_ID")}),
    # Chinese unified social credit code: checksum, no keyword needed
    ("the company 91350100M000100Y43 ltd", {("91350100M000100Y43", "TAX_ID")}),
    # an all-digit 18-digit number passing the credit-code check needs a tax word
    ("the number is 266418766944531814", set()),
    # Italian codice fiscale: checksum, no keyword needed
    ("codice fiscale RCCMNL83S18D969H", {("RCCMNL83S18D969H", "TAX_ID")}),
    # Italian codice fiscale with a wrong check letter and no tax word
    ("RCCMNL83S18D969J", set()),
    # keep: a price after VAT is not a tax ID
    ("price incl. VAT 1200 USD", set()),
    # keep: "tin" the metal, in lower case, before a quantity
    ("tin box 120000 pcs", set()),
    # keep: the German word "ein" is not an EIN
    ("Ich bestelle ein 200000 Stück", set()),
]


@pytest.mark.parametrize(("text", "expected"), TAX_ROWS)
def test_tax_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """VAT numbers by checksum or keyword, EINs and other tax IDs by keyword."""
    assert found(pattern_redactor, text) == expected


DOB_ROWS: Rows = [
    # English abbreviation, day-first
    ("DOB: 03/07/1985", {("03/07/1985", "DATE_OF_BIRTH")}),
    # English words, month name
    ("born on 3 March 1985", {("3 March 1985", "DATE_OF_BIRTH")}),
    # US style month first
    ("date of birth: March 3, 1985", {("March 3, 1985", "DATE_OF_BIRTH")}),
    # Chinese
    ("出生日期：1985年3月7日", {("1985年3月7日", "DATE_OF_BIRTH")}),
    # Portuguese
    ("data de nascimento 07/03/1985", {("07/03/1985", "DATE_OF_BIRTH")}),
    # Spanish long form
    ("fecha de nacimiento: 7 de marzo de 1985", {("7 de marzo de 1985", "DATE_OF_BIRTH")}),
    # German abbreviation
    ("geb. 07.03.1985", {("07.03.1985", "DATE_OF_BIRTH")}),
    # ISO form
    ("Geburtsdatum 1985-03-07", {("1985-03-07", "DATE_OF_BIRTH")}),
    # disguise: full-width digits
    ("DOB ０３/０７/１９８５", {("０３/０７/１９８５", "DATE_OF_BIRTH")}),
    # French
    ("Né le 7 mars 1985", {("7 mars 1985", "DATE_OF_BIRTH")}),
    # a few words between keyword and date
    ("born in Porto on 3 March 1985", {("3 March 1985", "DATE_OF_BIRTH")}),
    # a bare year right after the keyword
    ("born in 1985", {("1985", "DATE_OF_BIRTH")}),
    # keep: a bare year far from a birthday word is not a birth year
    ("birthday sale ends 2026", set()),
    # keep: a sentence break between keyword and date
    ("date of birth. We ship 07/03/2026", set()),
    # keep: a delivery date is not a date of birth
    ("delivery date 07/03/2026", set()),
    # not a calendar date
    ("DOB 31/31/1985", set()),
]


@pytest.mark.parametrize(("text", "expected"), DOB_ROWS)
def test_date_of_birth_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """Dates are dates of birth only after a birth keyword."""
    assert found(pattern_redactor, text) == expected


def test_business_facts_survive() -> None:
    """Prices, quantities, HS codes, dates and tracking numbers are never ID detections."""
    text = (
        "Price USD 4,526.01 for 5000 pcs, HS code 8471.30.01, ETA 2026-03-07,"
        " tracking 1Z999AA10123456784"
    )
    for det in detectors():
        assert det.detect(text) == (), det.name


def test_ssn_keyword_raises_the_score() -> None:
    """A dashed SSN after an SSN word scores above one found by structure alone."""
    with_kw = max(s.score for s in UsSsnDetector().detect("SSN 078-05-1120"))
    [without] = UsSsnDetector().detect("it is 078-05-1120")
    assert with_kw > without.score


def test_cn_id_inside_a_longer_run_is_found() -> None:
    """An ID followed by another number in the same run is still cut out exactly."""
    text = "身份证 11010519491231002X 12345"
    [span] = CnResidentIdDetector().detect(text)
    assert text[span.start : span.end] == "11010519491231002X"


def test_registry_exposes_every_gov_id_type() -> None:
    """The module's detectors together emit exactly the government-ID entity types."""
    types: set[str] = set()
    for det in detectors():
        types |= det.entity_types
    assert types == GOV_ID

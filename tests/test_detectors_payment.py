"""Payment detectors (redact.detectors.payment), through the pattern-only Redactor.

Disguises (full-width digits, zero-width characters, no-break spaces) are folded by
normalisation before the detectors run, so these rows go through the real Redactor.
Every number is made up for this file with its check digits computed; none comes from
an evaluation corpus.
"""

from __future__ import annotations

import pytest

from redact import Engine, Message, RedactConfig, Redactor
from redact.detectors.payment import (
    BankAccountDetector,
    CardDetector,
    IbanDetector,
    SwiftBicDetector,
    detectors,
)

PAYMENT = frozenset({"CREDIT_CARD", "CARD_CVV", "CARD_EXPIRY", "IBAN", "BANK_ACCOUNT", "SWIFT_BIC"})
ZW = "\u200b"
NBSP = "\u00a0"


def found(redactor: Redactor, text: str) -> set[tuple[str, str]]:
    """(original substring, type) of every payment span the redactor reports."""
    [out] = redactor.redact_batch([Message("t", text)])
    return {(text[s.start : s.end], s.type) for s in out.spans if s.type in PAYMENT}


CARD_ROWS: list[tuple[str, set[tuple[str, str]]]] = [
    # valid: compact Visa, no context needed (scheme + Luhn)
    ("pay with 4526018159083012 please", {("4526018159083012", "CREDIT_CARD")}),
    # valid: grouped by spaces
    ("card 4526 0181 5908 3012", {("4526 0181 5908 3012", "CREDIT_CARD")}),
    # valid: grouped by dashes
    ("card 4526-0181-5908-3012", {("4526-0181-5908-3012", "CREDIT_CARD")}),
    # valid: grouped by dots
    ("card 4526.0181.5908.3012", {("4526.0181.5908.3012", "CREDIT_CARD")}),
    # valid: grouped by slashes
    ("card 4526/0181/5908/3012", {("4526/0181/5908/3012", "CREDIT_CARD")}),
    # valid: spaced one digit at a time
    ("card 4 5 2 6 0 1 8 1 5 9 0 8 3 0 1 2", {("4 5 2 6 0 1 8 1 5 9 0 8 3 0 1 2", "CREDIT_CARD")}),
    # disguise: full-width digits
    (
        "card ４５２６０１８１５９０８３０１２",
        {("４５２６０１８１５９０８３０１２", "CREDIT_CARD")},
    ),
    # disguise: zero-width spaces between groups
    (f"card 4526{ZW}0181{ZW}5908{ZW}3012", {(f"4526{ZW}0181{ZW}5908{ZW}3012", "CREDIT_CARD")}),
    # disguise: no-break spaces between groups
    (
        f"card 4526{NBSP}0181{NBSP}5908{NBSP}3012",
        {(f"4526{NBSP}0181{NBSP}5908{NBSP}3012", "CREDIT_CARD")},
    ),
    # disguise: en dashes between groups (NFKC leaves them alone; the detector folds them)
    (
        "card 4526\u20130181\u20135908\u20133012",
        {("4526\u20130181\u20135908\u20133012", "CREDIT_CARD")},
    ),
    # disguise: middle dots between groups
    (
        "卡号 4526\u00b70181\u00b75908\u00b73012",
        {("4526\u00b70181\u00b75908\u00b73012", "CREDIT_CARD")},
    ),
    # disguise: double spaces between groups
    ("card 4526  0181  5908  3012", {("4526  0181  5908  3012", "CREDIT_CARD")}),
    # valid: Amex printed 4-6-5
    ("amex 3723 194875 74919", {("3723 194875 74919", "CREDIT_CARD")}),
    # valid: Mastercard 2-series
    ("2223 3786 5797 5436", {("2223 3786 5797 5436", "CREDIT_CARD")}),
    # valid: Visa 19 digits grouped 4-4-4-4-3
    ("4661 3186 0913 9099 600", {("4661 3186 0913 9099 600", "CREDIT_CARD")}),
    # valid: UnionPay 19 digits inside Chinese text
    ("信用卡号6291703423667127685谢谢", {("6291703423667127685", "CREDIT_CARD")}),
    # valid: Maestro 12 digits is only accepted with card context
    ("my card 503822330794 is blocked", {("503822330794", "CREDIT_CARD")}),
    # missing context: the same 12-digit Maestro number alone stays
    ("ref 503822330794", set()),
    # bad checksum: last digit changed
    ("card 4526 0181 5908 3013", set()),
    # keep: a card's last four digits alone
    ("refund to my card ending 3012", set()),
    # keep: an order number that happens to pass Luhn and fit a scheme
    ("I placed order 4526018159083012 yesterday", set()),
    # keep: a Visa-valid window inside a longer dash-grouped reference
    ("ref: 658-4070-9970-1543-1566, thanks", set()),
    # keep: a phone number in international form
    ("call +4 526 0181 5908 3012", set()),
    # mixed language: Portuguese card, expiry and security code
    (
        "Meu cartão 5182 1993 5181 9098 validade 07/27 código de segurança 456",
        {("5182 1993 5181 9098", "CREDIT_CARD"), ("07/27", "CARD_EXPIRY"), ("456", "CARD_CVV")},
    ),
    # mixed language: Chinese expiry and security code words
    (
        "我的信用卡号是4526018159083012，有效期09/27，安全码123",
        {("4526018159083012", "CREDIT_CARD"), ("09/27", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # expiry and CVV printed straight after the card, no labels
    (
        "Ok here: 4526 0181 5908 3012 09/2027 123",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("09/2027", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # expiry and CVV in the pipe-separated form card dumps use
    (
        "4526018159083012|09|2027|123",
        {("4526018159083012", "CREDIT_CARD"), ("09|2027", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # mixed separators are fine when they hold the whole number
    ("card 4526 0181-5908 3012 ok", {("4526 0181-5908 3012", "CREDIT_CARD")}),
    # ISO year-month after an expiry word
    (
        "card 5182199351819098 exp 2027-09",
        {("5182199351819098", "CREDIT_CARD"), ("2027-09", "CARD_EXPIRY")},
    ),
    # compact MMYY after an expiry word
    (
        "amex 3723 194875 74919 exp 1128",
        {("3723 194875 74919", "CREDIT_CARD"), ("1128", "CARD_EXPIRY")},
    ),
    # a quantity after the card is not a CVV
    ("card 4526018159083012 and 500 units", {("4526018159083012", "CREDIT_CARD")}),
    # abbreviated "sec code" label after the card and a bracketed expiry
    (
        "visa 4526 0181 5908 3012 (11/29) sec code 614 ta",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("11/29", "CARD_EXPIRY"), ("614", "CARD_CVV")},
    ),
    # Portuguese bare "código" after card and validade
    (
        "cartão 5182.1993.5181.9098 validade 03/28 código 4471 titular",
        {("5182.1993.5181.9098", "CREDIT_CARD"), ("03/28", "CARD_EXPIRY"), ("4471", "CARD_CVV")},
    ),
    # Spanish expiry word then an unlabelled code
    (
        "tarjeta 4526018159083012 vence 02/31 883",
        {("4526018159083012", "CREDIT_CARD"), ("02/31", "CARD_EXPIRY"), ("883", "CARD_CVV")},
    ),
]


@pytest.mark.parametrize(("text", "expected"), CARD_ROWS)
def test_card_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """Card numbers, expiry and CVV are reported exactly as in the table row."""
    assert found(pattern_redactor, text) == expected


EXTRAS_ROWS: list[tuple[str, set[tuple[str, str]]]] = [
    # CVV after its English keyword
    ("cvv2: 987", {("987", "CARD_CVV")}),
    # CVV described, not named
    ("The code on the back is 321", {("321", "CARD_CVV")}),
    # German security code, 4 digits
    ("Prüfnummer 4321", {("4321", "CARD_CVV")}),
    # Spanish security code
    ("código de seguridad: 765", {("765", "CARD_CVV")}),
    # Chinese "the three digits on the back"
    ("背面三位数 123", {("123", "CARD_CVV")}),
    # missing context: a bare three-digit number
    ("I need 123 pieces", set()),
    # expiry with a card mentioned
    ("my visa is valid thru 01/30", {("01/30", "CARD_EXPIRY")}),
    # Chinese year-month after 有效期, with a card word
    ("信用卡有效期至2027年9月", {("2027年9月", "CARD_EXPIRY")}),
    # German expiry word with a card word
    ("Kreditkarte gültig bis 11/28", {("11/28", "CARD_EXPIRY")}),
    # expiry with a month name
    ("exp Dec 2029 on my card", {("Dec 2029", "CARD_EXPIRY")}),
    # French card words
    (
        "carte bancaire 4526 0181 5908 3012 date d'expiration 09/27 cryptogramme 123",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("09/27", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # missing context: an expiry word without any card is a business date
    ("the quote expires 12/26", set()),
    # a letter of credit's expiry is a business date, and 12/2026 is part of a full date
    ("Letter of credit expiry date 15/12/2026", set()),
    # German check-digit word for the CVV
    (
        "Karte 4526 0181 5908 3012 Prüfziffer 737",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("737", "CARD_CVV")},
    ),  # abbreviated English CVV labels
    ("the sec. code is 590", {("590", "CARD_CVV")}),
    # "card code" label
    ("card code: 7312", {("7312", "CARD_CVV")}),
    # CVV2 / CVC2 combined label
    ("CVV2/CVC2 208", {("208", "CARD_CVV")}),
    # Portuguese abbreviated security code
    ("cód. seg. 371", {("371", "CARD_CVV")}),
    # German card check number
    ("Kartenprüfnummer: 862", {("862", "CARD_CVV")}),
    # Portuguese bare "código" needs a card word and an expiry in the message
    ("cartão validade 04/29 código 318", {("04/29", "CARD_EXPIRY"), ("318", "CARD_CVV")}),
    # missing context: a bare "código" without card or expiry is any code
    ("o código 318 da caixa", set()),
    # a promo code next to a card expiry is no CVV
    ("card exp 04/29, promo code 1200", {("04/29", "CARD_EXPIRY")}),
    # a strong expiry word stands alone (the card was in an earlier message)
    ("exp 06/30", {("06/30", "CARD_EXPIRY")}),
    # Spanish and German strong expiry words alone
    ("vencimiento 10/28", {("10/28", "CARD_EXPIRY")}),
    # German strong expiry word alone
    ("gültig bis 07/29", {("07/29", "CARD_EXPIRY")}),
    # missing context: an offer's expiry is a business date
    ("offer exp 06/30", set()),
    # missing context: a product's shelf-life date is no card expiry
    ("produto validade 05/27", set()),
    # missing context: an invoice due date is no card expiry
    ("factura 2231 vencimiento 05/30", set()),
    # missing context: a weak expiry word alone stays a date
    ("expires 06/30", set()),
    # "exp. date" with its dot, no card word
    ("exp. date 11/29", {("11/29", "CARD_EXPIRY")}),
    # French expiry phrase with no card word
    ("valable jusqu'au 09/27", {("09/27", "CARD_EXPIRY")}),
    # the "MM/AA" field label names an expiry
    ("MM/AA 04/29", {("04/29", "CARD_EXPIRY")}),
    # Italian card, expiry phrase and CVV
    (
        "carta di credito 4526 0181 5908 3012 valida fino al 09/27 CVV 123",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("09/27", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # Amex "CID" with a card word and no expiry
    ("amex CID 4410", {("4410", "CARD_CVV")}),
    # missing context: "CID" without any card word is some other id
    ("customer CID 4410", set()),
    # "security no." names a CVV
    ("security no. 882", {("882", "CARD_CVV")}),
    # Spanish "vto" abbreviation and "cód." after a card
    (
        "tarjeta 4526 0181 5908 3012 vto 09/27 cód. 123",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("09/27", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
    # German "Prüfnr." after a card and its expiry
    (
        "Karte 4526 0181 5908 3012 gültig bis 09/27 Prüfnr. 123",
        {("4526 0181 5908 3012", "CREDIT_CARD"), ("09/27", "CARD_EXPIRY"), ("123", "CARD_CVV")},
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXTRAS_ROWS)
def test_card_extras_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """CVV and expiry dates need their keyword (and, for expiry, a card in sight)."""
    assert found(pattern_redactor, text) == expected


IBAN_ROWS: list[tuple[str, set[tuple[str, str]]]] = [
    # valid: printed in groups of four
    ("Pay to IBAN GB29 NWBK 6016 1331 9268 19 today", {("GB29 NWBK 6016 1331 9268 19", "IBAN")}),
    # valid: compact, lower case, no keyword
    ("send to gb29nwbk60161331926819", {("gb29nwbk60161331926819", "IBAN")}),
    # valid: grouped by dashes
    ("IBAN: DE44-5001-0517-5407-3249-31", {("DE44-5001-0517-5407-3249-31", "IBAN")}),
    # valid: 27-character French IBAN followed by words
    ("FR76 3000 6000 0112 3456 7890 189 is ours", {("FR76 3000 6000 0112 3456 7890 189", "IBAN")}),
    # valid: Brazilian IBAN ending in letters
    (
        "conta BR97 0036 0305 0000 1000 9795 493P 1",
        {("BR97 0036 0305 0000 1000 9795 493P 1", "IBAN")},
    ),
    # disguise: full-width digits
    ("IBAN NO９３８６０１１１１７９４７", {("NO９３８６０１１１１７９４７", "IBAN")}),
    # disguise: zero-width space inside
    (f"IBAN DE44500105{ZW}175407324931", {(f"DE44500105{ZW}175407324931", "IBAN")}),
    # disguise: no-break spaces between groups
    (f"IBAN NO93{NBSP}8601{NBSP}1117{NBSP}947", {(f"NO93{NBSP}8601{NBSP}1117{NBSP}947", "IBAN")}),
    # disguise: groups joined by " - "
    (
        "IBAN DE44 - 5001 - 0517 - 5407 - 3249 - 31",
        {("DE44 - 5001 - 0517 - 5407 - 3249 - 31", "IBAN")},
    ),
    # disguise: spaced one character at a time, in capitals
    (
        "IBAN N O 9 3 8 6 0 1 1 1 1 7 9 4 7",
        {("N O 9 3 8 6 0 1 1 1 1 7 9 4 7", "IBAN")},
    ),
    # keep: "no." before an item number that happens to pass a Norwegian IBAN check
    ("We shipped Item no. 2708503434132 yesterday", set()),
    # bad checksum: one digit changed
    ("IBAN GB29 NWBK 6016 1331 9268 18", set()),
    # wrong length for the country: never an IBAN
    ("IBAN GB29 NWBK 6016 1331 9268 1", set()),
]


@pytest.mark.parametrize(("text", "expected"), IBAN_ROWS)
def test_iban_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """IBANs are found by country length and mod 97, however they are printed."""
    assert found(pattern_redactor, text) == expected


SWIFT_ROWS: list[tuple[str, set[tuple[str, str]]]] = [
    # valid: 8 characters after SWIFT
    ("SWIFT: DEUTDEFF", {("DEUTDEFF", "SWIFT_BIC")}),
    # valid: 11 characters after "BIC code is"
    ("BIC code is COBADEFFXXX.", {("COBADEFFXXX", "SWIFT_BIC")}),
    # valid: lower case right after a labelled keyword
    ("swift code deutdeff", {("deutdeff", "SWIFT_BIC")}),
    # mixed language: Chinese keyword
    ("银行代码 BKCHCNBJ", {("BKCHCNBJ", "SWIFT_BIC")}),
    # a beneficiary-bank label introduces a BIC
    ("Beneficiary bank: HSBCHKHHHKH", {("HSBCHKHHHKH", "SWIFT_BIC")}),
    # missing context: a BIC-shaped word without a SWIFT/BIC keyword
    ("DEUTDEFF", set()),
    # bad structure: XX is not a country
    ("SWIFT code: ABCDXXFF", set()),
    # prose: "swift" as an adjective
    ("thanks for the swift delivery", set()),
]


@pytest.mark.parametrize(("text", "expected"), SWIFT_ROWS)
def test_swift_table(pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]) -> None:
    """SWIFT/BIC codes need structure, a real country and a keyword."""
    assert found(pattern_redactor, text) == expected


ACCOUNT_ROWS: list[tuple[str, set[tuple[str, str]]]] = [
    # valid: ABA routing number that passes the check, and an account number
    (
        "routing 021000021 account 000123456789",
        {("021000021", "BANK_ACCOUNT"), ("000123456789", "BANK_ACCOUNT")},
    ),
    # bad checksum: routing number fails ABA and stays
    ("routing number 021000022", set()),
    # English abbreviations
    ("a/c no. 1234567890", {("1234567890", "BANK_ACCOUNT")}),
    # German
    ("Kontonummer 1234567890", {("1234567890", "BANK_ACCOUNT")}),
    # Spanish
    ("cuenta 0123456789", {("0123456789", "BANK_ACCOUNT")}),
    # Portuguese with a check digit after a dash
    ("conta 1234567-8", {("1234567-8", "BANK_ACCOUNT")}),
    # Chinese account word, grouped digits
    ("账号 6222 0212 3456 7890 123", {("6222 0212 3456 7890 123", "BANK_ACCOUNT")}),
    # a Luhn-valid card introduced as a bank card is a BANK_ACCOUNT
    ("我们的银行卡号 6291703423667127685", {("6291703423667127685", "BANK_ACCOUNT")}),
    # disguise: full-width digits after the keyword
    ("account no. １２３４５６７８９", {("１２３４５６７８９", "BANK_ACCOUNT")}),
    # disguise: one digit at a time
    ("acct 1 2 3 4 5 6 7 8", {("1 2 3 4 5 6 7 8", "BANK_ACCOUNT")}),
    # missing context: a number without an account word
    ("please send 12345678 soon", set()),
    # keep: an account word followed by a quantity, not a number of 6+ digits
    ("your account has 12 pcs", set()),
    # keep: a business word between the keyword and the number
    ("account of order 12345678", set()),
    # French RIB, 23 digits
    ("RIB 30006000011234567890189", {("30006000011234567890189", "BANK_ACCOUNT")}),
    # keep: "rib" in lower case is a knit
    ("rib knit 123456 pcs", set()),
    # keep: an amount after an account word
    ("account balance 1500000 USD", set()),
    # UK sort code and account number
    (
        "sort code 12-34-56 account 12345678",
        {("12-34-56", "BANK_ACCOUNT"), ("12345678", "BANK_ACCOUNT")},
    ),
]


@pytest.mark.parametrize(("text", "expected"), ACCOUNT_ROWS)
def test_bank_account_table(
    pattern_redactor: Redactor, text: str, expected: set[tuple[str, str]]
) -> None:
    """Account and routing numbers are found by context, routing numbers also by ABA check."""
    assert found(pattern_redactor, text) == expected


def test_checksum_validated_card_outscores_context_only_account() -> None:
    """A Luhn-validated card scores above an account number found by context alone."""
    card = CardDetector().detect("card 4526018159083012")
    account = BankAccountDetector().detect("account 12345678")
    assert card[0].score > account[0].score


def test_detectors_skip_text_without_digits() -> None:
    """Number detectors return nothing at once for text without a digit."""
    for det in (CardDetector(), IbanDetector(), BankAccountDetector()):
        assert det.detect("hello there, what is your IBAN and account?") == ()


def test_swift_detector_runs_on_letters_only() -> None:
    """A BIC has no digit requirement, so the SWIFT detector has no digit prefilter."""
    assert [s.type for s in SwiftBicDetector().detect("BIC DEUTDEFF")] == ["SWIFT_BIC"]


def test_registry_exposes_every_payment_type() -> None:
    """The module's detectors together emit exactly the payment entity types."""
    types: set[str] = set()
    for det in detectors():
        types |= det.entity_types
    assert types == PAYMENT


def test_card_split_across_two_messages_is_caught() -> None:
    """A card number split over two messages of one conversation is redacted in both."""
    engine = Engine(detectors())
    with Redactor(RedactConfig(ner=False), engine=engine, state_key=b"k" * 32) as r:
        first, second = r.redact_batch(
            [
                Message("a", "my card is 4526 0181", "c", 0),
                Message("b", "5908 3012 exp 09/27", "c", 1),
            ]
        )
    assert [(s.start, s.end, s.type) for s in first.spans] == [(11, 20, "CREDIT_CARD")]
    assert (0, 9, "CREDIT_CARD") in [(s.start, s.end, s.type) for s in second.spans]

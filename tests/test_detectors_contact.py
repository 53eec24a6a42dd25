"""Contact detectors: e-mail addresses, phone numbers and messenger handles.

Every value here is made up. Assertion messages name the table row, never the value.
"""

# The disguise rows spell values with full-width and other look-alike characters on
# purpose: that is what they test.

from __future__ import annotations

import pytest

from redact import Redactor
from redact.detectors.contact import (
    CONTEXT_SCORE,
    EMAIL_SCORE,
    PHONE_VALID_SCORE,
    EmailDetector,
    MessengerHandleDetector,
    PhoneDetector,
    detectors,
)
from redact.normalize import normalize
from redact.redactor import Message
from redact.span import ENTITY_TYPES, Span

EMAIL = EmailDetector()
PHONE = PhoneDetector()
HANDLE = MessengerHandleDetector()


def _found(spans: tuple[Span, ...], text: str, value: str) -> bool:
    """True when one span covers exactly ``value`` inside ``text``."""
    start = text.index(value)
    return any(s.start == start and s.end == start + len(value) for s in spans)


def _detect(
    detector: EmailDetector | PhoneDetector | MessengerHandleDetector, text: str
) -> tuple[Span, ...]:
    return detector.detect(normalize(text).text)


# --------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------

EMAIL_FOUND = [
    # (row id, message, the address as it must be covered)
    # a plain address
    ("plain", "Send the PI to tomas.varga@example.com today.", "tomas.varga@example.com"),
    # plus-addressing and a subdomain
    ("plus-subdomain", "cc me: ines+orders@mail.example.de", "ines+orders@mail.example.de"),
    # underscores and digits in the local part, country TLD
    ("underscore-digits", "my mail is wu_lei_1987@example.cn ok", "wu_lei_1987@example.cn"),
    # a local part that ends in a dot, as generators and people type it
    ("trailing-dot-local", "write dr.k.osei.@example.org please", "dr.k.osei.@example.org"),
    # an apostrophe in the local part
    ("apostrophe", "Contact: siobhan.o'neill@example.ie", "siobhan.o'neill@example.ie"),
    # spaces around the @ sign
    ("spaced-at", "write to kemal_ay @ example.com.tr", "kemal_ay @ example.com.tr"),
    # fully spelled out in English
    (
        "spelled-dot-at",
        "reach me: nora dot berg at gmail dot com",
        "nora dot berg at gmail dot com",
    ),
    # bracketed [at] and [dot]
    ("bracketed", "nora.berg [at] example [dot] com", "nora.berg [at] example [dot] com"),
    # (at) glued to the words, real dot in the domain
    ("paren-at", "mail nora(at)example.net thanks", "nora(at)example.net"),
    # curly braces
    ("curly", "it is nora{at}163{dot}com", "nora{at}163{dot}com"),
    # bare "at" with a well-known provider
    ("bare-at-provider", "nora at gmail.com is best", "nora at gmail.com"),
    # bare "at" with mail context and a company domain
    (
        "bare-at-context",
        "email me: vendas at example-trade dot br",
        "vendas at example-trade dot br",
    ),
    # Spanish: arroba / punto
    ("spanish", "correo: lucia.ruiz arroba example punto es", "lucia.ruiz arroba example punto es"),
    # Portuguese: arroba / ponto, two-level country domain
    (
        "portuguese",
        "joao.lima arroba uol ponto com ponto br",
        "joao.lima arroba uol ponto com ponto br",
    ),
    # German spelled "punkt" with bracketed at
    ("german", "jonas.weber (at) example punkt de", "jonas.weber (at) example punkt de"),
    # Italian "chiocciola"
    (
        "italian",
        "scrivi a marco.rossi chiocciola example punto it",
        "marco.rossi chiocciola example punto it",
    ),
    # bare "at" with "dot" spelled out: a deliberate disguise needs no more evidence
    ("bare-at-spelled-dot", "annali at example dot com", "annali at example dot com"),
    # a literal dot inside brackets
    ("bracketed-dot", "send to nora.berg@example[.]com", "nora.berg@example[.]com"),
    # accented letters in the local part
    ("accented-local", "schreib an jörg.müller@example.de", "jörg.müller@example.de"),
    # Chinese text glued to both sides of the address
    ("cjk-around", "请发到nora88@example.cn谢谢", "nora88@example.cn"),
    # spaces around every dot, in the local part too
    ("spaced-dots-local", "mail: nora . berg @ example . com", "nora . berg @ example . com"),
    # the sentence before a plain address stays outside it
    ("sentence-before", "Thanks. nora@example.com", "nora@example.com"),
    # spaces around both the @ and the dot
    ("spaced-at-and-dot", "it is nora.berg @ example . com", "nora.berg @ example . com"),
]


@pytest.mark.parametrize(("row", "text", "value"), EMAIL_FOUND, ids=[r[0] for r in EMAIL_FOUND])
def test_email_found(row: str, text: str, value: str) -> None:
    """Each plain or spelled-out address is one EMAIL span covering all of it."""
    assert _found(_detect(EMAIL, text), text, value), f"row {row}: address not covered"


EMAIL_NOT_FOUND = [
    # (row id, message)
    # prose with "at" and "dot" but no address
    ("prose-port", "We meet at the port dot five o'clock."),
    # a website, not an address: "look" is prose before a bare "at"
    ("prose-look-at", "Please look at example dot com for the catalogue."),
    # a bare "at" without mail context, provider or e-mail-like local part
    ("bare-at-no-evidence", "Our office at Ningbo is near the harbour dot."),
    # an @ mention without a domain
    ("mention", "Thanks @logistics, noted."),
    # an @ with a dotless host
    ("dotless-host", "root@localhost can not receive mail"),
    # spelled "dot" followed by a word that is no TLD
    ("spelled-unknown-tld", "ping nora at example dot whatever"),
    # a quantity and a spaced "@" before a domain-like token
    ("units-at", "2 pcs @ example. com"),
]


@pytest.mark.parametrize(("row", "text"), EMAIL_NOT_FOUND, ids=[r[0] for r in EMAIL_NOT_FOUND])
def test_email_not_found(row: str, text: str) -> None:
    """Prose, mentions and host names without a domain are not e-mail addresses."""
    assert _detect(EMAIL, text) == (), f"row {row}: unexpected EMAIL span"


def test_email_score() -> None:
    """An e-mail address scores 0.95."""
    spans = _detect(EMAIL, "mail tomas.varga@example.com")
    assert [s.score for s in spans] == [EMAIL_SCORE] and EMAIL_SCORE == 0.95


# --------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------

PHONE_FOUND = [
    # (row id, message, the number as it must be covered)
    # Spain, international, grouped 3-3-3
    ("es-intl", "Llámame al +34 912 345 678 por favor", "+34 912 345 678"),
    # China mobile, international with a dash
    ("cn-intl-dash", "My number: +86-13812345678", "+86-13812345678"),
    # UK, international without spaces
    ("gb-intl-compact", "Ring +441614960000 after 9", "+441614960000"),
    # Brazil, international with the 4-4 dash
    ("br-intl", "WhatsApp +55 11 3456-7890", "+55 11 3456-7890"),
    # France, international with the "(0)" trunk in brackets
    ("fr-intl-trunk", "Bureau: +33 (0)1 42 68 53 00", "+33 (0)1 42 68 53 00"),
    # Germany, international with "(0)" glued
    ("de-intl-trunk", "Tel. +49(0)30 1234567", "+49(0)30 1234567"),
    # international "00" prefix
    ("intl-00", "call 0044 161 496 0000 any time", "0044 161 496 0000"),
    # US "001-" prefix and an extension
    ("us-001-ext", "reach me at 001-212-555-0142x123", "001-212-555-0142x123"),
    # UK national, grouped, no context
    ("gb-national", "Thanks, 0161 496 0000 is the office line.", "0161 496 0000"),
    # France national 5x2, no context
    ("fr-national", "Merci, 01 42 68 53 00.", "01 42 68 53 00"),
    # US with parentheses, no context
    ("us-parens", "Sure, (212) 555-0142 works.", "(212) 555-0142"),
    # US dotted with an extension
    ("us-dotted-ext", "Phone 212.555.0142x77", "212.555.0142x77"),
    # US dashed
    ("us-dashed", "try 415-555-0199 tomorrow", "415-555-0199"),
    # Brazil national with area code in parentheses
    ("br-national", "celular (11) 98765-4321", "(11) 98765-4321"),
    # China mobile grouped 3-4-4, no context
    ("cn-grouped", "Sure: 139 1234 5678", "139 1234 5678"),
    # China mobile compact, no context
    ("cn-compact", "OK 13912345678", "13912345678"),
    # China mobile with Chinese context and a full-width colon
    ("cn-context-zh", "电话：13912345678", "13912345678"),
    # Chinese text written straight against a grouped mobile number
    ("cn-glued-zh", "我的手机是138 0013 8000，谢谢", "138 0013 8000"),
    # a Chinese landline with its extension after 转
    ("cn-landline-ext", "请拨打0755-88886666转802", "0755-88886666转802"),
    # German "rufen ... an", a business word only in the next sentence
    ("de-rufen", "Bitte rufen Sie mich an: 0171 2345678. Rechnung folgt.", "0171 2345678"),
    # Germany with context "Telefon"
    ("de-context", "Telefon: 030 12345678", "030 12345678"),
    # Germany mobile with "Handy"
    ("de-handy", "Handy 0171 1234567", "0171 1234567"),
    # Germany with a slash between area code and number
    ("de-slash", "Tel 089/12345678", "089/12345678"),
    # a short local number admitted by context only
    ("short-context", "Phone: 496 0123", "496 0123"),
    # a short number with the context word after it
    ("context-after", "Hours 9-5.\n555 0123 office", "555 0123"),
    # Portuguese context for a compact national number
    ("pt-context", "Meu telefone é 2134567890", "2134567890"),
    # Spanish context
    ("es-context", "teléfono 912345678", "912345678"),
    # two numbers joined by a slash are found apart
    ("listed", "call 0161 496 0000 / 0161 496 0001", "0161 496 0001"),
    # one digit at a time, spaced out, with context
    ("spaced-digits", "call me at 0 1 6 1 4 9 6 0 0 0 0 ok", "0 1 6 1 4 9 6 0 0 0 0"),
    # one digit at a time, dashed, with context
    ("dashed-digits", "phone 0-1-6-1-4-9-6-0-0-0-0", "0-1-6-1-4-9-6-0-0-0-0"),
    # a WhatsApp click-to-chat link
    ("whatsapp-link", "chat: https://wa.me/34612345678?text=hi", "34612345678"),
    # Japan, international with dashes
    ("jp-intl", "TEL +81 3-1234-5678", "+81 3-1234-5678"),
    # India mobile, international 5-5
    ("in-intl", "mobile +91 98765 43210", "+91 98765 43210"),
    # a country code written without "+", admitted by the phone word before it
    ("cc-without-plus", "Tel: 86-138-0013-8000", "86-138-0013-8000"),
    # English digit words, no other context needed for eleven of them
    (
        "spelled-en",
        "zero one six one four nine six zero zero zero zero",
        "zero one six one four nine six zero zero zero zero",
    ),
    # Spanish digit words after a messenger name
    (
        "spelled-es",
        "whatsapp seis uno dos tres cuatro cinco seis siete ocho",
        "seis uno dos tres cuatro cinco seis siete ocho",
    ),
    # Chinese numerals after 电话
    ("spelled-zh", "电话一三九一二三四五六七八", "一三九一二三四五六七八"),
    # digits and digit words mixed
    ("spelled-mixed", "call 0161 four nine six 0000", "0161 four nine six 0000"),
    # Chinese numerals in spaced groups: three in a row somewhere are enough of a hint
    ("spelled-zh-groups", "电话 一三九 一二三四 五六七八", "一三九 一二三四 五六七八"),
    # "oh" for zero, groups split by commas
    (
        "spelled-oh-commas",
        "tel: oh one six one, four nine six, oh oh oh oh",
        "oh one six one, four nine six, oh oh oh oh",
    ),
    # a compact number admitted because an e-mail address stands next to it
    ("beside-email", "I'm on 02079460958 or nora@example.com", "02079460958"),
    # a context phrase after the number
    ("context-after-phrase", "07700 900 123 is my mobile", "07700 900 123"),
    # a business word earlier in another clause does not veto the phone
    # "in case" is prose, not a case number
    ("in-case-prose", "In case of problems 0161 496 0000 anytime", "0161 496 0000"),
    ("business-other-clause", "Order 4820193 shipped, 0161 496 0000 is the line", "0161 496 0000"),
    # a business word inside an e-mail address does not veto the phone after it
    (
        "business-in-email",
        "write to billing.team@acme-tools.io or (415) 555-0199",
        "(415) 555-0199",
    ),
    # a business word naming a person ("account manager") introduces no number
    ("business-role", "my account manager: (312) 555-0147", "(312) 555-0147"),
    # Spanish/Portuguese "cel" with an international number written without "+"
    ("cel-no-plus", "cel 9053-2281-7764 ok?", "9053-2281-7764"),
    # run-on chat: a "+" number followed by "Unit price" is not a quantity
    ("plus-then-unit-word", "call me on +44 20 7123 4567 Unit price is 5", "+44 20 7123 4567"),
    # "my number" in other languages introduces a national mobile without a trunk zero
    ("pl-my-number", "mój numer to 601 234 567, pisz śmiało", "601 234 567"),  # Polish mobile
    ("it-my-number", "il mio numero è 347 123 4567", "347 123 4567"),  # Italian mobile
    ("nl-my-number", "mijn nummer is 612345678", "612345678"),  # Dutch mobile, no trunk 0
    ("tr-my-number", "numaram 532 123 45 67, arayın", "532 123 45 67"),  # Turkish "my number"
    ("pl-phone-label", "nr tel. 512 345 678", "512 345 678"),  # Polish "nr tel."
    # a German compound phone word; a mobile in 4-4-4 groups with its trunk 0
    ("de-handynummer", "Handynummer: 0172 3345 6610", "0172 3345 6610"),
]


@pytest.mark.parametrize(("row", "text", "value"), PHONE_FOUND, ids=[r[0] for r in PHONE_FOUND])
def test_phone_found(row: str, text: str, value: str) -> None:
    """Each phone number, in any of the formats buyers and sellers use, is one PHONE span."""
    assert _found(_detect(PHONE, text), text, value), f"row {row}: number not covered"


PHONE_NOT_FOUND = [
    # (row id, message)
    # an 18-digit order number
    ("order-id", "I placed order 482019375610284736 yesterday."),
    # a 20-digit order number after a phone context word further back
    ("order-after-call", "Call me later about order 48201937561028473612."),
    # a 10-digit tracking number
    ("tracking-10", "Tracking number 4820193756, ETA Friday."),
    # a tracking number introduced by the carrier's name, with a phone word before it
    ("carrier-after-call", "Call me. Shipped via DHL 4820193756 today."),
    # a tracking number with letters
    ("tracking-letters", "Shipped via EMS, tracking EA123456785CN."),
    # a compact 11-digit number named as a tracking number after it
    ("tracking-after", "13912345678 is the tracking no."),
    # a price with thousands separators
    ("price", "Unit price is US$ 1,234,567.00 per lot."),
    # a price with a currency code and no separators
    ("price-code", "Total RMB 12345678 incl. freight."),
    # a quantity with a unit
    ("quantity", "MOQ 12000000 pcs for this model."),
    # an ISO date
    ("date-iso", "We can ship by 2026-03-14."),
    # a European date
    ("date-eu", "ETA 14.03.2026 at the latest."),
    # an HS code with three dotted groups
    ("hs-code", "HS code 8471.30.00 applies."),
    # an HS code without the keyword
    ("hs-shape", "classified under 8517.62.00 now"),
    # a product code
    ("product-code", "Interested in model QX-7731-B2."),
    # the last four digits of a card
    ("last-four", "Card ending 4242 was charged."),
    # a 16-digit Luhn-valid card number
    ("card-16", "Pay with 4539 1488 0343 6467 please."),
    # a compact card number
    ("card-compact", "card 4539148803436467 exp 12/28"),
    # a 16-digit card number after a phone word is still too long for a phone
    ("card-after-call", "call me, 4539 1488 0343 6467 is my card"),
    # a bank account after its keyword
    ("bank-account", "Account no. 0012345678, sort code 40-47-84."),
    # the digit blocks of an IBAN
    ("iban-blocks", "IBAN NL91 ABNA 0417 1643 00"),
    # a US SSN shape
    ("ssn", "SSN 123-45-6789 on file."),
    # a Brazilian CPF shape
    ("cpf", "CPF 123.456.789-09"),
    # an IP address
    ("ip", "server 192.168.100.200 is down"),
    # a compact national number without any context
    ("bare-compact", "Reference 0161 is noted; 01614960000 too."),
    # dimensions
    ("dimensions", "carton size 1200x800 mm"),
    # a postcode followed by a house number in an address
    ("address-numbers", "Billing address: 02139 2450 Main St"),
    # a brand name that reads like an Indonesian "hp" (mobile) label
    ("brand-hp", "HP 1234567 laptop in stock"),
    # a container number after its keyword, with "call" further back
    ("container-after-call", "Call me when container 4567890 arrives"),
    # a number glued to a following count
    ("count-after", "We shipped 1 200 000 pcs last year."),
    # a business word introducing the number across filler words
    ("business-filler", "Tracking number for your parcel is 4820193756"),
    # "No." after the business word is not a clause break
    ("order-no-abbrev", "Order no. 0161496000 please"),
    # an order number next to an e-mail address is still an order number
    ("order-beside-email", "Order 4820193756 from nora@example.com"),
    # a short run of number words in prose
    ("number-words-prose", "We need one or two, maybe three or four more cartons."),
    # seven digit words without any phone context
    ("spelled-short-no-context", "one two three four five six seven"),
    # digit words introduced by a business word
    ("spelled-order", "order one two three four five six seven eight nine"),
    # an account number still vetoed when its word introduces it
    ("account-number", "account 4401 2290 7731 please"),
    # a bare "numero" (no "my") introduces order numbers as often as phones
    ("numero-order", "pedido numero 482019375 enviado"),
    # "my number" followed by the order word that owns the number
    ("pl-order-number", "mój numer zamówienia to 601 234 567"),
    # a Turkish tracking number after "kargo takip"
    ("tr-tracking", "kargo takip numarası 7281923401, yarın elinizde olur"),
    # 4-4-4 digits without a trunk 0 are an ID or card fragment, even after a phone word
    ("four-four-four-no-trunk", "tel ref 2345 6789 0123"),
]


@pytest.mark.parametrize(("row", "text"), PHONE_NOT_FOUND, ids=[r[0] for r in PHONE_NOT_FOUND])
def test_phone_not_found(row: str, text: str) -> None:
    """Business numbers, dates, prices, codes and other detectors' ids are not phones."""
    assert _detect(PHONE, text) == (), f"row {row}: unexpected PHONE span"


PHONE_SCORES = [
    # (row id, message, expected score)
    # libphonenumber validates a Spanish landline: 0.85
    ("valid-intl", "+34 912 345 678", PHONE_VALID_SCORE),
    # an unassigned range in international form is admitted at 0.7
    ("possible-intl", "+44 7700 900123", CONTEXT_SCORE),
    # a short number admitted only by its context word: 0.7
    ("context-only", "tel 000 0000", CONTEXT_SCORE),
]


@pytest.mark.parametrize(("row", "text", "score"), PHONE_SCORES, ids=[r[0] for r in PHONE_SCORES])
def test_phone_scores(row: str, text: str, score: float) -> None:
    """A validated number scores 0.85, one admitted by shape or context alone 0.7."""
    spans = _detect(PHONE, text)
    assert [s.score for s in spans] == [score], f"row {row}: wrong score"


def test_phone_skips_text_with_few_digits() -> None:
    """A message with fewer than seven digits yields no phone, whatever its words."""
    assert _detect(PHONE, "call me on 123 456") == ()


def test_phone_beside_order_number_keeps_the_order_number() -> None:
    """In a message with an order number and a phone, only the phone is a span."""
    text = "Order 482019375610284736 shipped; call me at +34 912 345 678."
    spans = _detect(PHONE, text)
    assert len(spans) == 1 and _found(spans, text, "+34 912 345 678")


def test_phone_patterns_are_compiled_before_the_first_message() -> None:
    """After detectors(), finding and validating numbers of many countries compiles no
    libphonenumber pattern: that cost is paid at start-up, not by live messages."""
    from phonenumbers import re_util

    detectors()
    compiled = dict(re_util._COMPILED_PATTERNS or {})
    assert len(compiled) > 1000  # every region's patterns, kept
    texts = [
        "call me on 0912 345 678 or 06 12 34 56 78",
        "my number: 020 7946 0958, mobile 07700 900123",
        "WhatsApp +49 30 901820, office +81 3-1234-5678, +55 11 91234-5678",
        "ring 2025550143 after 5, or (415) 555-0132",
        "+234 803 123 4567 / +91 98765 43210 / +7 912 345-67-89",
    ]
    found = [_detect(PHONE, t) for t in texts]
    assert all(found)  # each text had a number to validate
    assert compiled == re_util._COMPILED_PATTERNS


# --------------------------------------------------------------------------------------
# Messenger handles
# --------------------------------------------------------------------------------------

HANDLE_FOUND = [
    # (row id, message, the handle as it must be covered)
    # WeChat with "ID:" and an underscore handle
    ("wechat-id", "WeChat ID: chen_wei77", "chen_wei77"),
    # lower-case wechat with a colon
    ("wechat-colon", "wechat: mingzhu_2001", "mingzhu_2001"),
    # Telegram with an @ handle
    ("telegram-at", "Telegram @olga_sokol", "@olga_sokol"),
    # Skype live: id
    ("skype-live", "add me on Skype live:ravi.k", "live:ravi.k"),
    # LINE ID
    ("line-id", "Line ID: somchai99", "somchai99"),
    # Chinese WeChat number label, with a space
    ("weixin-zh", "微信号 liuyang88", "liuyang88"),
    # Chinese, no space, "是" before the handle
    ("weixin-zh-is", "我的微信号是liuyang88", "liuyang88"),
    # Chinese label written straight against the handle
    ("weixin-glued", "加我微信liuyang_88谢谢", "liuyang_88"),
    # QQ number
    ("qq", "QQ: 80012345", "80012345"),
    # "is" as the separator
    ("wechat-is", "my wechat is chen.wei", "chen.wei"),
    # a Telegram profile link
    ("telegram-link", "join https://t.me/olga_sokol today", "olga_sokol"),
    # "my id is @…" with the messenger named earlier in the message
    (
        "intro-app-earlier",
        "switch to telegram, this chat lags. my id is @north_wind_trade",
        "north_wind_trade",
    ),
    # Spanish introduction, messenger earlier
    ("intro-es", "seguimos por instagram, mi usuario es @casa_vela.mx", "casa_vela.mx"),
    # German introduction
    ("intro-de", "lieber über Telegram – meine ID ist @hafen_kontor9", "hafen_kontor9"),
]


@pytest.mark.parametrize(("row", "text", "value"), HANDLE_FOUND, ids=[r[0] for r in HANDLE_FOUND])
def test_handle_found(row: str, text: str, value: str) -> None:
    """A handle right after a messenger name is one MESSENGER_HANDLE span."""
    assert _found(_detect(HANDLE, text), text, value), f"row {row}: handle not covered"


HANDLE_NOT_FOUND = [
    # (row id, message)
    # a handle-like token with no messenger name
    ("no-context", "ask chen_wei77 in the warehouse"),
    # an @ mention with no messenger name
    ("mention-no-context", "@olga_sokol please check"),
    # a messenger name followed by prose
    ("prose-after-app", "add me on WeChat please"),
    # "line" as an ordinary word
    ("line-word", "the line is busy today"),
    # "signal" as an ordinary word
    ("signal-word", "signal is weak at the port"),
    # a WhatsApp number belongs to the phone detector
    ("whatsapp-number", "WhatsApp: +34 612 345 678"),
    # an app name followed by a plain word with no separator
    ("app-then-word", "wechat group chat later"),
    # an explicit separator followed by prose
    ("separator-then-prose", "WhatsApp: same as phone"),
    # the scheme of a profile link is not a handle
    ("link-scheme", "Telegram: https://t.me/"),
    # "find" after a messenger label is prose, the @handle after it is the handle
    ("find-is-prose", "on signal: find me"),
    # "my id is @…" without any messenger named is a mention
    ("intro-no-app", "my id is @north_wind_trade on the portal"),
]


@pytest.mark.parametrize(("row", "text"), HANDLE_NOT_FOUND, ids=[r[0] for r in HANDLE_NOT_FOUND])
def test_handle_not_found(row: str, text: str) -> None:
    """Without a messenger name right before it, or with prose after it, nothing is a handle."""
    assert _detect(HANDLE, text) == (), f"row {row}: unexpected MESSENGER_HANDLE span"


def test_handle_score() -> None:
    """A messenger handle is admitted by context only and scores 0.7."""
    assert [s.score for s in _detect(HANDLE, "WeChat ID: chen_wei77")] == [CONTEXT_SCORE]


# --------------------------------------------------------------------------------------
# Disguises, through the real normaliser and engine
# --------------------------------------------------------------------------------------

DISGUISED = [
    # (row id, message, the disguised value, entity type)
    # full-width digits and plus sign
    (
        "fullwidth-phone",
        "Call me at ＋４４ １６１ ４９６ ００００ ok",
        "＋４４ １６１ ４９６ ００００",
        "PHONE",
    ),
    # full-width digits in a US number with an extension
    (
        "fullwidth-us-ext",
        "reach me: （２１２）５５５-０１４２ｘ１２",
        "（２１２）５５５-０１４２ｘ１２",
        "PHONE",
    ),
    # no-break spaces between the groups
    (
        "nbsp-phone",
        "Tel +34\u00a0912\u00a0345\u00a0678 ok",
        "+34\u00a0912\u00a0345\u00a0678",
        "PHONE",
    ),
    # a zero-width space inside a group
    ("zerowidth-phone", "call me at 0161 49\u200b6 0000", "0161 49\u200b6 0000", "PHONE"),
    # a zero-width joiner between the groups
    ("zerowidth-between", "WhatsApp +55 11\u200d 3456-7890", "+55 11\u200d 3456-7890", "PHONE"),
    # dots as separators
    ("dots-phone", "call me on +33.1.42.68.53.00", "+33.1.42.68.53.00", "PHONE"),
    # dots and a bracketed trunk zero
    ("dots-trunk", "reach me at +33.(0)1.42.68.53.00", "+33.(0)1.42.68.53.00", "PHONE"),
    # Unicode en dashes and a non-breaking hyphen between the groups
    ("unicode-dashes", "call me on 415\u2013555\u20110199", "415\u2013555\u20110199", "PHONE"),
    # katakana middle dots between the groups
    ("middle-dots", "電話 03\u30fb1234\u30fb5678", "03\u30fb1234\u30fb5678", "PHONE"),
    # Arabic-Indic digits
    ("arabic-indic-phone", "phone ٠١٦١ ٤٩٦ ٠٠٠٠", "٠١٦١ ٤٩٦ ٠٠٠٠", "PHONE"),
    # a full-width @ sign and full stop
    ("fullwidth-email", "mail nora.berg＠example．com", "nora.berg＠example．com", "EMAIL"),
    # a handle typed in full-width letters after a full-width messenger label
    (
        "fullwidth-handle",
        "ＷｅＣｈａｔ ＩＤ：ｃｈｅｎ＿ｗｅｉ７７",
        "ｃｈｅｎ＿ｗｅｉ７７",
        "MESSENGER_HANDLE",
    ),
    # a zero-width space inside an address
    ("zerowidth-email", "mail nora.be\u200brg@example.com", "nora.be\u200brg@example.com", "EMAIL"),
]


@pytest.mark.parametrize(("row", "text", "value", "kind"), DISGUISED, ids=[r[0] for r in DISGUISED])
def test_disguised_values_are_covered(
    pattern_redactor: Redactor, row: str, text: str, value: str, kind: str
) -> None:
    """A disguised phone, address or handle is covered whole, in original offsets, with its type."""
    start = text.index(value)
    end = start + len(value)
    [spans] = pattern_redactor.analyze([text])
    assert any(s.start <= start and s.end >= end and s.type == kind for s in spans), (
        f"row {row}: disguised {kind} not covered"
    )


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------


def test_detectors_cover_the_contact_types() -> None:
    """The family's detectors emit exactly EMAIL, PHONE and MESSENGER_HANDLE, all known types."""
    types = frozenset().union(*(d.entity_types for d in detectors()))
    assert types == {"EMAIL", "PHONE", "MESSENGER_HANDLE"} and types <= ENTITY_TYPES


def test_phone_split_across_two_messages_is_redacted_in_both(pattern_redactor: Redactor) -> None:
    """A number whose groups are sent in two messages of one conversation is caught in each."""
    first = Message("m1", "ok, call me on 0161 496", conversation_id="c1", seq=0)
    second = Message("m2", "0000 after lunch", conversation_id="c1", seq=1)
    out = pattern_redactor.redact_batch([first, second])
    assert [s.type for s in out[0].spans] == ["PHONE"] and "496" not in out[0].redacted
    assert [s.type for s in out[1].spans] == ["PHONE"] and "0000" not in out[1].redacted


def test_phone_metadata_is_loaded_and_its_patterns_kept_once_built() -> None:
    """Building the detectors loads every region's metadata and keeps libphonenumber's
    compiled patterns, so a national number tried in dozens of regions does not compile
    them again (or stall on a region's first use) in live traffic."""
    from phonenumbers import re_util

    from redact.detectors.contact import detectors

    detectors()
    cache = getattr(re_util, "_COMPILED_PATTERNS", None)
    assert cache is not None
    phone = next(d for d in detectors() if d.name == "phone")
    phone.detect("Confirmed. You can reach me at 00055 92419 tomorrow")
    kept = len(cache)
    phone.detect("Confirmed. You can reach me at 00055 92419 tomorrow")
    assert kept > 100 and len(cache) == kept  # the second message compiled nothing

# ruff: noqa: RUF001 -- test names in many scripts use non-ASCII letters on purpose.
"""Context-based PERSON detection (redact.detectors.names)."""

from __future__ import annotations

import pytest

from redact.detectors.names import ContextNameDetector, context_names, propagate, scan_name
from redact.span import Span

DETECTOR = ContextNameDetector()


def _found(text: str) -> set[str]:
    return {text[s.start : s.end] for s in DETECTOR.detect(text)}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is anna li and I need 200 pcs", "anna li"),  # lower-case chat after "my name is"
        ("Hi, I'm Anna Li from Acme.", "Anna Li"),  # "I'm" + capitalised name, stops at "from"
        (
            "This is Velimir R. Janković speaking",
            "Velimir R. Janković",
        ),  # initial with a dot, accents
        (
            "attn. Kiki van Brunswijk-Groenendaal.",
            "Kiki van Brunswijk-Groenendaal",
        ),  # particle + hyphen
        ("account holder Glen Jones-Macdonald", "Glen Jones-Macdonald"),  # account holder label
        ("account name: Nova Dekker.", "Nova Dekker"),  # account name with a colon
        ("Beneficiary: Siobhan O'Brien, IBAN follows", "Siobhan O'Brien"),  # apostrophe in surname
        (
            "recipient Ahmad bin Ismail please",
            "Ahmad bin Ismail",
        ),  # Malay particle, stops at please
        ("contact person Omar al-Farouq", "Omar al-Farouq"),  # Arabic al- prefix
        ("consignee Juan Manuel de la Cruz", "Juan Manuel de la Cruz"),  # two particles
        ("Passport 123, holder Tony Harris, address X", "Tony Harris"),  # holder after an id
        ("Kontoinhaber: Jürgen Müller", "Jürgen Müller"),  # German account holder
        ("Empfänger Dieter Weiß", "Dieter Weiß"),  # German recipient, ß
        ("Ich heiße Lena Vogt.", "Lena Vogt"),  # German "my name is"
        ("Meu nome é João da Silva", "João da Silva"),  # Portuguese, particle da
        ("me llamo maría lópez", "maría lópez"),  # Spanish, lower case
        ("Mi nombre es Carlos Ruiz", "Carlos Ruiz"),  # Spanish "mi nombre es"
        (
            "Regards, Univ.Prof. Ahmad Mangold MBA.",
            "Univ.Prof. Ahmad Mangold MBA.",
        ),  # title and degree kept
        ("Thanks, Madeline Stevens", "Madeline Stevens"),  # signature after Thanks
        ("Best,\nJohn Carter", "John Carter"),  # signature on the next line
        ("Cheers, Tom", "Tom"),  # one-word signature
        ("Sincerely, Dr. Klaus-Dieter Nerger", "Dr. Klaus-Dieter Nerger"),  # hyphenated first name
        ("-- Priya Raman", "Priya Raman"),  # dash signature
        ("Mit freundlichen Grüßen, Hans-Georg Ruppert", "Hans-Georg Ruppert"),  # German closing
        ("Atenciosamente, Heloisa Lima", "Heloisa Lima"),  # Portuguese closing
        ("thanks, anna", "anna"),  # lower-case signature at the end of the message
        ("regards, mohammed al rashid", "mohammed al rashid"),  # lower-case name ending in -ed
        ("hi, i'm li ming", "li ming"),  # lower-case name ending in -ing
        (
            "My colleague Dr. Kaique Casa Grande will call you",
            "Dr. Kaique Casa Grande",
        ),  # stops at "will"
        (
            "pay via Western Union to Úrsula del Ibañez, or add me",
            "Úrsula del Ibañez",
        ),  # payment target
        ("Ms. Jones flew to Lisbon", "Ms. Jones"),  # title alone announces a surname
        ("What's your last name? Arcuri", "Arcuri"),  # question then the name
        ("Name: Sieda Batukayev\nPhone: 123", "Sieda Batukayev"),  # form line, stops at line break
        (
            "Regards, Mandy auch Schlauchin MBA.",
            "Mandy auch Schlauchin MBA.",
        ),  # unknown lower-case particle
        ("hi i'm anna from shenzhen", "anna"),  # lower-case chat, weak trigger followed by "from"
        ("Dear Mr. Okonkwo,", "Mr. Okonkwo"),  # greeting with a title
        ("收货人 李超", "李超"),  # Chinese consignee, two Han characters
        (
            "身份证号 430723194703259985，收货人 彭海燕",
            "彭海燕",
        ),  # three Han characters after an id
        (
            "联系人：欧阳娜娜 电话 13800000000",
            "欧阳娜娜",
        ),  # contact person, stops at the phone label
        ("姓名:王先生", "王先生"),  # surname with honorific
        ("account holder Иван Петров", "Иван Петров"),  # Cyrillic name after an English label
        ("Меня зовут Ольга Смирнова", "Ольга Смирнова"),  # Russian "my name is"
        ("recipient 김민준", "김민준"),  # caseless script (Hangul) after a label
        ("받는 사람: 이서연", "이서연"),  # Korean recipient label
        ("受取人：山田太郎", "山田太郎"),  # Japanese recipient label, kanji name
        ("account holder Anna Berg as stated", "Anna Berg"),  # "as" is not the company form "AS"
        ("Anna here, from Bright Star", "Anna"),  # "<name> here" at the start
        ("the card belongs to Mehmet Yılmaz", "Mehmet Yılmaz"),  # ownership phrase, dotless i
        ("the consignee is ZHANG WEI", "ZHANG WEI"),  # capitals after a strong label
        ("my boss mr li said ok", "mr li"),  # lower-case title in lower-case chat
        (
            "Deliver to: Siti Nurhaliza binti Ahmad",
            "Siti Nurhaliza binti Ahmad",
        ),  # block label at the end
        ("Regards, Will Smith", "Will Smith"),  # a common word that is a first name
        ("account holder Grace Young", "Grace Young"),  # common words as first and last name
        ("Thanks, Mark Best", "Mark Best"),  # a common word as surname at the end
        ("Regards, Susan Le", "Susan Le"),  # capitalised particle-like surname at the end
        (
            "My colleague Ben Robinson will call",
            "Ben Robinson",
        ),  # first name that is also a particle
        ("attn. de la Cruz", "de la Cruz"),  # name opening with particles
        ("says Hauta-aho.", "Hauta-aho"),  # reporting verb, hyphenated surname
        ("said Gladys to Logan", "Logan"),  # "said X to Y"
        ("Zak shouted at Scott: stop", "Scott"),  # object of a speech verb
        ("Directed By:    Johannes Varvio", "Johannes Varvio"),  # credit line, spaces after colon
        ("She named him Luís", "Luís"),  # naming phrase
        (
            "Billing address: Ana Dias\n31401 ul. Słowicza 1",
            "Ana Dias",
        ),  # name heading an address block
        ("Ship to: Chidi Okafor\n12 Allen Ave", "Chidi Okafor"),  # ship-to block
    ],
)
def test_finds_name(text: str, name: str) -> None:
    """The name announced by the context phrase is found with exact bounds."""
    assert name in _found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, I'm interested in model XR-9734. What is your price?",  # "I'm" + adjective
        "i'm interested in your product",  # lower-case "i'm" + adjective
        "this is great.",  # lower-case "this is" + adjective
        "Thanks, I will send it today",  # "I" is not an initial
        "Best price for you: EUR 5",  # "Best" closing followed by a common word
        "Our company name is Acme Trading",  # company name, not a person
        "account holder Shenzhen Bright Trading Co., Ltd.",  # company after a person label
        "Dear Sir, please find attached",  # greeting to a common noun
        "This is Tuesday's shipment",  # weekday is not a name
        "Thanks for your inquiry. Unit price is EUR 56.32",  # nothing announces a name
        "Please ship to Shenzhen.",  # a city alone
        "I'm from Germany",  # weak trigger then a preposition
        "MOQ 500 pcs, ETA 20 days",  # capitals that are not names
        "CAN I SPEAK TO A REAL PERSON?!",  # shouting: capitals after a weak trigger are not names
        "Billing address: Unit 5, Main Road",  # address block that starts with no name
        "beneficiary name: PT Sinar Jaya",  # Indonesian company form
        "Dear Valued Customer, thanks",  # greeting to a customer
        "This is Huawei P30 case",  # a letter glued to digits is a model, not an initial
        "Cheers, Bro",  # closing to a friend
        "Best Price Guaranteed",  # "Best" without a comma is no closing
        "Thanks, Looking Forward",  # closing phrase in title case
        "I am 学生 and need samples",  # caseless letters after a weak trigger
        "It's Ramadan so we are slow",  # a holiday
        "Guten Tag, wir sind bereit",  # greeting words are not names
    ],
)
def test_finds_no_name(text: str) -> None:
    """Phrases that look like triggers but announce no person yield nothing."""
    assert _found(text) == set()


def test_possessive_is_left_out() -> None:
    """A possessive 's after a name is not part of the span."""
    text = "My colleague Edi Živković's team will call"
    assert "Edi Živković" in _found(text)


def test_propagation_finds_bare_surname() -> None:
    """A surname seen in a found name is found again on its own in the same message."""
    text = "My colleague Anna Li will call. Li speaks English."
    spans = DETECTOR.detect(text)
    assert any(text[s.start : s.end] == "Li" and s.start > 20 for s in spans)


def test_propagation_respects_case() -> None:
    """A capitalised name does not propagate to the same letters in lower case."""
    text = "Regards, Will Hunt"
    extra = propagate(text + " will", [Span(9, 18, "PERSON")], "t")
    assert extra == []


def test_scan_stops_at_four_name_tokens() -> None:
    """At most four name tokens are read."""
    text = "Anna Maria Luisa Carla Bianca"
    m = scan_name(text, 0, lowercase_ok=False)
    assert m is not None and len(m.tokens) == 4


def test_all_spans_are_person_inside_text() -> None:
    """Every span is typed PERSON and lies within the text."""
    text = "attn. Rosa Monduzzi. Regards, Rosa"
    for s in DETECTOR.detect(text):
        assert s.type == "PERSON" and 0 <= s.start < s.end <= len(text)


def test_context_names_empty_text() -> None:
    """An empty message yields no names."""
    assert context_names("") == ()


def test_scan_is_bounded_on_repeated_titles() -> None:
    """A text of thousands of titles is scanned in bounded work per title and finds no name."""
    assert context_names("Mr. " * 3000) == ()

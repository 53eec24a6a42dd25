"""Context-based PERSON detection (redact.detectors.names)."""

from __future__ import annotations

import re

import pytest

from redact.detectors import names
from redact.detectors.names import (
    ContextNameDetector,
    context_names,
    guess_language,
    propagate,
    scan_name,
)
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


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # Family: cues in other languages announce a name.
        (
            "pago aprovado no nome de Iolanda Bettencourt",
            "Iolanda Bettencourt",
        ),  # pt "in the name of"
        (
            "boleto emitido em nome de Caetano Vilar Ribas.",
            "Caetano Vilar Ribas",
        ),  # pt "em nome de"
        (
            "entregar aos cuidados de Jussara Pimentel dos Reis hoje",
            "Jussara Pimentel dos Reis",
        ),  # pt c/o
        ("Rua das Flores 9, a/c Odete Marins", "Odete Marins"),  # pt "a/c"
        ("dados: nome completo Severino Araújo Lacerda", "Severino Araújo Lacerda"),  # pt full name
        ("titular: Benedita Rangel", "Benedita Rangel"),  # pt/es account holder
        ("factura a nombre de Remedios Urquiza", "Remedios Urquiza"),  # es "a nombre de"
        ("titular de la cuenta Ezequiel Barragán", "Ezequiel Barragán"),  # es account holder
        ("destinatário Ovídio Casagrande", "Ovídio Casagrande"),  # pt recipient
        ("beneficiário: Marisol Quaresma", "Marisol Quaresma"),  # pt beneficiary
        ("paczka do odbioru z rąk Zdzisław Kurpiel", "Zdzisław Kurpiel"),  # pl "z rąk"
        ("Paket z. Hd. Wendelin Oberhuber", "Wendelin Oberhuber"),  # de "z. Hd."
        ("zu Händen von Irmtraud Kessler", "Irmtraud Kessler"),  # de "zu Händen von"
        ("bestellt im Namen von Gerlinde Pfaff", "Gerlinde Pfaff"),  # de "im Namen von"
        ("facture au nom de Gaëtan Lemercier", "Gaëtan Lemercier"),  # fr "au nom de"
        (
            "colis à l’attention de Solène Marchetti",
            "Solène Marchetti",
        ),  # fr, typographic apostrophe
        # Family: Han, Hangul and kanji names after a label inside a Latin-script message.
        ("beneficiary 박서준 will sign", "박서준"),  # Hangul after an English cue
        ("From: 高桥健太 <sales@example.jp>\nSubject: quote", "高桥健太"),  # mail header, Han name
        ("loan form: 刘志强, SSN follows", "刘志强"),  # any label with a colon, then a comma
        ("Ansprechpartner: 黄丽萍", "黄丽萍"),  # German label, Han name
        (
            "send it to IBAN GB00 XXXX (周文涛). thanks",
            "周文涛",
        ),  # Han name in parentheses after an IBAN
        # Family: lower-case names with letters outside ASCII after "this is" / "I'm".
        (
            "this is đỗ minh châu from Lotus Pack, call me",
            "đỗ minh châu",
        ),  # Vietnamese, three words
        (
            "hi, i'm bartłomiej wąsik from Gdynia",
            "bartłomiej wąsik",
        ),  # Polish in a capitalised message
        ("this is kovács bence speaking", "kovács bence"),  # Hungarian
        # Family: mail headers and names in parentheses.
        ("From: Nguyễn Thị Hằng <ops@example.vn>", "Nguyễn Thị Hằng"),  # name before <address>
        ("Von: Ludger Hamann <l.hamann@example.de>", "Ludger Hamann"),  # German header word
        (
            "pls transfer to DE00 1234 (Ifeoma Chukwu). deadline friday",
            "Ifeoma Chukwu",
        ),  # after a transfer
        # Family: a name stops at an identity label in capitals.
        (
            "favorecido Aparecida Souto Nunes CNPJ 00.000.000/0001-00",
            "Aparecida Souto Nunes",
        ),  # CNPJ
        ("holder Ruairí Mac Giolla CPF 000", "Ruairí Mac Giolla"),  # CPF
        ("consignee Teodoro Báez SSN 000-00-0000", "Teodoro Báez"),  # SSN
        (
            "aos cuidados de Elói Tavares pedido INV 778",
            "Elói Tavares",
        ),  # lower-case word then a code
        # Cues, titles and closings of more languages.
        (
            "Buenas tardes, le escribe Maite Arrieta de Textiles Norte.",
            "Maite Arrieta",
        ),  # es "writing to you is", stops before "de" + company
        ("qualquer coisa fale com a Iracema.", "Iracema"),  # pt "talk to"
        ("entregar aos cuidados da dona Zilá Moura", "dona Zilá Moura"),  # lower-case pt title
        ("Kontakt: Henning Lübbers, Tel. 0171", "Henning Lübbers"),  # contact label
        ("Bitte an Herrn Volkmar Seidl senden", "Herrn Volkmar Seidl"),  # German dative title
        ("Paczka wysłana. Pozdrawiam, Jadwiga Nowicka", "Jadwiga Nowicka"),  # Polish closing
        ("Kargo yolda. Saygılarımla, Tuncay Ersoy", "Tuncay Ersoy"),  # Turkish closing
        ("Contact: 松本 陽菜 (export)", "松本 陽菜"),  # Japanese name written with a space
        ("mas o contato é o Wendel, ele responde", "Wendel"),  # pt "the contact is"
        # Family: "my name is" / "I am" in languages of chat without a model.
        ("ik ben jan de vries, kan ik overmaken", "jan de vries"),  # nl "I am", lower case
        ("Ik ben Jan de Vries, tot morgen", "Jan de Vries"),  # nl "I am", capitalised
        (
            "nazywam się anna nowak, przelew na PL61 1090 1014",
            "anna nowak",
        ),  # pl "my name is", lower case beside an IBAN in capitals
        ("mam na imię Katarzyna Wróbel", "Katarzyna Wróbel"),  # pl "my first name is"
        ("jestem tomasz zieliński, dzwoniłem rano", "tomasz zieliński"),  # pl "I am", two words
        ("benim adım ayşe yılmaz, telefonum 0532", "ayşe yılmaz"),  # tr "my name is"
        ("Merhaba, adım Emre Kaya. Kargo ne zaman?", "Emre Kaya"),  # tr "adım" opening a clause
        ("ismim zeynep arslan", "zeynep arslan"),  # tr "my name is" (another word)
        ("Jmenuji se Petr Dvořák, pošlu peníze", "Petr Dvořák"),  # cs "my name is"
        ("Jag heter Erik Lindqvist, swisha till mig", "Erik Lindqvist"),  # sv "my name is"
        ("Nama saya Budi Santoso, bisa kirim?", "Budi Santoso"),  # id "my name is"
        ("mă numesc andrei popescu", "andrei popescu"),  # ro "my name is", lower case
        # Family: accented lower-case names after cues that only a person follows.
        (
            "pls follow up with józef kowalczyk next week",
            "józef kowalczyk",
        ),  # the sentence runs on after the name
        ("you can talk to ábel szűcs about the invoice", "ábel szűcs"),  # "talk to"
        # Family: an account name being corrected.
        ("the name is wrong, please change it to Nadia Okafor", "Nadia Okafor"),  # "change it to"
        ("Could you update the holder to Ruth Abebe?", "Ruth Abebe"),  # "update the holder to"
        # Family: recipient and name labels of Turkish and Vietnamese.
        ("havale yapın, alıcı adı Kerem Aydın", "Kerem Aydın"),  # tr "recipient name"
        ("Alıcı adı soyadı: Selin Koç", "Selin Koç"),  # tr "recipient name and surname"
        ("chào shop, mình tên Phạm Minh Anh nha", "Phạm Minh Anh"),  # vi "my name is" (chat)
        ("tên tôi là Đặng Quốc Bảo", "Đặng Quốc Bảo"),  # vi "my name is"
        # Family: a writer who opens sentences in lower case writes names in lower case,
        # even beside a company name copied with its capitals.
        (
            "ok. i'm marta kowal, buyer at Nordic Tools AB",
            "marta kowal",
        ),  # en "I'm" in lower-case style
        ("goedemiddag. ik ben joost de graaf, namens Vink Techniek", "joost de graaf"),  # nl
    ],
)
def test_finds_name_with_exact_bounds(text: str, name: str) -> None:
    """Names announced in other languages, scripts and mail shapes are found with exact bounds."""
    assert name in _found(text)


@pytest.mark.parametrize(
    ("text", "not_name"),
    [
        (
            "favorecido Aparecida Souto Nunes CNPJ 00.000.000/0001-00",
            "CNPJ",
        ),  # label not in the name
        (
            "aos cuidados de Elói Tavares pedido INV 778",
            "pedido",
        ),  # the next phrase is not the name
        ("aos cuidados de Elói Tavares pedido INV 778", "INV"),  # an order code is not the name
    ],
)
def test_name_does_not_overrun(text: str, not_name: str) -> None:
    """A found name does not run into the label or code that follows it."""
    assert not any(not_name in n for n in _found(text))


@pytest.mark.parametrize(
    "text",
    [
        "the price 价格 is 5 USD",  # Han word after an ordinary English word
        "Product: 手机壳, 500 pcs",  # Han product after a product label
        "consignee 浙江省宁波市北仑区",  # a province-city run is an address, not a name
        "I am 学生 and need samples",  # caseless letters after a weak cue
        "this is ótimo, obrigado",  # a Portuguese word after "this is"
        "From: sales team <sales@example.com>",  # lower-case sender words are no name
        "see the attachment (Final Version). thanks",  # parentheses without a payment cue
        "Beneficiario: Comercializadora Andina S.A.C.",  # dotted capitals are a company form
        "Goedemorgen, de levering komt morgen",  # Dutch greeting
        "Merhaba, siparişiniz kargoya verildi",  # Turkish greeting
        "Contact: Sales Department",  # a department after a contact label
        "o boleto sai no nome da empresa",  # "in the name of" + a lower-case noun
        "ik ben blij, dank je wel",  # nl "I am glad": one word after "ik ben" is a state
        "ik ben er morgen, tot dan",  # nl "I am there": Dutch words, not a name
        "jestem zadowolony!",  # pl "I am satisfied": one word after "jestem"
        "bir adım daha kaldı, kargo yolda",  # tr "adım" (a step) inside a clause
        "talk to the café owner tomorrow",  # accented word after an article: no name
        "please change it to Express shipping",  # a capitalised option, not a person
        "Hi, I'm interested in Model X",  # capitalised sentences: "interested" is no name
        "ok. i'm waiting for Nordic Tools AB to confirm",  # lower-case style, no name after cue
    ],
)
def test_finds_no_name_in_other_scripts_and_shapes(text: str) -> None:
    """Shapes close to the new cues that announce no person yield nothing."""
    assert _found(text) == set()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("alles klar, danke", "de"),  # German chat with no capital
        ("Hallo, ja. Preis 40 EUR netto, Lieferung bis Freitag", "de"),  # German with nouns
        ("vale, perfecto", "es"),  # two Spanish words
        ("quiero que me devuelvan el dinero", "es"),  # Spanish sentence
        ("temos sim, fica 40 por unidade", "pt"),  # Portuguese sentence
        ("merci, je vous envoie le colis demain", "fr"),  # French sentence
        ("grazie, il pacco è già partito", "it"),  # Italian sentence
        ("thanks, please send the invoice", "en"),  # English
        ("hoi, is de stoel nog beschikbaar? ik kan morgen ophalen", "nl"),  # Dutch chat
        ("merhaba, ürün hala satılık mı? kargo ile gönderir misiniz", "tr"),  # Turkish chat
        ("dzień dobry, czy rower jest jeszcze dostępny?", "pl"),  # Polish chat
        ("rua olmos 44 na praia, belfast", ""),  # one foreign word proves nothing
        ("12345", ""),  # no words
        ("ja, alles hier", "de"),  # words German and Dutch share count for both; German first
        ("pedido pronto, boa tarde", "pt"),  # "pedido" and "tarde" are Spanish too
    ],
)
def test_guess_language(text: str, lang: str) -> None:
    """The language guess follows the function words of the message."""
    assert guess_language(text) == lang


def _first_literals(pattern: re.Pattern[str]) -> set[str]:
    """The characters a match of ``pattern`` can open with, read from CPython's regex parser.

    Zero-width assertions are stepped over; an alternative opening with anything but a
    literal character fails the test, so a new kind of trigger gets looked at.
    """
    from re import _constants as sre
    from re import _parser

    def first(items: list[tuple[object, object]]) -> tuple[set[str], bool]:
        out: set[str] = set()
        for op, av in items:
            if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
                continue
            if op is sre.LITERAL:
                return out | {chr(av)}, False
            if op is sre.SUBPATTERN:
                chars, empty = first(list(av[3]))
            elif op is sre.BRANCH:
                results = [first(list(alt)) for alt in av[1]]
                chars = set().union(*(c for c, _ in results))
                empty = any(e for _, e in results)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                chars, empty = first(list(av[2]))
                empty = empty or av[0] == 0
            else:
                raise AssertionError(f"an alternative opens with {op}")
            out |= chars
            if not empty:
                return out, False
        return out, True

    chars, empty = first(list(_parser.parse(pattern.pattern, pattern.flags)))
    assert not empty
    return chars


_EVERY_CHARACTER = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


@pytest.mark.parametrize(
    ("pattern", "opening"),
    [
        (names._STRONG_RE, r"[^\W\d_]"),  # strong triggers ("my name is", "attn.")
        (names._WEAK_RE, r"[^\W\d_]"),  # weak triggers ("I'm", "this is")
        (names._CLOSING_RE, r"[^\W\d_]|[-—]"),  # closings, the signature dashes included
        (names._BLOCK_RE, r"[^\W\d_]"),  # address labels ("Ship to:")
        (names._PAREN_LEAD_RE, r"[^\W\d_]"),  # payment leads before "(Name)"
    ],
)
def test_trigger_lookahead_changes_no_match(pattern: re.Pattern[str], opening: str) -> None:
    """Every character that can open a trigger (any case) passes the lookahead before it."""
    firsts = re.compile("|".join(map(re.escape, sorted(_first_literals(pattern)))), pattern.flags)
    ahead = re.compile(opening, pattern.flags)
    openers = {m.group() for m in firsts.finditer(_EVERY_CHARACTER)}
    assert openers
    assert [hex(ord(c)) for c in sorted(openers) if not ahead.fullmatch(c)] == []


@pytest.mark.parametrize(
    ("text", "upper"),
    [
        ("SEND TO ANNA", True),  # eight capitals, nothing else
        ("SEND ANA", False),  # seven capitals are too few to tell
        ("SEND TO ANNa", False),  # one lower-case letter
        ("ÉCOLE ANNA LI é 12", True),  # letters outside ASCII are not counted
        ("12 34 56 78 90", False),  # no letters at all
    ],
)
def test_upper_chat(text: str, upper: bool) -> None:
    """A message in capitals has at least eight ASCII letters and none in lower case."""
    assert names._is_upper_chat(text) is upper


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hello. Anna Li here", "Anna Li"),  # after a sentence, "here" ends the message
        ("ok!\nBruno Diaz speaking, how can I help", "Bruno Diaz"),  # on a new line
        ("hi Anna Li  HERE", "Anna Li"),  # any case, any run of spaces before "here"
    ],
)
def test_name_before_here_or_speaking(text: str, name: str) -> None:
    """A name opening a sentence and followed by "here" or "speaking" is found."""
    assert name in _found(text)


@pytest.mark.parametrize(
    ("text", "lower"),
    [
        ("ok thanks, see you", True),  # no capital anywhere
        ("prima. ik ben jan, inkoop bij Lumen Interieur BV", True),  # no sentence opens with one
        ("Prima. ik ben jan", False),  # the first sentence opens with a capital
        ("prima. Ik ben jan", False),  # a later sentence does
        ("ok.\nAnna", False),  # a line opens with a capital
        ("12 pcs. 40 EUR", True),  # codes and acronyms aside, no capital
        ("12 34, 56", False),  # no letters at all
        ("ok, NL91 ABNA. Sent", False),  # a sentence after the codes opens with a capital
        ("ok, send it to Anna", True),  # a capital inside a sentence only
    ],
)
def test_is_lower_chat(text: str, lower: bool) -> None:
    """Lower-case chat: no capital in a word, or no sentence opening with one."""
    assert names.is_lower_chat(text) is lower


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Ship to: Ana Dias\n12 Rua Augusta", "Ana Dias"),  # an address label's colon
        ("发件人：Ludger Hamann <l.hamann@example.de>", "Ludger Hamann"),  # a full-width colon
        ("please pay to account 4471 (Ana Dias)", "Ana Dias"),  # a payment lead's parenthesis
        ("wire the deposit to IBAN below (Ana Dias) today", "Ana Dias"),  # "wire" leads too
    ],
)
def test_names_after_labels_with_colons_and_parentheses(text: str, name: str) -> None:
    """A name after an address label, a mail header or a payment lead in parentheses."""
    assert name in _found(text)


@pytest.mark.parametrize("pattern", [names._STRONG_RE, names._WEAK_RE, names._CLOSING_RE])
def test_trigger_groups_open_with_letters_no_character_shares(pattern: re.Pattern[str]) -> None:
    """No character matches two opening letters of a grouped trigger alternation (any case),
    so the groups never compete for a position and their order does not matter."""
    owner: dict[str, str] = {}
    for letter in _first_literals(pattern):
        for m in re.compile(re.escape(letter), pattern.flags).finditer(_EVERY_CHARACTER):
            assert owner.setdefault(m.group(), letter) == letter


@pytest.mark.parametrize(
    ("part", "alternatives"),
    [
        ("attn\\.?:?", ["attn\\.?:?"]),  # a letter first: as it is
        ("(?:no|em)\\s+nome", ["no\\s+nome", "em\\s+nome"]),  # one per choice, in order
        ("(?:first\\s+|sur)?name", ["first\\s+name", "surname", "name"]),  # optional last
        ("(?:a(?:b|c)|d)e", ["a(?:b|c)e", "de"]),  # choices nested in a choice stay whole
        ("(?:a|(?:b|c)d)", ["a", "bd", "cd"]),  # a choice opening a choice is written out
        ("(?:x[(|]|y)z", ["x[(|]z", "yz"]),  # a parenthesis and a bar in a class are characters
        ("(?:x\\(|y)z", ["x\\(z", "yz"]),  # so is an escaped parenthesis
        ("--+", ["--+"]),  # a signature dash
    ],
)
def test_triggers_are_written_out_by_opening_choice(part: str, alternatives: list[str]) -> None:
    """A trigger opening with a choice becomes one alternative per choice, in match order."""
    assert names._written_out(part) == alternatives


@pytest.mark.parametrize(
    "part",
    [
        "\\bname",  # an escape first
        "(?<!x)name",  # a look-around first
        "a?name",  # an optional first letter
        "(?:a|b)*c",  # a repeated opening choice
        "(?:a|b)??c",  # a lazy optional one (tried last, not first)
        "name|nome",  # two alternatives in one trigger
    ],
)
def test_trigger_shapes_that_cannot_be_grouped_are_refused(part: str) -> None:
    """A trigger the grouping cannot rewrite exactly raises instead of changing matches."""
    with pytest.raises(ValueError):
        names._written_out(part)

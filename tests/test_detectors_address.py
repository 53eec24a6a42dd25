"""Whole street addresses (redact.detectors.address); every address here is made up."""

# Chinese punctuation and full-width digits are the test data

from __future__ import annotations

import pytest

from redact import Redactor
from redact.detectors.address import AddressDetector, detectors, tokenize
from redact.redactor import Message
from redact.registry import pattern_detectors

DETECTOR = AddressDetector()


def _found(text: str) -> list[str]:
    return [text[s.start : s.end] for s in DETECTOR.detect(text) if s.type == "ADDRESS"]


def _typed(text: str) -> list[tuple[str, str]]:
    return sorted((s.type, text[s.start : s.end]) for s in DETECTOR.detect(text))


FOUND = [
    # US: house number, street type, unit, city, state code and ZIP, after "ship to"
    (
        "Please ship to 4821 Maple Hollow Drive Apt. 12, Fernbrook, OR 97031, thanks",
        "4821 Maple Hollow Drive Apt. 12, Fernbrook, OR 97031",
    ),
    # US without a trigger: street type + suite + state/ZIP are evidence enough
    (
        "Our new office: 77 Quarry Lane Suite 300, Brindle, TX 75001.",
        "77 Quarry Lane Suite 300, Brindle, TX 75001",
    ),
    # US military mail: unit and box, DPO and region code
    ("Send it to Unit 3141 Box 5926, DPO AE 09123 please", "Unit 3141 Box 5926, DPO AE 09123"),
    # US military mail: PSC box
    ("PSC 8802, Box 1147, APO AP 96555", "PSC 8802, Box 1147, APO AP 96555"),
    # PO box with city and ZIP
    ("You can mail it to PO Box 4410, Harwick, IL 62704.", "PO Box 4410, Harwick, IL 62704"),
    # P.O. Box written with dots
    ("The bus station is on P.O. Box 88", "P.O. Box 88"),
    # UK: house number, street, town, postcode
    ("My address: 19 Larkspur Road, Oakhampton, KT4 9QW", "19 Larkspur Road, Oakhampton, KT4 9QW"),
    # UK flat before the street
    (
        "ship to Flat 6B, Cobble Way, Millbridge, LS2 7PX, attn. Jo",
        "Flat 6B, Cobble Way, Millbridge, LS2 7PX",
    ),
    # German hyphenated compound street with a number range, postcode and city
    (
        "Lieferadresse: Hanna-Berthold-Allee 14-2, 26123 Wendlingen",
        "Hanna-Berthold-Allee 14-2, 26123 Wendlingen",
    ),
    # German street type as a separate word, no trigger
    ("The office is on Gmundner Strasse 41, 4020 Linz.", "Gmundner Strasse 41, 4020 Linz"),
    # German abbreviated compound street "…str."
    ("ship to Lindenbergstr. 7, 01099 Neustadt", "Lindenbergstr. 7, 01099 Neustadt"),
    # Austrian house/stair/door triple
    (
        "Rechnungsadresse: Praterkai Straße 120/3/12, 1020 Wien",
        "Praterkai Straße 120/3/12, 1020 Wien",
    ),
    # French: number, comma, lower-case street type, postcode and hyphenated town
    ("Adresse : 27, rue Delorme, 44310 Port-sur-Loire", "27, rue Delorme, 44310 Port-sur-Loire"),
    # French street type without a house number, postcode and town after it
    ("ship to allée des Tilleuls, 69120 Vaulx", "allée des Tilleuls, 69120 Vaulx"),
    # Spanish: prefix type, particle, door number, city and postcode after commas
    (
        "Dirección: Calle de Ramiro Soto 9 Puerta 4 , Toledo, 45002",
        "Calle de Ramiro Soto 9 Puerta 4 , Toledo, 45002",
    ),
    # Italian: street, comma, house number, CAP, town, province code
    (
        "ship to Vicolo Lanterna, 18, 40121, Borgo Alto (BO), attn. Ugo",
        "Vicolo Lanterna, 18, 40121, Borgo Alto (BO)",
    ),
    # Italian street type not in any list: words, a lone house number, then CAP
    (
        "ship to Canale Brenti, 40, 30121, Ca' Rossa (VE)",
        "Canale Brenti, 40, 30121, Ca' Rossa (VE)",
    ),
    # Portuguese/Brazilian: Rua + particle, CEP with a hyphen
    (
        "Endereço: Rua das Acácias 310, 04512-020 São Vicente",
        "Rua das Acácias 310, 04512-020 São Vicente",
    ),
    # Dutch compound street, postcode with letters, town
    ("Bezorgen op Lindengracht 58, 1015 KR Ravenstad", "Lindengracht 58, 1015 KR Ravenstad"),
    # Dutch postcode written without a space
    ("ship to Berkenlaan 9, 2582AB, Duinwijk", "Berkenlaan 9, 2582AB, Duinwijk"),
    # Portuguese street, lone house number, hyphenated postcode, no trigger
    ("Rua Direita, 40, 1100-148 Lisboa, Portugal", "Rua Direita, 40, 1100-148 Lisboa, Portugal"),
    # Singapore: Malay street type, "#03-01" unit, six-digit postcode
    (
        "pls send the sample to 15 Lorong Tembusu, #03-01, Singapore 328781",
        "15 Lorong Tembusu, #03-01, Singapore 328781",
    ),
    # Turkish: "Cad." and "No:" before the house number
    ("Ünvan: Cumhuriyet Cad. No: 15, Kadıköy", "Cumhuriyet Cad. No: 15, Kadıköy"),
    # lower-case chat with a lower-case UK postcode
    ("my new address is flat 3, 15 elm lane, leeds ls1 4ap", "flat 3, 15 elm lane, leeds ls1 4ap"),
    # town name with a lower-case particle
    (
        "Unit 2, 10-12 High Street, Walton upon Thames KT12 1AA",
        "Unit 2, 10-12 High Street, Walton upon Thames KT12 1AA",
    ),
    # Japanese block number and postcode, romanised
    (
        "Send to: 2-4-1 Higashi-Ikebukuro, Toshima-ku, Tokyo 170-0013",
        "2-4-1 Higashi-Ikebukuro, Toshima-ku, Tokyo 170-0013",
    ),
    # Swedish compound street and spaced postcode
    ("Leveransadress: Kvarngatan 12, 118 47 Sjöby", "Kvarngatan 12, 118 47 Sjöby"),
    # Danish compound street and district letter
    ("send to Elmegade 45, 2200 Nørrebro N", "Elmegade 45, 2200 Nørrebro N"),
    # Polish: ul. abbreviation, flat "m.", hyphenated postcode
    (
        "ship to ul. Kwiatowa 10/12 m. 5, 00-590 Grodzisk",
        "ul. Kwiatowa 10/12 m. 5, 00-590 Grodzisk",
    ),
    # Hungarian: separate "u." street type, house number with a dot, new line
    ("Address:\nKossuth Lajos u. 15.\nTiszakert, 3300", "Kossuth Lajos u. 15.\nTiszakert, 3300"),
    # a phone number after the postcode is left to the phone detector
    ("ship to 8 Fern Street, Bristol BS1 4DJ, 0117 496 0321", "8 Fern Street, Bristol BS1 4DJ"),
    # French trigger verb, the street type in lower case
    (
        "Merci de livrer à 8 impasse des Lilas, 31000 Toulouse",
        "8 impasse des Lilas, 31000 Toulouse",
    ),
    # Spanish trigger verb with "en"
    (
        "Por favor entregar en Avenida del Puerto 12, 46021 Valencia",
        "Avenida del Puerto 12, 46021 Valencia",
    ),
    # a corner whose house number ends in a dot
    ("the corner of Fő utca 9. and Kert Street", "the corner of Fő utca 9. and Kert Street"),
    # Multiline address after a label, name on the line above left out
    (
        "Billing address: Mara Quill\n  88 Harbour Terrace\n  Apt. 4\n  Westby\n  New Zealand 6011",
        "88 Harbour Terrace\n  Apt. 4\n  Westby\n  New Zealand 6011",
    ),
    # Multiline German address block ending with the country
    ("ship to:\nBirkenweg 5\n10115 Talstadt\nGermany", "Birkenweg 5\n10115 Talstadt\nGermany"),
    # Leading junk number + Nordic street + unit + city + country + postcode
    (
        "I'll meet you at 5120 Koivukatu 31 Apt. 407\nLAHTI\n Finland 15140 after lunch.",
        "5120 Koivukatu 31 Apt. 407\nLAHTI\n Finland 15140",
    ),
    # A corner of two streets, taken whole
    (
        "Meet me at the corner of Elm Street 4 and Harlow Avenue",
        "the corner of Elm Street 4 and Harlow Avenue",
    ),
    # "X and <street>" naming an intersection after a trigger
    ("Please return to Nils and Fjordveien 21 in case of an issue.", "Nils and Fjordveien 21"),
    # Street without a number, only after a preposition
    ("these early shows on Copper Mill Road were loud", "Copper Mill Road"),
    # Brazilian: spaced dashes separate district and state like commas do
    (
        "our address: Av. Atlântica, 2200 - Copacabana, Rio de Janeiro - RJ, 22041-001",
        "Av. Atlântica, 2200 - Copacabana, Rio de Janeiro - RJ, 22041-001",
    ),
    # Hong Kong: flat, floor "12/F", block, street, district
    (
        "deliver to Flat 7, 12/F, Block C, 41 Harbour Road, Wan Chai",
        "Flat 7, 12/F, Block C, 41 Harbour Road, Wan Chai",
    ),
    # Chinese address written in English: room, building, "No." number, road, district, postcode
    (
        "Our factory: Room 801, Building 3, No. 16 Hongli Road, Futian District, Shenzhen 518034",
        "Room 801, Building 3, No. 16 Hongli Road, Futian District, Shenzhen 518034",
    ),
    # Taiwanese lane/section address without a postcode
    (
        "No. 9, Lane 120, Section 3, Minsheng Road, Taichung",
        "No. 9, Lane 120, Section 3, Minsheng Road, Taichung",
    ),
    # Canadian abbreviated boulevard and postcode
    ("ship to 400 Boul. Taché O, Gatineau, QC J9A 1L8", "400 Boul. Taché O, Gatineau, QC J9A 1L8"),
    # Irish Eircode after a Dublin district number
    ("my home: 3 Ivy Avenue, Dublin 6, D06 F2X4", "3 Ivy Avenue, Dublin 6, D06 F2X4"),
    # German street starting with a capitalised particle, company before it left out
    ("Lieferung an Becker GmbH, Am Kanal 7, 28217 Bremen", "Am Kanal 7, 28217 Bremen"),
    # Shouted all-capitals chat: the trigger words stay out
    ("PLEASE SHIP TO 40 MILL STREET, BATH BA1 1AA", "40 MILL STREET, BATH BA1 1AA"),
    # All-lower-case chat
    (
        "ship to 55 larch avenue suite 3, dunmore, ontario",
        "55 larch avenue suite 3, dunmore, ontario",
    ),
    # Chinese: province, city, district, road, number, building, room; stops before the consignee
    (
        "收货地址：江苏省南京市鼓楼区中山路128号B栋902室，收货人 王明",
        "江苏省南京市鼓楼区中山路128号B栋902室",
    ),
    # Chinese without a label: province + city + road + number inside a sentence
    ("请寄到浙江省宁波市海曙区药行街66号，谢谢", "浙江省宁波市海曙区药行街66号"),
    # Dutch house number with a hyphenated letter and a spaced postcode
    (
        "deliver to Prinsengracht 87-C, 1015 DK Amsterdam, thanks",
        "Prinsengracht 87-C, 1015 DK Amsterdam",
    ),
    # Brazilian "City/UF, CEP 00000-000" tail
    (
        "entrega: Rua das Flores 410, Batel, Londrina/PR, CEP 86010-350. obrigado",
        "Rua das Flores 410, Batel, Londrina/PR, CEP 86010-350",
    ),
    # one-word city before the street, right after a label
    ("Lieferadresse: Wien, Praterstraße 18, 1020 danke", "Wien, Praterstraße 18, 1020"),
    # Dutch Roman-numeral floor after the house number
    ("Adres: Damrak 70-III, 1012 LM Amsterdam", "Damrak 70-III, 1012 LM Amsterdam"),
    # a capitalised delivery verb at the start of the run stays out
    ("Bezorgen op Overtoom 12-hs, 1054 HK Amsterdam", "Overtoom 12-hs, 1054 HK Amsterdam"),
    # Spanish and French label lines after the address stay out
    ("Dirección: Calle Alcalá 45, 28014 Madrid\nContacto: Lucía", "Calle Alcalá 45, 28014 Madrid"),
    # lower-case Spanish: the delivery verb and "en" stay out of the address
    ("entrega en av. rivadavia 4410, caba", "av. rivadavia 4410, caba"),
    # Korean road-name address with a floor
    ("endereço: 대전광역시 유성구 대학로 291, 3층 por favor", "대전광역시 유성구 대학로 291, 3층"),
    # Korean province, city and district before the road
    ("배송지 경기도 수원시 영통구 광교로 45 입니다", "경기도 수원시 영통구 광교로 45"),
    # a label line after the address stays out (German contact label)
    (
        "Versandadresse: Hauptstraße 9, 50667 Köln\nAnsprechpartner: Frau Weber",
        "Hauptstraße 9, 50667 Köln",
    ),
    # a label line after the address stays out (English, two-word label)
    ("Ship to: 12 Elm Road, Leeds LS6 2AB\nContact person: Dana", "12 Elm Road, Leeds LS6 2AB"),
]


@pytest.mark.parametrize(("text", "address"), FOUND)
def test_address_found_whole(text: str, address: str) -> None:
    """The detector returns the whole address, from street to postcode/city/country, as one span."""
    assert _found(text) == [address]


NOT_FOUND = [
    "Unit price is $88944, MOQ 1000 units. Lead time 15 days.",  # price, quantity, lead time
    "What is your price for 25000 units?",  # quantity
    "I'm interested in model MX-1278A, HS code 8471.30.00.",  # product and HS codes
    "I placed order 730215736819303642 yesterday.",  # order number
    "Shipped. Tracking number 1Z2UL9GXGEMNUXL3FP, ETA 15/09/2026.",  # tracking number and date
    "We can ship 500 Pieces to Hamburg Port by 20 May 2026.",  # quantity, port, date
    "Meeting on Monday at 10 AM, Room 5 of Building 3.",  # time and room in prose
    "Flight LH 400 lands at Terminal 1, Gate 23.",  # airport words that look like street types
    "Order 12345 was delivered to Warehouse 7 on 2026-01-02.",  # "delivered to" + one word + number
    "The Wall Street Journal reported 5 new tariffs.",  # a street type in a newspaper name
    "The Model 3 Pro and Model 5 Max are in stock, 2000 pcs each.",  # product names and stock
    "Please transfer EUR 5000 to IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX.",  # bank data
    "Windows 10 and Office 365 licenses, 50 seats.",  # product names with numbers
    "Our address is on the invoice.",  # trigger without an address
    "Thanks, Shenzhen Lianfa Trading Co., Ltd.",  # company name
    "我们在深圳市有3个仓库，价格是100元",  # Chinese city in prose, no street
    "Invoice No. 2024-001 for Section 5 of the contract.",  # "No." and "Section" in a document
    "Building 5 of our factory has 200 workers.",  # a building number in prose
    "Visit our stand at Messe Frankfurt, Hall 11, Stand 20.",  # trade-fair booth
    "Model No. 5500 - 220V, 50Hz, CE and RoHS.",  # model number and a dash
    "I AM IN THE OFFICE UNTIL 5 PM TODAY",  # all-capitals prose with a time
    "Container No. MSKU 1234567, Seal No. 889900",  # shipping container and seal numbers
    "Total 1,250,000 Pieces to Hamburg, 12,500 Cartons",  # thousands separators are amounts
    "Available in 3 Colors 5 Sizes, MOQ 500.",  # number-word-number quantity list
    "We ship to 45 Countries, 120 Cities.",  # trigger followed by quantities
    "Price is at 25 Dollars 50 Cents.",  # money in words after "at"
    "Send CAD 500 to the account, Ref 2231.",  # a currency code is not the Turkish "Cad."
    "ETA 15-09-26 at 10:00, please confirm.",  # a short date is not a Japanese block number
    "ok, billed $1,200 to card ending 7731 for order 88120",  # a card's last digits in lower case
    "precio €4200 c/u, mínimo 10",  # Spanish "c/u" (each) after a price is no calle
    "hola! 950 c/u y envío gratis",  # "c/u" after a bare number
    "cobrado a la tarjeta terminada en 5520 para el pedido 3391",  # Spanish card last digits
    "cobrado no cartão final 5520 do pedido 3391",  # Portuguese card last digits
    "la carta scade, valida fino al 03/28 CVV 551",  # Italian "al" before a date is no aleja
]


@pytest.mark.parametrize("text", NOT_FOUND)
def test_business_text_left_alone(text: str) -> None:
    """Prices, quantities, dates, order/tracking/product codes and prose are not addresses."""
    assert _found(text) == []


def test_spans_carry_address_type_and_detector_name() -> None:
    """Every span is typed ADDRESS and names this detector."""
    spans = DETECTOR.detect("ship to 12 Birch Road, Hollis, NH 03049")
    assert [(s.type, s.detector) for s in spans] == [("ADDRESS", "address")]


def test_lower_case_word_before_and_stays_out() -> None:
    """Only a capitalised name joins "X and <street>"; "samples and" is prose."""
    text = "Please send the samples and 12 Birch Road, Leeds LS6 2AB"
    assert _found(text) == ["12 Birch Road, Leeds LS6 2AB"]


def test_two_addresses_in_one_message() -> None:
    """Two addresses joined by prose come back as two spans."""
    text = "I once lived in 4 Ash Lane, Tilby, NY 10001. I now live in Rosenweg 3, 80331 Au."
    assert _found(text) == ["4 Ash Lane, Tilby, NY 10001", "Rosenweg 3, 80331 Au"]


def test_registered_in_pattern_detectors() -> None:
    """The registry runs the address detector with the other pattern detectors."""
    assert any(d.entity_types == frozenset({"ADDRESS", "PERSON"}) for d in pattern_detectors())
    assert detectors() == (DETECTOR,)


@pytest.mark.parametrize(
    "text",
    [
        "Aaa 12 " * 15000,  # capitalised words and numbers, one endless run
        "Apt. 5 Suite 6 Box 7 " * 5000,  # unit words, every one evidence
        "广东省深圳市南山区" * 11000,  # Han administrative units without a street
        "地址：" + "市" * 100000,  # a label followed by a 100 kB Han run
        "1, " * 33000,  # commas and short numbers
        "u. 5. " * 16000,  # abbreviation dots after numbers
        "the corner of Main 5 and " * 4000,  # corner phrases chained
    ],
)
def test_adversarial_100kb_input_finishes_with_bounded_spans(text: str) -> None:
    """100 kB of address-like noise is scanned (linear patterns); no span outgrows an address."""
    spans = DETECTOR.detect(text)
    assert all(s.end - s.start <= 400 for s in spans)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # through the engine: the whole address, not the name after "attn."
        (
            "Please ship to 9 Quay Street, Portlow, ME 04101, attn. Dana.",
            "9 Quay Street, Portlow, ME 04101",
        ),
        # full-width digits and a no-break space are normalised before detection, offsets map back
        (
            "ship to Hafenstraße\u00a0１２, ２０４５９ Kiel",
            "Hafenstraße\u00a0１２, ２０４５９ Kiel",
        ),
        # zero-width characters inside the house number do not hide it
        ("ship to 4\u200b2 Wren Road, Ely, CB7 4DL", "4\u200b2 Wren Road, Ely, CB7 4DL"),
    ],
)
def test_pattern_redactor_redacts_whole_address(
    pattern_redactor: Redactor, text: str, address: str
) -> None:
    """With NER off, the redactor reports the address in original offsets, typed ADDRESS."""
    spans = pattern_redactor.analyze([text])[0]
    found = [(text[s.start : s.end], s.type) for s in spans if s.type == "ADDRESS"]
    assert found == [(address, "ADDRESS")]


def test_pattern_redactor_leaves_no_address_piece_showing(pattern_redactor: Redactor) -> None:
    """The redacted text keeps the prose but none of the street, number, postcode or city."""
    text = "OK, order 5512. Please ship to Ulmenallee 31, 48149 Sandhausen, attn. Jo."
    (result,) = pattern_redactor.redact_batch([Message("m1", text)])
    assert result.redacted.startswith("OK, order 5512. Please ship to ")
    pieces = ("Ulmenallee", "31", "48149", "Sandhausen")
    assert [p in result.redacted for p in pieces] == [False] * len(pieces), "address piece shown"


ADDRESSEE = [
    # (message, expected (type, value) spans of this detector)
    # one surname and a number-first street: the surname is whom it goes to, not a city
    ("Ship to: Smith, 12 Main St", [("ADDRESS", "12 Main St"), ("PERSON", "Smith")]),
    # lower-case chat: the same, no capitals to go by
    (
        "ship to: smith, 12 main st, springfield",
        [("ADDRESS", "12 main st, springfield"), ("PERSON", "smith")],
    ),
    # a preposition instead of a label ("send to"), prose after the address
    ("send to Smith, 12 Main St and call me", [("ADDRESS", "12 Main St"), ("PERSON", "Smith")]),
    # German: first name and surname after "an", street-first address with postcode and city
    (
        "Rechnung bitte an Friederike Hollenbach, Bahnhofstraße 12, 79098 Freiburg",
        [("ADDRESS", "Bahnhofstraße 12, 79098 Freiburg"), ("PERSON", "Friederike Hollenbach")],
    ),
    # German label, surname alone: the city after the postcode says the word is no city
    (
        "Lieferadresse: Hollenbach, Bahnhofstraße 12, 79098 Freiburg",
        [("ADDRESS", "Bahnhofstraße 12, 79098 Freiburg"), ("PERSON", "Hollenbach")],
    ),
    # Spanish "envío a", street-first, postcode and city
    (
        "Envío a Castillo, Calle Mayor 5, 28013 Madrid",
        [("ADDRESS", "Calle Mayor 5, 28013 Madrid"), ("PERSON", "Castillo")],
    ),
    # French: a title before the surname belongs to the name
    (
        "Livrez à Mme Fontaine, 18 rue des Tanneurs, 69002 Lyon",
        [("ADDRESS", "18 rue des Tanneurs, 69002 Lyon"), ("PERSON", "Mme Fontaine")],
    ),
    # Japanese block number opening the address
    (
        "please send it to Nakamura, 4-2-8 Shibakoen, Minato-ku, Tokyo 105-0011",
        [("ADDRESS", "4-2-8 Shibakoen, Minato-ku, Tokyo 105-0011"), ("PERSON", "Nakamura")],
    ),
    # Polish "ul." street, postcode with a hyphen, city
    (
        "Shipping address: Wójcik, ul. Ogrodowa 17/4, 90-217 Łódź",
        [("ADDRESS", "ul. Ogrodowa 17/4, 90-217 Łódź"), ("PERSON", "Wójcik")],
    ),
    # city-first order (Hungary): the word before the street is the city, no person
    ("Address: Budapest, Andrássy út 66, 1061", [("ADDRESS", "Budapest, Andrássy út 66, 1061")]),
    # city-first after a label, no place after the street: still the city
    ("Lieferadresse: Wien, Praterstraße 18", [("ADDRESS", "Wien, Praterstraße 18")]),
    # a company is no person and stays out of the address
    ("Ship to: Acme Trading Ltd, 12 Main St", [("ADDRESS", "12 Main St")]),
    # a department is no person, and before a house number it is no city either
    ("Ship to: Reception, 12 Main St", [("ADDRESS", "12 Main St")]),
    # a common word is no person
    ("Ship to: Main Office, 12 Main St", [("ADDRESS", "12 Main St")]),
    # no comma: the capitalised word runs into the street, nothing is split off
    ("ship to 88 Harbour Road, Durban 4001", [("ADDRESS", "88 Harbour Road, Durban 4001")]),
]


@pytest.mark.parametrize(("text", "expected"), ADDRESSEE)
def test_name_comma_address_lines(text: str, expected: list[tuple[str, str]]) -> None:
    """In "Name, street" lines the name is a PERSON of its own, never folded into the address."""
    assert _typed(text) == sorted(expected)


CZ_SK_AND_NO_STREET_WORD = [
    # (message, the address)
    # Czech: street without a type word, "NNN NN" postcode, city and district number
    (
        "Jmenuji se Tomáš, doručit na Vinohradská 112, 130 00 Praha 3",
        "Vinohradská 112, 130 00 Praha 3",
    ),
    # Slovak: street and postcode after a name and a comma
    ("pošlite na Obchodná 12, 811 06 Bratislava, ďakujem", "Obchodná 12, 811 06 Bratislava"),
    # Czech label, a one-word street in plain ASCII
    ("Adresa: Masarykova 15, 602 00 Brno", "Masarykova 15, 602 00 Brno"),
    # the same in lower case
    ("adresa: masarykova 15, 602 00 brno", "masarykova 15, 602 00 brno"),
    # a Czech street opening with the capitalised preposition "Na", no label at all
    ("Na Příkopě 22, 110 00 Praha 1", "Na Příkopě 22, 110 00 Praha 1"),
    # "please send it to": the lower-case preposition "na" stays out
    ("Pošlete to prosím na Dlouhá 5, 110 00 Praha 1", "Dlouhá 5, 110 00 Praha 1"),
    # house number with the Czech land-registry part "1024/18"
    ("Dodací adresa: Nádražní 1024/18, 702 00 Ostrava", "Nádražní 1024/18, 702 00 Ostrava"),
    # Slovak postcode starting with 0
    ("Doručenie: Hlavná 27, 040 01 Košice", "Hlavná 27, 040 01 Košice"),
    # Swedish uses the same postcode shape; the verb "skicka till" stays out
    ("Skicka till Storgatan 5, 411 38 Göteborg", "Storgatan 5, 411 38 Göteborg"),
]


@pytest.mark.parametrize(("text", "address"), CZ_SK_AND_NO_STREET_WORD)
def test_czech_slovak_postcodes_and_streets_without_type_word(text: str, address: str) -> None:
    """ "NNN NN City" postcodes make an address of "Street 12" even without a street word."""
    assert _found(text) == [address]


@pytest.mark.parametrize(
    "text",
    [
        "Objednávka 4471, 250 ks, cena 130 00 Kč",  # a price in crowns, not a postcode
        "Order 602 00 shipped, 15 pcs",  # an order number written in two groups
        "Zásilka č. 110 00 123, doručíme zítra",  # a parcel number in three groups
        "Tracking 811 06 then 12 more boxes",  # digits in prose, no place after them
    ],
)
def test_three_two_digit_groups_without_a_place_are_no_postcode(text: str) -> None:
    """Without a street before and a place after, "NNN NN" is just a number."""
    assert _found(text) == []


# The words before an address add 0 to 3 points to its structural evidence; only as many
# trigger searches run as can decide. Each row sits just at or just below the threshold.
TRIGGER_TIPS = [
    # no structure (0), "the corner of" (3): just enough
    ("Meet me at the corner of Harlow 12 tomorrow", ["the corner of Harlow 12"]),
    # no structure (0), a trigger (2) and "<Name> and" (1): just enough
    ("Ship to Leon and Eyrarodda 66 now", ["Leon and Eyrarodda 66"]),
    # no structure (0), a trigger (2) alone: one short
    ("ship it to Eyrarodda 66 please", []),
    # no structure (0), a preposition (1) and "<Name> and" (1): one short
    ("near Leon and Eyrarodda 66 ok", []),
    # a one-word street and its number (1), a trigger (2): just enough
    ("ship it to Árbær 66 please", ["Árbær 66"]),
    # a one-word street and its number (1), a preposition (1) and "<Name> and" (1)
    ("We are at Leon and Árbær 66 now", ["Leon and Árbær 66"]),
    # a one-word street and its number (1), "<Name> and" (1) alone: one short
    ("Leon and Árbær 66", []),
    # a one-word street and its number (1), a preposition (1): one short
    ("It is near Árbær 66 I think", []),
    # a street without a number needs any trigger: a preposition (1) is enough
    ("the lab is on Quarry Lane", ["Quarry Lane"]),
    # a street without a number and no trigger before it
    ("Quarry Lane is closed", []),
]


@pytest.mark.parametrize(("text", "addresses"), TRIGGER_TIPS)
def test_trigger_points_tip_the_balance(text: str, addresses: list[str]) -> None:
    """An address whose evidence only reaches the threshold with its trigger is found."""
    assert _found(text) == addresses


@pytest.mark.parametrize(
    ("word", "cap"),
    [
        ("Birch", True),  # a capital first letter
        ("birch", False),  # a lower-case first letter
        ("∆Birch", True),  # a word character that is no letter comes first: the letter decides
        ("∆birch", False),  # the same, lower case
    ],
)
def test_tokenize_reads_capitals_from_the_first_letter(word: str, cap: bool) -> None:
    """A word is capitalised when its first letter is upper case."""
    (tok,) = tokenize(word)
    assert tok.cap is cap


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("St. 5", ["St.", " ", "5"]),  # an abbreviation takes its dot along
        ("St.. 5", ["St.", ".", " ", "5"]),  # only the first dot
        ("end. 5", ["end", ".", " ", "5"]),  # a sentence's dot stays a token
    ],
)
def test_tokenize_abbreviation_dots(text: str, pieces: list[str]) -> None:
    """The dot after an abbreviation belongs to the word, no separate dot token is left."""
    assert [t.text for t in tokenize(text)] == pieces

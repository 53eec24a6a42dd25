"""Street addresses, whole: street and house number, unit, postcode, city, region, country.

NER sees a city or a country; a courier needs the rest. This detector reads the *shape*
of an address instead of looking names up in a list:

1. **Tokens.** One compiled regex cuts the normalised text into words, numbers, postcodes
   (UK, Canadian, Dutch, Irish), commas, spaced dashes, spaces, line breaks and the rest.
2. **Runs.** A run is a maximal stretch of tokens an address can be made of: numbers of
   at most six digits (``61-40``, ``7/2``, ``71T``), capitalised words, street and unit
   words in any case, particles (``de``, ``van``, ``sur``), ``(LC)``-style region codes,
   commas and up to two line breaks. Prose stops a run: a lower-case word, sentence
   punctuation, a colon, a long number, an amount (``12,500``), a code (``MX-1278A``), a
   currency or month word, ``attn.``, a phone number (three bare number groups). In
   one-case chat (all lower or all upper case) common prose words stop it instead.
3. **Start.** Inside a run the address starts at the first house number, street word,
   unit or box word, or at capitalised words that run straight into a house number on
   the same line — so a name on the line above (``Billing address: Ann Lee\\n12 ...``)
   stays out. ``the corner of`` and ``X and`` before a street are taken along.
4. **Evidence.** The run from its start is scored on structure: a street word (``Road``,
   ``rue``, ``Via``, ``…straße``, ``…straat``, ``…vej``, ``u.``) next to a number; a
   box (``PO Box``, ``PSC 1234, Box 5``, ``APO AE 12345``); a unit (``Apt. 5``,
   ``Suite 5``, ``Piso 3``); a postcode beside a city (``130 00 Praha 3``, ``411 38
   Göteborg`` included, which also make ``Masarykova 15`` a street without a street
   word); ``City, ST 12345``; number, words,
   number; several address lines; a trigger phrase just before (``ship to``, ``address:``,
   ``Lieferadresse``, ``endereço``, ``dirección``, ``lives at``). Only a run with enough
   evidence (``MIN_EVIDENCE``) is reported, so ``Lead time 15 days``, ``MOQ 1000 units``,
   ``3 Colors 5 Sizes``, prices, dates, order and tracking numbers never are.

5. **Addressee.** In a "Name, street" line ("Ship to: Smith, 12 Main St", "Rechnung an
   Friederike Hollenbach, Bahnhofstraße 12, 79098 Freiburg") the name is reported as a
   PERSON of its own and kept out of the address, when the address leaves no room for a
   city before it (it opens with the house number, or names its place after the
   street). Otherwise one word and a comma after a label is the city of a city-first
   address ("Budapest, Andrássy út 66") and stays in it.

Chinese addresses (``…省…市…区…路…号``, or anything after ``收货地址``) have their own
patterns. The vocabulary here is the generic street-type, unit and particle words of each
language (the kind postal standards list), never lists of street or city names.

Every pattern is compiled once, every pass over the tokens is linear.
"""

# full-width colons, dashes and curly quotes are matched on purpose

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from redact.detectors.base import Detector
from redact.span import Span

# Below the checksum patterns (0.9) and context names (0.7): when an address run touches
# a phone number or a name, the merged span takes the more specific type.
SCORE = 0.6
# The person an address is written to ("Ship to: Smith, 12 Main St"): as sure as a name
# announced by a context phrase (redact.detectors.names.SCORE).
ADDRESSEE_SCORE = 0.7
MIN_EVIDENCE = 3
MAX_HOUSE_DIGITS = 6
TRIGGER_WINDOW = 60
MAX_RUN_TOKENS = 48  # words and numbers; a postal address is far shorter
PHONE_GROUPS = 3  # bare numbers in a row on one segment: a phone number, not an address


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


# Street types written *before* the name (rue Guyot, Via Roma, ul. Miła, Calle Mayor).
STREET_PREFIX = _words(
    """rue avenue av avda avenida boulevard boul bd bld blvd chemin impasse place allée allee quai
    route cours passage square chaussée calle c/ carrer plaza plaça paseo passeig camino ronda
    rambla cañada travesía travesia callejón callejon glorieta carretera vía via viale piazza
    piazzale piazzetta corso vicolo strada largo contrada borgo incrocio rotonda stretto vial
    lungomare salita traversa rua travessa praça praca alameda estrada ladeira beco rodovia
    rúa ul ulica al aleja os osiedle pl plac trg ulitsa prospekt naberezhnaya pereulok
    λεωφόρος λεωφ λ οδός πλατεία odos sokak sok cadde cad caddesi mahallesi mah bulvar bulvarı
    jalan jl jln lorong lrg soi thanon quadra"""
)
# Street prefixes that are also common words ("al" = "to the" in Spanish and Italian,
# "os", "pl"): in mixed-case text they count only capitalised or with their dot.
WORDLIKE_PREFIX = _words("al os pl")
# Street types written *after* the name, as a separate word (Tyler Circle, Villacher Strasse,
# Király u., Trenerys gate). Strong ones say "street" on their own.
STREET_SUFFIX_STRONG = _words(
    """street st str road rd avenue ave av lane ln drive dr boulevard blvd court ct circle cir
    terrace tce parkway pkwy highway hwy crescent square sq place pl trail trl close way
    strasse straße gasse weg platz allee ring damm ufer chaussee
    straat laan gracht plein dreef singel kade
    gatan gata gaten vägen väg gränd vej vejen veien vei vegen gade stræde plads allé
    katu kuja tie tee põik puiestee stræti braut vegur terrasse kapu
    u utca út útja tér körút krt rkp sor köz fasor sétány
    ulice náměstí nám třída cesta
    str."""
)
# English street types clear enough to mark a street without a number ("on Elm Street").
STREET_NO_NUMBER = _words("street road avenue lane drive boulevard")
# English street types that are also ordinary words: they count only beside a number.
STREET_SUFFIX_WEAK = _words(
    """alley bend bluff bypass causeway cove coves creek crossing crossroad dale dam divide
    estate estates expressway extension field fields flat flats ford forge forges fork
    freeway gardens gateway glen green greens grove harbor harbour haven heights hill hills
    hollow inlet island islands isle junction knoll lake lakes land landing lodge loop mall
    manor meadow meadows mews mill mills motorway mount mountain oval parade park parks pass
    passage path pike pines plaza point points port prairie radial ramp ranch rapid rapids
    ridge route row run shoal shore shores spring springs spur stream summit trace track
    turnpike valley viaduct view villa village ville vista walk wall wharf wood woods wells
    tunnel roads coves turnpike mission rest cliffs cliff club curve rue station pass gate"""
)
# Endings of one-word streets (Truppstraße, Katelaan, Magasinsgatan, Kiannonkatu).
_SUFFIX_STRONG = _words(
    """straße strasse str. gasse allee platz damm ufer chaussee steig pfad gürtel zeile
    straat laan gracht plein dreef singel kade steeg baan boulevard
    gatan vägen gränd vej vejen veien vegen gade stræde plads stræti braut vænget katu kuja"""
)
_SUFFIX_WEAK = _words("weg ring hof dijk pad tie tee gate gata vegur polku markt torget torg wal")


# longest first, so "strasse" wins over a shorter ending
_SUFFIX_STRONG_ENDINGS = tuple(sorted(_SUFFIX_STRONG, key=len, reverse=True))
_SUFFIX_WEAK_ENDINGS = tuple(sorted(_SUFFIX_WEAK, key=len, reverse=True))

# Units inside a building, followed by a number (Apt. 747, Suite 680, Puerta 6, Piano 8).
UNIT_WORDS = _words(
    """apt apartment suite ste flat unit room rm floor fl piso puerta appartamento piano
    interno scala esc escalera apto andar sala bloco bloc bâtiment batiment étage etage
    wohnung whg boîte boite m lok lokal no building bldg block blk tower section sec plot
    sector district"""
)
# Strong alone: an apartment or suite number is an address piece.
UNIT_STRONG = _words("apt apartment suite ste apto appartamento")
BOX_WORDS = _words("box postbox postfach apartado caixa psc p.o. po pobox bp cp")
MILITARY = _words("apo fpo dpo")
SHIP_WORDS = _words("usns uss usnv uscgc")
# Particles inside street and place names.
PARTICLES = _words(
    """de del della delle dei degli dello di da das dos do du des la le les lo l' d' van von
    der den ten ter het am an im auf zum zur y e et sur sous lès aan op bij z u v na nad
    pod nám upon"""
)
# Never part of an address run: labels, currencies, units, months, weekdays.
STOP_WORDS = _words(
    """attn c/o tel phone mobile mob fax desk office cell email e-mail website web iban swift bic
    cvv cvv2 cvc cvc2 cid exp expiry validade vencimiento
    attention contact contacts ansprechpartner kontakt contacto contato contatto recipient
    empfänger destinatario destinatário destinataire referente responsable responsável
    usd eur rmb cny gbp jpy aud cad chf hkd inr brl pcs kg units sets cartons
    kč czk sek nok dkk pln zł huf ron mxn
    jan january feb february mar march apr april jun june jul july aug august sep sept
    september oct october nov november dec december
    monday tuesday wednesday thursday friday saturday sunday"""
)
# Lower-case prose words that end an address in all-lower-case chat.
LOWER_STOP = _words(
    """a an the and or but is are was were be it its i you we he she they me my your our
    his her their this that these those to for in at on of by with from after before
    please thanks thank pls it's i'm here there when where what which who how if then
    so as also just only not no yes ok serves last next order invoice tracking price total
    qty number code card ending ends charged paid account acct amount sku model item ref
    tarjeta terminada terminado termina cartão cartao final pedido para por con com cobrado
    pago karte endend endet bestellung carte finissant commande carta ordine
    entrega envío envio enviar entregar mandar en em liefern senden livrer envoyer spedire"""
)
CLOCK_WORDS = _words("am pm")
DOTTED_STREET_WORDS = _words("cad")
# Capitalised prose words that never start or continue an address ("The", "Please").
CAP_STOP = _words(
    """the this that these those our my your we it he she they please thanks thank hello hi
    dear i you is are was were and or but if so when where what which who how then for with
    from after before"""
)
# Abbreviations whose dot does not end a sentence.
ABBREVIATIONS = _words(
    """st str apt ave av avda rd dr blvd boul ln ct pl sq ste fl bldg hwy pkwy mt ft no nr ul al
    cad sok mah jln lrg
    os u rkp c p o rr bp cp n s e w ne nw se sw apto int ext krt nám λ λεωφ jl esc whg"""
)

# "No." and "Nr." are abbreviations only before a number ("No. 5"), else "... OULU NO. I now".
NUMBER_ABBREVIATIONS = _words("no nr")
_DIGIT_NEXT = re.compile(r"[ \t]?\d")
_L = r"[^\W\d_]"  # a letter
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z][ ]?\d[A-Z]\d"
_NL_POSTCODE = r"\d{4}[A-Z]{2}"  # "2791BM"; the spaced form is a number and a word
_IE_EIRCODE = r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[ ]?[\dAC-FHKNPRTV-Y]{4}"
_TOKEN_PATTERN = rf"""
    (?P<pc>(?<![\w-])(?:{_UK_POSTCODE}|{_CA_POSTCODE}|{_NL_POSTCODE}|{_IE_EIRCODE})(?![\w-]))
   |(?P<po>(?<![\w.])[Pp]\.?[ ]?[Oo]\.(?=[ ]?[Bb]ox))
   |(?P<cs>(?<![\w/])[Cc]/(?=[ ]?{_L}{{2}}))
   |(?P<no>(?<![\w])[Nn][Oo][ ]?:(?=[ ]?\d))
   |(?P<nl>[ \t]*\n(?:[ \t>?]*\n)?[ \t>?]*)
   |(?P<dash>(?<=[ \t])[-–—](?=[ \t]))
   |(?P<sp>[ \t]+)
   |(?P<amount>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![\d,]))
   |(?P<num>\d{{1,5}}(?:-(?:I{{1,3}}|IV|hs|huis|bis|ter)|-?[A-Za-z]|st|nd|rd|th|/F)(?![^\W_])|\d+(?:[-/.]\d+)*(?![^\W_]))
   |(?P<code>(?=[^\W_]*\d)(?=[^\W_]*[^\W\d_])[^\W_]+)
   |(?P<uf>(?<=[^\W\d_])/[A-Z]{{2}}(?![^\W_]))
   |(?P<paren>\({_L}[^\W\d_∆]*(?:[ ]{_L}[^\W\d_∆]*){{0,2}}\))
   |(?P<word>(?:{_L}|∆)+(?:['’\-](?:{_L}|∆)+)*(?:['’](?=[ \t,]))?)
   |(?P<comma>,)
   |(?P<dot>\.)
   |(?P<hash>\#)
   |(?P<other>.)
    """
_TOKEN = re.compile(_TOKEN_PATTERN, re.VERBOSE | re.DOTALL)
# One-case text: postcodes may be written in lower case ("london w1k 1pn").
_TOKEN_ANY_CASE = re.compile(_TOKEN_PATTERN, re.VERBOSE | re.DOTALL | re.IGNORECASE)

# Kinds of token, after classification.
NUM, WORD, COMMA, SP, NL, DOT, PAREN, HASH, PC, OTHER = range(10)
_KIND = {
    "code": OTHER,
    "amount": OTHER,  # "12,500": a price or a quantity, never part of an address
    "dash": COMMA,  # "Av. Paulista, 1578 - Bela Vista - SP"
    "pc": PC,
    "po": WORD,
    "cs": WORD,
    "no": WORD,  # Turkish "No: 15"
    "nl": NL,
    "sp": SP,
    "num": NUM,
    "paren": PAREN,
    "uf": PAREN,
    "word": WORD,
    "comma": COMMA,
    "dot": DOT,
    "hash": HASH,
    "other": OTHER,
}

# Word classes.
W_PLAIN, W_PREFIX, W_SUFFIX, W_SUFFIX_WEAK, W_UNIT, W_BOX, W_MIL, W_SHIP = range(8)

# Phrases that announce an address, in the languages of the marketplace. A trigger right
# before a run is strong evidence (2); one further back in the window is weak (1).
_TRIGGERS = (
    # "ship to", "send the goods over to", "deliver it to", "return to"
    r"(?:ship(?:ped|ping)?|deliver(?:y|ed)?|send|sent|mail(?:ed)?|post(?:ed)?|return(?:ed)?"
    r"|forward(?:ed)?|dispatch(?:ed)?|courier|go|goes)(?:\s+[^\W\d_]+){0,3}?\s+(?:over\s+)?to",
    r"(?:shipping|billing|delivery|mailing|postal|home|office|business|street|new|my|our|the|your"
    r"|his|her|their|consignee|receiver|recipient|pickup|pick-up|warehouse|factory|registered)"
    r"\s+address(?:es)?(?:\s+(?:is|was|will\s+be|changed\s+to|to))?",
    r"address(?:es)?(?:\s+(?:is|was|are|for\s+delivery))?",
    r"(?:lives?|living|located|situated|based|residing|resides|stay(?:ing)?|moved)\s+(?:at|on|in|to)",
    r"meet\s+(?:me|you|us)\s+at",
    r"(?:drops?|dropped|pick(?:ed)?\s+up)\s+(?:you\s+|me\s+)?(?:off\s+)?at",
    r"(?:stop|station\s+is|enter)\s+(?:at|on)",
    r"taxi\s+to",
    r"consignee",
    # German, French, Spanish, Portuguese, Italian, Dutch, Nordic
    r"lieferadresse|lieferanschrift|versandadresse|rechnungsadresse|anschrift|adresse"
    r"(?:\s+de\s+(?:livraison|facturation))?|wohnhaft\s+in",
    r"(?:liefern|senden|schicken|versenden)\s+(?:sie\s+)?an",
    r"(?:livrer|livrez|envoyer|envoyez|exp[ée]dier|exp[ée]diez)\s+(?:[àa]|au|chez)",
    r"endere[çc]o(?:\s+de\s+entrega)?|morada|direcci[óo]n(?:\s+de\s+(?:env[íi]o|entrega))?|domicilio",
    r"(?:enviar|entregar|mandar|env[íi]e|entregue)\s+(?:a|en|em|para)",
    r"indirizzo(?:\s+di\s+(?:spedizione|consegna))?|(?:spedire|consegnare|inviare)\s+(?:a|in)",
    r"(?:bezorgen|verzenden|sturen)\s+(?:op|aan|naar)|adres|adresa|osoite|adress|adressen|[üu]nvan",
    # Czech, Slovak, Polish, Nordic, Turkish, Indonesian: "send (it please) to", labels
    r"(?:pošl\w{0,4}|zašl\w{0,4}|posla\w{0,3}|zasla\w{0,3}|doruč\w{0,4}|dodej\w{0,3}|"
    r"wyślij\w{0,3}|wysła\w{0,3}|dostarcz\w{0,4}|skicka|leverera|lever|gönder\w{0,4}|kirim)"
    r"(?:\s+[^\W\d_]+){0,3}?\s+(?:na|do|till|til|pro|ke)|doručenie|doručení|dodací\s+adresa|"
    r"leveransadress|leveringsadresse|alamat|địa\s+chỉ|teslimat\s+adresi",
)
_TRIGGER_ALT = "|".join(_TRIGGERS)
_TRIGGER_END = re.compile(rf"(?<![^\W\d_])(?:{_TRIGGER_ALT})[\s:：,\-–>?]*\Z", re.IGNORECASE)
_TRIGGER_NEAR = re.compile(rf"(?<![^\W\d_])(?:{_TRIGGER_ALT})(?![^\W\d_])", re.IGNORECASE)
_TRIGGER_AT = re.compile(rf"(?:{_TRIGGER_ALT})(?![^\W\d_])[ \t:：,\-–>?]*", re.IGNORECASE)
_WEAK_PREP_END = re.compile(r"(?<![^\W\d_])(?:at|on|to|in|is|of|near|from)[ \t]+\Z", re.IGNORECASE)
_CORNER_END = re.compile(r"(?<![^\W\d_])(?:the[ \t]+)?corner[ \t]+of[ \t]+\Z", re.IGNORECASE)
_AND_NAME_END = re.compile(r"(?<![\w-])[^\W\d_][\w'’\-]{1,30}[ \t]+and[ \t]+\Z")

# Chinese: a run of Han characters, digits and letters (no spaces in Chinese) is an
# address when it holds an administrative unit (省/市/自治区) followed by a street or a
# house number, or when a label (收货地址, 地址, 寄到) announces it. Plain searches, no
# nested repetition, so a long run of Han text stays linear.
_HAN = r"\u4e00-\u9fff\u3400-\u4dbf"
_HAN_CHAR = re.compile(rf"[{_HAN}]")
_CN_RUN = re.compile(rf"[{_HAN}\dA-Za-z\-#]{{4,}}")
_CN_ADMIN = re.compile(r"省|自治区|特别行政区|市")
_CN_STREET = re.compile(r"路|街|大道|巷|弄|胡同|村|道")
_CN_NUMBER = re.compile(r"\d+[A-Za-z]?号")
_CN_UNIT_END = re.compile(
    r"\d+[A-Za-z\-]*(?:号|室|楼|栋|幢|单元|层|座)|(?:号|室|楼|栋|幢|单元|层|座)"
)
_CN_LABELS = (
    "收货地址|送货地址|收件地址|邮寄地址|寄送地址|联系地址|公司地址|详细地址|地址|住址"
    "|寄到|发到|送到|寄至|发往"
)
_CN_LABEL = re.compile(rf"(?:{_CN_LABELS})[ \t]*[:：]?[ \t]*\Z")
_CN_LABEL_IN = re.compile(_CN_LABELS)
_CN_CUT = re.compile(r"收货人|联系人|收件人|电话|手机|邮编|姓名")
_CN_ANCHOR = re.compile(rf"省|自治区|特别行政区|市|{_CN_LABELS}")
CN_MAX_RUN = 80
CN_LOOKBACK = 6  # characters before 省/市 that may hold the province or city name
CN_NAME_CHARS = 3
# Korean road-name addresses: [province/city 시·도] district 구·군 road 로·길 number, then
# an optional "12층" (floor) or "305호" (unit): "…시 …구 …로 152, 12층".
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_KO_ADDRESS = re.compile(
    r"(?:[\uac00-\ud7a3]{1,8}(?:특별시|광역시|특별자치시|특별자치도|시|도)[ \t]+)?"
    r"(?:[\uac00-\ud7a3]{1,8}(?:시|구|군)[ \t]+){1,2}"
    r"(?:[\uac00-\ud7a3]{1,8}(?:읍|면|동)[ \t]+)?"
    r"[\uac00-\ud7a3\d]{1,12}(?:대로|로|길)[ \t]*\d{1,4}(?:-\d{1,4})?(?:번길[ \t]*\d{1,4})?"
    r"(?:[ \t]*,?[ \t]*\d{1,4}[ \t]*(?:층|호|동))*"
)
_PREFILTER = re.compile(r"\d|(?i:street|road|avenue|lane|drive|boulevard)")


# Not frozen: a message has dozens of tokens and a frozen dataclass is built three times
# slower (each field set through object.__setattr__). Nothing changes a token once built.
@dataclass(slots=True)
class _Tok:
    kind: int
    start: int
    end: int
    text: str
    low: str = ""  # lower case, trailing dot dropped
    wclass: int = W_PLAIN
    cap: bool = False  # capitalised (or any word, in all-lower-case text)


@lru_cache(maxsize=8192)
def _word_class(low: str) -> int:
    if low in UNIT_WORDS:
        return W_UNIT
    if low in BOX_WORDS:
        return W_BOX
    if low in MILITARY:
        return W_MIL
    if low in SHIP_WORDS:
        return W_SHIP
    if low in STREET_PREFIX:
        return W_PREFIX
    if low in STREET_SUFFIX_STRONG:
        return W_SUFFIX
    if low in STREET_SUFFIX_WEAK:
        return W_SUFFIX_WEAK
    tail = low.rsplit("-", 1)[-1]
    hyphenated = "-" in low  # "Bogdan-Schleich-Allee": the last part may be the type alone
    if _name_before(tail, _SUFFIX_STRONG_ENDINGS) >= (0 if hyphenated else 2):
        return W_SUFFIX
    if _name_before(tail, _SUFFIX_WEAK_ENDINGS) >= (0 if hyphenated else 3):
        return W_SUFFIX_WEAK
    return W_PLAIN


def _name_before(word: str, endings: tuple[str, ...]) -> int:
    """Letters before the street-type ending of ``word``, or -1 when it has none."""
    if not word.endswith(endings):  # one C-level test for the common case
        return -1
    for ending in endings:
        if word.endswith(ending):
            return len(word) - len(ending)
    return -1


def _is_compound(t: _Tok) -> bool:
    """A one-word street ("Truppstraße", "Katelaan"), not a separate street-type word."""
    return t.low not in STREET_SUFFIX_STRONG and t.low not in STREET_SUFFIX_WEAK


def tokenize(text: str, lower_text: bool = False) -> list[_Tok]:
    """Cut normalised text into address tokens (abbreviation dots stay on their word)."""
    toks: list[_Tok] = []
    n = len(text)
    hangul = _HANGUL.search(text) is not None  # (asked of each word only if the text has any)
    for m in (_TOKEN_ANY_CASE if lower_text else _TOKEN).finditer(text):
        kind = _KIND[m.lastgroup or "other"]
        start, end = m.span()
        if kind != WORD:
            if kind == DOT and toks and toks[-1].end == end and toks[-1].kind == WORD:
                continue  # an abbreviation swallowed this dot
            toks.append(_Tok(kind, start, end, m.group()))
            continue
        word = m.group()
        if hangul and _HANGUL.search(word) is not None:  # Korean addresses have their own pattern
            toks.append(_Tok(OTHER, start, end, word))
            continue
        low = word.lower()
        dotted = end < n and text[end] == "."
        wclass = _word_class(low)
        if dotted and low.endswith("str") and len(low) > 5:  # "Ziegertstr. 857"
            wclass = W_SUFFIX
        # capitalised: its first letter is upper case (nearly always the word's first character)
        head = word[0]
        if lower_text:
            cap = True
        elif head.isalpha():
            cap = head.isupper()
        else:
            cap = next((ch.isupper() for ch in word if ch.isalpha()), False)
        if low in WORDLIKE_PREFIX and not cap and not dotted:
            wclass = W_PLAIN  # "valida fino al 09/27": the Italian "al", not Polish "al."
        abbreviation = low in ABBREVIATIONS and (
            low not in NUMBER_ABBREVIATIONS or _DIGIT_NEXT.match(text, end + 1)
        )
        if dotted and (abbreviation or len(low) == 1 or wclass == W_SUFFIX):
            toks.append(_Tok(WORD, start, end + 1, word + ".", low, wclass, cap))
        else:
            toks.append(_Tok(WORD, start, end, word, low, wclass, cap))
    return toks


def _num_ok(tok: _Tok) -> bool:
    """A house number, postcode or unit number: short, at most one ``-`` or ``/``."""
    t = tok.text
    if "." in t:
        return False
    parts = _NUM_SPLIT.split(t)
    if len(parts) > 2:
        return False
    digits = sum(map(str.isdigit, t))
    return digits <= MAX_HOUSE_DIGITS + (2 if len(parts) == 2 else 0)


_NUM_SPLIT = re.compile(r"[-/]")
_BLOCK_NUMBER = re.compile(r"\d{1,2}-\d{1,3}-\d{1,3}")


def _next_content(toks: list[_Tok], i: int) -> int:
    """Index of the next token after ``i`` that is not a space (``len`` when none)."""
    j = i + 1
    while j < len(toks) and toks[j].kind == SP:
        j += 1
    return j


def _prev_content(toks: list[_Tok], i: int) -> int:
    j = i - 1
    while j >= 0 and toks[j].kind == SP:
        j -= 1
    return j


def _after_prefix(toks: list[_Tok], i: int) -> bool:
    """A street-type prefix opened this segment at most three words ago ("rue des lieutemants")."""
    words = 0
    j = i - 1
    while j >= 0 and words < 4:
        t = toks[j]
        if t.kind == WORD:
            if t.wclass == W_PREFIX:
                return True
            words += 1
        elif t.kind != SP:
            return False
        j -= 1
    return False


def _compatible(toks: list[_Tok], lower_text: bool) -> list[bool]:
    """Which tokens may belong to an address run."""
    ok = [False] * len(toks)
    for i, t in enumerate(toks):
        if t.kind in (SP, COMMA, NL, PAREN, PC):
            ok[i] = True
        elif t.kind == NUM:
            ok[i] = _num_ok(t)
            if not ok[i] and _BLOCK_NUMBER.fullmatch(t.text):
                # Japanese chōme-ban-gō "1-5-2 Nishi-Shinjuku": a name follows, not a time
                nxt = _next_content(toks, i)
                ok[i] = nxt < len(toks) and toks[nxt].kind == WORD and toks[nxt].cap
            if not ok[i] and t.text.count("/") == 2 and "." not in t.text and len(t.text) <= 10:
                # "Mariahilfer Straße 120/3/12": house/stair/door right after a street word
                prv = _prev_content(toks, i)
                ok[i] = (
                    prv >= 0 and toks[prv].kind == WORD and toks[prv].wclass in (W_PREFIX, W_SUFFIX)
                )
        elif t.kind == HASH:
            nxt = _next_content(toks, i)
            ok[i] = nxt < len(toks) and toks[nxt].kind == NUM
        elif t.kind == DOT:
            # "u. 15." / "19.\n Suite": a dot after a number continues to a unit or a new line.
            prv, nxt = _prev_content(toks, i), _next_content(toks, i)
            if prv >= 0 and toks[prv].kind == NUM and i + 1 < len(toks):
                ok[i] = toks[i + 1].kind == NL or (
                    nxt < len(toks)
                    and toks[nxt].kind == WORD
                    and toks[nxt].wclass in (W_UNIT, W_SUFFIX)
                )
        elif t.kind == WORD:
            ok[i] = _word_ok(toks, i, lower_text)
    _drop_line_labels(toks, ok)
    return ok


_LABEL_COLON = frozenset({":", "："})
MAX_LABEL_WORDS = 3


def _drop_line_labels(toks: list[_Tok], ok: list[bool]) -> None:
    """A line opening with a label ("Contact person:", "Tel:") is no address line."""
    for i, t in enumerate(toks):
        if t.kind != NL:
            continue
        j, words = i + 1, 0
        while j < len(toks) and words <= MAX_LABEL_WORDS:
            u = toks[j]
            if u.kind == WORD:
                words += 1
            elif u.kind == OTHER and u.text in _LABEL_COLON and words:
                for k in range(i + 1, j):
                    ok[k] = False
                break
            elif u.kind != SP:
                break
            j += 1


def _word_ok(toks: list[_Tok], i: int, lower_text: bool) -> bool:
    t = toks[i]
    if t.low in STOP_WORDS and not (t.low in DOTTED_STREET_WORDS and t.text.endswith(".")):
        return False  # "CAD 500" is money, "Atatürk Cad." is a street
    if t.low in CLOCK_WORDS and t.text != t.text.title():  # "10 AM", not "Am Hafen 3"
        return False
    if t.wclass != W_PLAIN:
        return True
    if t.low in PARTICLES:
        return True
    if t.low in LOWER_STOP and (
        not t.cap or lower_text or (t.low in CAP_STOP and not t.text.isupper())
    ):
        return False  # prose; capitalised only for "The", "Please", "Our", ... (not "AS", "ON")
    if lower_text:
        return True
    if t.cap:
        return True
    prv, nxt = _prev_content(toks, i), _next_content(toks, i)
    # A short lower-case region code between separators ("delmas, mp 35739").
    if len(t.low) <= 3 and prv >= 0:
        p = toks[prv]
        after_ok = nxt >= len(toks) or toks[nxt].kind in (NUM, NL, COMMA)
        if after_ok and (p.kind in (COMMA, NL) or (p.kind == WORD and p.cap)):
            return True
    # Lower-case words inside a street name: after a street prefix ("rue des lieutemants"),
    # or between a capitalised word and a house number ("Árpád fejedelem útja 3").
    if _after_prefix(toks, i):
        return True
    if _PROSE_ENDING.search(t.low) is not None:
        return False
    if (
        prv >= 0
        and toks[prv].kind == WORD
        and (toks[prv].cap or toks[prv].wclass != W_PLAIN)
        and nxt < len(toks)
    ):
        after = toks[nxt]
        return (after.kind == NUM and _num_ok(after)) or (
            after.kind == WORD and after.wclass != W_PLAIN
        )
    return False


# English inflections: a lower-case word ending so is prose, not part of a street name.
_PROSE_ENDING = re.compile(r"(?:ed|ing|ly)$")


@dataclass(slots=True)  # not frozen, as _Tok
class _Run:
    first: int  # token indices, inclusive, of the first and last content token
    last: int


def _runs(toks: list[_Tok], ok: list[bool]) -> list[_Run]:
    runs: list[_Run] = []
    i, n = 0, len(toks)
    while i < n:
        if not ok[i] or toks[i].kind in (SP, COMMA, NL):
            i += 1
            continue
        j = last = i
        content = 1
        while j + 1 < n and ok[j + 1] and content < MAX_RUN_TOKENS:
            if toks[j + 1].kind == NL and toks[j].kind == NL:
                break
            j += 1
            if toks[j].kind not in (SP, COMMA, NL):
                last = j
                content += 1
        runs.append(_Run(i, last))
        i = j + 1
    return runs


def _words_lead_to_street(toks: list[_Tok], i: int, last: int) -> bool:
    """Capitalised words from ``i`` run into a house number or street word on one segment.

    Also the Italian order "Canale Federico, 32, 27035": words, a comma, then a house
    number standing alone in its segment.
    """
    words = 0
    j = i
    while j <= last:
        t = toks[j]
        if t.kind == NUM:
            return True
        if t.kind == WORD:
            if t.wclass in (W_SUFFIX, W_SUFFIX_WEAK, W_PREFIX):
                return True
            if t.wclass != W_PLAIN:
                return False
            if not t.cap and (t.low in PARTICLES or len(t.low) <= 3):
                # "Envoyez à 12 ...", "Bezorgen op Keizersgracht": a preposition, not a name
                nxt = _next_content(toks, j)
                if nxt <= last and (toks[nxt].kind == NUM or toks[nxt].wclass != W_PLAIN):
                    return False
            words += 1
            if words > 5:
                return False
        elif t.kind == COMMA and words:
            k = _next_content(toks, j)
            if k <= last and toks[k].kind == NUM and len(toks[k].text) <= 4:
                after = _next_content(toks, k)
                return (
                    after > last or toks[after].kind in (COMMA, NL) or toks[after].wclass == W_UNIT
                )
            return False
        elif t.kind != SP:
            return False
        j += 1
    return False


def _start(toks: list[_Tok], run: _Run) -> int | None:
    for i in range(run.first, run.last + 1):
        t = toks[i]
        if t.kind == NUM:
            return i
        if t.kind == WORD and t.wclass != W_PLAIN:
            nxt = _next_content(toks, i)
            if t.cap or (
                nxt <= run.last
                and (toks[nxt].kind == NUM or toks[nxt].cap or toks[nxt].low in PARTICLES)
            ):
                return i
        elif t.kind == WORD and not t.cap and t.low in PARTICLES:
            continue  # "doručit na Vinohradská 112": the preposition opens no street
        elif t.kind == WORD and _words_lead_to_street(toks, i, run.last):
            return i
    return None


@dataclass(slots=True)
class _Evidence:
    score: int = 0
    has_num: bool = False
    street_no_num: bool = False


_HYPHEN_POSTCODE = re.compile(r"\d{5}-\d{3}|\d{4}-\d{3}|\d{3}-\d{4}|\d{2}-\d{3}")  # BR PT JP PL
_ZIP5 = re.compile(r"\d{5}(?:-\d{4})?")
_PROVINCE = re.compile(r"\([A-Z]{2}\)|/[A-Z]{2}")  # "(LC)", "Curitiba/PR"


def _evidence(toks: list[_Tok], first: int, last: int) -> _Evidence:
    """Score the structure of tokens ``first..last`` (see the module docstring)."""
    ev = _Evidence()
    seg = 0
    lines = 1
    content: list[int] = []
    segs: list[int] = []
    nums_by_seg: dict[int, int] = {}
    for i in range(first, last + 1):
        t = toks[i]
        if t.kind in (COMMA, NL):
            seg += 1
            lines += t.kind == NL
            continue
        if t.kind == SP:
            continue
        content.append(i)
        segs.append(seg)
        if t.kind == NUM:
            ev.has_num = True
            nums_by_seg[seg] = nums_by_seg.get(seg, 0) + 1

    street = box = unit = postcode = numbers = 0
    count = len(content)
    for k, i in enumerate(content):
        t = toks[i]
        s = segs[k]
        nxt = toks[content[k + 1]] if k + 1 < count else None
        nxt_same = nxt is not None and segs[k + 1] == s
        prv = toks[content[k - 1]] if k > 0 else None
        starts_segment = k == 0 or segs[k - 1] != s
        if t.kind == WORD:
            same_num = nums_by_seg.get(s, 0) > 0
            near_num = same_num or nums_by_seg.get(s - 1, 0) > 0 or nums_by_seg.get(s + 1, 0) > 0
            named = (
                t.wclass == W_PREFIX
                or _is_compound(t)
                or (prv is not None and prv.kind == WORD and segs[k - 1] == s)
            )
            if not named:
                pass
            elif t.wclass in (W_PREFIX, W_SUFFIX) and near_num:
                street = max(street, 3 if same_num else 2)
            elif t.wclass == W_SUFFIX_WEAK and same_num:
                street = max(street, 2)
            elif t.low in STREET_NO_NUMBER and prv is not None and prv.kind == WORD and prv.cap:
                ev.street_no_num = True
            if t.wclass == W_BOX and nxt is not None and nxt.kind == NUM:
                box = 3
            elif t.wclass == W_MIL and nxt is not None and nxt.kind == WORD and k + 2 < count:
                box = 3 if toks[content[k + 2]].kind == NUM else box
            elif t.wclass == W_UNIT and nxt is not None and nxt.kind in (NUM, HASH):
                unit = max(unit, 2 if t.low in UNIT_STRONG else 1)
            # "Aprilton, MO 71180": a two-letter state code and a ZIP after a comma
            if (
                len(t.text) == 2
                and t.text.isupper()
                and nxt is not None
                and nxt.kind == NUM
                and nxt_same
                and _ZIP5.fullmatch(nxt.text)
                and starts_segment
                and k > 0
            ):
                box = 3
        elif t.kind == NUM:
            digits = t.text.replace("-", "")
            # street name then house number, nothing else on the segment: "Eyrarodda 66"
            if (
                k > 0
                and prv is not None
                and prv.kind == WORD
                and prv.cap
                and segs[k - 1] == s
                and (
                    not prv.text.isascii()
                    or (k > 1 and segs[k - 2] == s and toks[content[k - 2]].kind == WORD)
                )
                and len(digits) <= 4
                and (
                    not nxt_same or (nxt is not None and nxt.kind == WORD and nxt.wclass != W_PLAIN)
                )
            ):
                numbers = max(numbers, 1)
            if (
                starts_segment
                and k > 0
                and len(digits) == 3
                and digits.isdigit()
                and k + 2 < count
                and nxt is not None
                and nxt_same
                and nxt.kind == NUM
                and len(nxt.text) == 2
                and nxt.text.isdigit()
                and segs[k + 2] == s
                and toks[content[k + 2]].kind == WORD
                and toks[content[k + 2]].cap
            ):
                postcode = 2  # ", 130 00 Praha 3", ", 811 06 Bratislava", ", 411 38 Göteborg"
            if nxt_same and nxt is not None and nxt.kind == WORD and nxt.cap:
                # number, words, house number ending the street: "28245 Puruntie 82 Apt. 5";
                # "3 Colors 5 Sizes" is a quantity list, a number then a bare noun proves nothing
                for m in range(k + 1, min(count, k + 6)):
                    u = toks[content[m]]
                    if segs[m] != s or u.kind not in (WORD, NUM):
                        break
                    if u.kind == NUM:
                        after = toks[content[m + 1]] if m + 1 < count else None
                        if after is None or segs[m + 1] != s or after.wclass != W_PLAIN:
                            numbers = 2
                        break
                if starts_segment and k > 0 and digits.isdigit() and 4 <= len(digits) <= 5:
                    postcode = 2  # ", 26561 Schlüchtern", ", 3525 TK"
                elif starts_segment and k > 0 and _HYPHEN_POSTCODE.fullmatch(t.text):
                    postcode = 2  # ", 1100-053 Lisboa", ", 00-590 Warszawa"
            elif (
                starts_segment
                and k > 0
                and digits.isdigit()
                and 4 <= len(digits) <= 6
                and not nxt_same
            ):
                if prv is not None and (prv.kind in (PAREN, NUM) or (prv.kind == WORD and prv.cap)):
                    postcode = 2  # "Valencia, 22849"
            elif (
                k > 0
                and digits.isdigit()
                and len(digits) >= 4
                and prv is not None
                and prv.kind == WORD
                and prv.cap
                and not nxt_same
                and (k < 2 or toks[content[k - 2]].kind != NUM)
            ):
                postcode = max(postcode, 1)  # "Estonia 62488"
        elif (t.kind == PC and k > 0) or (t.kind == PAREN and _PROVINCE.fullmatch(t.text)):
            postcode = 2  # "KT4 9QW", "(LC)"
    if (
        postcode >= 2
        and not numbers
        and count >= 3
        and toks[content[0]].kind == WORD
        and toks[content[0]].cap
        and toks[content[1]].kind == NUM
        and segs[0] == segs[1] != segs[2]
    ):
        numbers = 1  # "Masarykova 15, 602 00 Brno": a one-word street, then postcode and city
    lines_score = 1 if lines >= 2 and ev.has_num else 0
    ev.score = max(street, box) + unit + postcode + numbers + lines_score
    return ev


def _trigger_reaches(text: str, run_start: int, addr_start: int, need: int) -> bool:
    """Whether the words before an address give it at least ``need`` points (1 to 3).

    3 after "corner of"; 2 after a trigger phrase, 1 for one nearby or a preposition,
    each plus 1 after "<Name> and". Most runs need 3, which without a corner or a name
    no trigger phrase can give: the trigger alternations, the costly searches here, run
    only when their answer can decide.
    """
    before = text[max(0, addr_start - TRIGGER_WINDOW) : addr_start]
    if _CORNER_END.search(before) is not None:
        return True
    # "Leon and Eyrarodda 66": the way people name a corner
    named = _AND_NAME_END.search(before)
    extra = 1 if named is not None and named.group()[0].isupper() else 0
    if extra >= need:
        return True
    if 2 + extra < need:
        return False
    run_before = text[max(0, run_start - TRIGGER_WINDOW) : run_start]
    if named is not None and extra:
        before = before[: named.start()]
    if _TRIGGER_END.search(before) is not None or _TRIGGER_END.search(run_before) is not None:
        return True
    if 1 + extra < need:
        return False
    return _TRIGGER_NEAR.search(run_before) is not None or _WEAK_PREP_END.search(before) is not None


def _corner_tail(toks: list[_Tok], after: int, lower_text: bool) -> int:
    """End offset of "and <street>" after a corner address, or -1 when there is none."""
    i = _next_content(toks, after)
    if i < len(toks) and toks[i].kind == DOT:  # "Csabai kapu 39. and"
        i = _next_content(toks, i)
    if i < len(toks) and toks[i].kind == WORD and toks[i].low == "st":  # "Asselsestraat 7 St. and"
        i = _next_content(toks, i)
    if i >= len(toks) or toks[i].kind != WORD or toks[i].low != "and":
        return -1
    end = -1
    words = 0
    j = _next_content(toks, i)
    while j < len(toks) and words < 5:
        t = toks[j]
        if (t.kind == NUM and _num_ok(t)) or (
            t.kind == WORD
            and (t.cap or lower_text or t.low in PARTICLES or t.wclass != W_PLAIN)
            and t.low not in LOWER_STOP
        ):
            end = t.end
        else:
            break
        words += 1
        j = _next_content(toks, j)
    return end


def _before_phone(toks: list[_Tok], first: int, last: int) -> int:
    """Last token before a segment of three or more bare numbers ("020 7946 0958")."""
    seg_start = first
    numbers = 0
    kept = last
    for i in range(first, last + 1):
        t = toks[i]
        if t.kind in (COMMA, NL):
            seg_start, numbers = i + 1, 0
        elif t.kind == NUM:
            numbers += 1
            if numbers == PHONE_GROUPS:
                kept = _prev_content(toks, seg_start)
                while kept > first and toks[kept].kind in (COMMA, NL, SP):
                    kept -= 1
                return kept if kept >= first else first
        elif t.kind != SP:
            numbers = 0
    return kept


def _city_first(toks: list[_Tok], run_first: int, first: int, text: str) -> bool:
    """One capitalised word and a comma, right after an address label, before the street.

    The order of Hungarian and Eastern European addresses ("Budapest, Andrássy út 66").
    A person's name is two words or more, so "Ship to: Ann Lee, 12 Main St" keeps the
    name out; a one-word addressee is told from a city by :func:`_names_its_place`.
    """
    kinds = [t.kind for t in toks[run_first:first] if t.kind != SP]
    if kinds != [WORD, COMMA] or not toks[run_first].cap:
        return False
    before = text[max(0, toks[run_first].start - TRIGGER_WINDOW) : toks[run_first].start]
    return _TRIGGER_END.search(before) is not None or _CN_LABEL.search(before) is not None


def _names_its_place(toks: list[_Tok], first: int, last: int) -> bool:
    """The address leaves no room for a city before it: it opens with the house number
    (number-first countries put the city last: "12 Main St, Springfield") or names a
    place after the street ("Bahnhofstraße 12, 79098 Freiburg"). A word and a comma
    before such an address is whom it goes to, not its city."""
    if toks[first].kind == NUM:
        return True
    later = False
    for t in toks[first : last + 1]:
        if t.kind in (COMMA, NL):
            later = True
        elif later and t.kind == WORD and t.cap and t.wclass == W_PLAIN:
            return True
    return False


# What stands before "<name>, <address>": a label's colon, a line start, or a word that
# sends something to someone ("ship to", "Rechnung an", "livrez à", "envío a", "aan").
_ADDRESSEE_LEAD = re.compile(
    r"(?:^|[\n:：>]|(?<![^\W\d_])(?:to|an|à|a|para|per|na|für|for|chez|aan|naar|dla|do|till|til|"
    r"attn\.?|c/o))[ \t]*\Z",
    re.IGNORECASE,
)
# Where a word starts (not inside "O'Brien" or "Jean-Luc").
_WORD_START = re.compile(r"(?<![^\W\d_'’.-])[^\W\d_]")
ADDRESSEE_WINDOW = 64


def _addressee(text: str, start: int, lower_text: bool) -> tuple[int, int] | None:
    """The person an address is written to, right before it ("Ship to: Smith, 12 Main
    St", "Rechnung an Friederike Hollenbach, Bahnhofstraße 12, ..."), or None.

    The words between the lead and the comma must read as a name to the context-name
    scanner (no company, street or common word: "Main Office, 12 Main St" is none).
    """
    from redact.detectors.names import scan_name  # (names imports nothing from here)

    comma = text.rfind(",", max(0, start - 4), start)
    if comma < 0 or text[comma + 1 : start].strip():
        return None
    lo = max(0, comma - ADDRESSEE_WINDOW)
    # Candidate starts: each word start in the window whose prefix ends with a lead.
    for m in _WORD_START.finditer(text, lo, comma):
        if _ADDRESSEE_LEAD.search(text, max(0, m.start() - 24), m.start()) is None:
            continue
        nm = scan_name(text, m.start(), lowercase_ok=lower_text, caps_ok=True)
        if nm is not None and text[nm.end : comma].strip() == "" and nm.start == m.start():
            return nm.start, nm.end
    return None


def _latin_addresses(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Addresses, and the names of the people they are written to."""
    # one-case text (all lower or all upper): capitals say nothing, prose words decide
    lower_text = not any(map(str.isupper, text)) or not any(map(str.islower, text))
    toks = tokenize(text, lower_text)
    ok = _compatible(toks, lower_text)
    found: list[tuple[int, int]] = []
    people: list[tuple[int, int]] = []
    for run in _runs(toks, ok):
        first = _start(toks, run)
        if first is None:
            continue
        last = _before_phone(toks, first, run.last)
        start, end = toks[first].start, toks[last].end
        ev = _evidence(toks, first, last)
        # Kept: a number and enough evidence with the trigger points, or a street named
        # without a number after any trigger. The trigger (several regex searches) is not
        # looked for when the structure alone decides.
        if not (ev.has_num and ev.score >= MIN_EVIDENCE):
            if not (ev.has_num or ev.street_no_num):
                continue
            need = 1 if ev.street_no_num else MIN_EVIDENCE - ev.score
            if not _trigger_reaches(text, toks[run.first].start, start, need):
                continue
        place_named = _names_its_place(toks, first, last)
        person = _addressee(text, start, lower_text) if place_named else None
        if person is not None:
            people.append(person)
        elif not place_named and first > run.first and _city_first(toks, run.first, first, text):
            start = toks[run.first].start
        lead = _TRIGGER_AT.match(text, start)  # "Bezorgen op Overtoom 12": the verb stays out
        if lead is not None and lead.end() < end:
            start = lead.end()
        corner = _CORNER_END.search(text, max(0, start - 20), start)
        if corner is not None:
            start = corner.start()
            end = max(end, _corner_tail(toks, last, lower_text))
        elif first == run.first and ev.has_num:
            m = _AND_NAME_END.search(text, max(0, start - 40), start)
            if m is not None and m.group()[0].isupper():
                start = m.start()
        if found and start < found[-1][1]:  # "… and Harlow Avenue" already taken by a corner
            prev_start, prev_end = found.pop()
            start, end = prev_start, max(end, prev_end)
        found.append((start, end))
    return found, people


def _cjk_addresses(text: str) -> list[tuple[int, int]]:
    """Chinese addresses: one bounded window per administrative-unit or label anchor."""
    found: list[tuple[int, int]] = []
    for run in _CN_RUN.finditer(text):
        rs, re_ = run.span()
        done = rs  # windows start at or after this offset
        for anchor in _CN_ANCHOR.finditer(text, rs, re_):
            if anchor.start() < done:
                continue
            s = max(rs, done, anchor.start() - CN_LOOKBACK)
            span = _cjk_window(text, s, min(re_, s + CN_MAX_RUN), rs)
            if span is not None:
                found.append(span)
                done = span[1]
            else:
                done = anchor.start() + CN_MAX_RUN // 2
    return found


def _cjk_window(text: str, s: int, e: int, run_start: int) -> tuple[int, int] | None:
    cut = _CN_CUT.search(text, s, e)
    if cut is not None:
        e = cut.start()
    labelled = s == run_start and _CN_LABEL.search(text, max(0, s - 12), s) is not None
    inner = list(_CN_LABEL_IN.finditer(text, s, e))  # the window is bounded (CN_MAX_RUN)
    if inner:
        s, labelled = inner[-1].end(), True
    if e - s < 4:
        return None
    admin = _CN_ADMIN.search(text, s, e)
    street = _CN_STREET.search(text, admin.end() if admin else s, e)
    number = _CN_NUMBER.search(text, street.end() if street else s, e)
    if labelled:
        if admin is None and street is None and number is None:
            return None
    elif admin is None or (street is None and number is None):
        return None
    start = s
    if not labelled and admin is not None and admin.start() - s > CN_NAME_CHARS:
        start = admin.start() - CN_NAME_CHARS
    end = e
    if not labelled:
        units = list(_CN_UNIT_END.finditer(text, start, e))
        if not units:
            return None
        end = units[-1].end()
    return start, end


@dataclass(frozen=True, slots=True)
class AddressDetector:
    """Whole postal addresses (see the module docstring); pure and immutable."""

    name: str = "address"
    entity_types: frozenset[str] = field(default=frozenset({"ADDRESS", "PERSON"}))

    def detect(self, text: str) -> tuple[Span, ...]:
        spans, people = _latin_addresses(text) if _PREFILTER.search(text) is not None else ([], [])
        if _HAN_CHAR.search(text) is not None:
            spans.extend(_cjk_addresses(text))
        if _HANGUL.search(text) is not None:
            spans.extend(m.span() for m in _KO_ADDRESS.finditer(text))
        return tuple(
            Span(s, e, "ADDRESS", SCORE, self.name) for s, e in sorted(set(spans)) if s < e
        ) + tuple(Span(s, e, "PERSON", ADDRESSEE_SCORE, self.name) for s, e in people if s < e)


def detectors() -> tuple[Detector, ...]:
    return (AddressDetector(),)

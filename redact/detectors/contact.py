"""Contact-data detectors: e-mail addresses, phone numbers and messenger handles.

All three work on normalised text (ASCII digits, no zero-width characters, NBSP folded
to a space) and return spans in that text.

* :class:`EmailDetector` finds plain addresses (``anna.li+shop@mail.example.de``) and
  spelled-out ones (``anna dot li at gmail dot com``, ``anna.li [at] gmail [dot] com``,
  ``anna(at)gmail.com``, ``anna arroba gmail punto com``). A spelled-out address must
  end in a known top-level domain, and one joined by a bare word ("at", "arroba") needs
  more evidence still (an e-mail-like local part, a mail context word or a well-known
  mail provider), so "meet at the port dot ..." stays prose.
* :class:`PhoneDetector` finds phone-shaped digit runs with a cheap regex and asks
  Google's libphonenumber (``phonenumbers``) whether they are numbers of a relevant
  region. Whether a candidate needs a context word depends on its shape:

  - international form (``+34 941 757 667``, ``0049 ...``): accepted on its own;
  - national forms whose grouping only phones use (``(212) 555-0142``,
    ``0161 496 0000``, ``04 72 10 20 30``, ``(11) 98765-4321``, ``139 1234 5678``,
    ``13912345678``):
    accepted on their own when libphonenumber finds them possible in a region that
    writes numbers that way;
  - anything else (a bare ``02071234567``, ``496 0000``, a country code without "+")
    only next to a phone context word in one of several languages ("call", "tel",
    "WhatsApp", "电话", "celular"...), a context word after it ("... office", "is my
    mobile") or an e-mail address beside it;
  - numbers spelled out digit by digit ("zero one six ...", "cero seis ...",
    "一三九...") and WhatsApp click-to-chat links.

  Business numbers are vetoed: a candidate introduced by a business word (order,
  tracking, carrier, invoice, HS code, account, card, price...) that stands nearer than
  any phone word, dates, HS codes, IP addresses, prices, quantities, SSN/CPF/CNPJ
  shapes, the digit blocks of an IBAN, and national numbers longer than any national
  phone number (order ids, card numbers).
* :class:`MessengerHandleDetector` finds handles only after a messenger name
  ("WeChat ID: li_anna88", "Telegram @anna_li", "Skype live:anna.li", "微信号 ...") or
  in a profile link (``t.me/...``).

Scores: e-mail 0.95; a phone libphonenumber validates 0.85; a phone or handle admitted
by context or shape alone 0.7.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber
from phonenumbers import re_util as _phone_re
from phonenumbers.phonemetadata import PhoneMetadata

from redact.detectors.base import Detector
from redact.detectors.numeric import fold_separators
from redact.span import Span

EMAIL_SCORE = 0.95
PHONE_VALID_SCORE = 0.85
CONTEXT_SCORE = 0.7

# --------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------

# Top-level domains accepted after a spelled-out "dot": generic ones plus the country
# codes of the marketplace's main trading countries. A plain "user@host.tld" address
# accepts any alphabetic TLD.
_SPELLED_TLDS = (
    "com|net|org|edu|gov|info|biz|io|co|me|mail|email|shop|store|online|site|tech|app|"
    "de|uk|fr|es|it|nl|be|ch|at|pt|pl|se|no|dk|fi|ie|cz|hu|ro|gr|tr|ru|ua|"
    "us|ca|mx|br|ar|cl|pe|co|ve|"
    "cn|hk|tw|jp|kr|in|pk|bd|sg|my|th|vn|id|ph|au|nz|ae|sa|il|eg|za|ng|ke"
)
# Words that stand for "@" and for "." when an address is spelled out, in the languages
# buyers and sellers write in. "at" and "dot" are matched case-insensitively.
_AT_WORDS = r"at|arroba|arobase|chiocciola|klammeraffe|affe|apenstaart|małpa|malpa|собака|艾特"
_DOT_WORDS = r"dot|punto|ponto|punkt|point|punt|kropka|точка|点"
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"

# Latin letters with accents (ü, ç, ñ...) may appear in addresses; CJK text around an
# address is not part of it, so boundaries are checked against these classes, not \w.
_LATIN = r"A-Za-z0-9\u00C0-\u024F"
_LOCAL_WORD = rf"[{_LATIN}_%+\-]+"
_LABEL = rf"[{_LATIN}](?:[{_LATIN}\-]{{0,61}}[{_LATIN}])?"

# A plain address. The local part may hold dots (also doubled or trailing, as people
# type them), plus, underscore, digits, apostrophes; the domain needs a dot and an
# alphabetic TLD.
_EMAIL_PLAIN = re.compile(
    rf"(?<![{_LATIN}_.%+\-'])"
    rf"[{_LATIN}_%+\-'](?:[{_LATIN}._%+\-']{{0,63}})"
    r" ?@ ?"
    rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,24}}|xn--[A-Za-z0-9\-]{{2,59}})"
    rf"(?![{_LATIN}_\-]|\.[{_LATIN}])"
)

# A bracketed "at" or "dot" is a deliberate disguise: "[at]", "(at)", "{dot}", "(@)".
_AT_BRACKET = rf"\s?{_OPEN}\s?(?:{_AT_WORDS}|@)\s?{_CLOSE}\s?"
_DOT_BRACKET = rf"\s?{_OPEN}\s?(?:{_DOT_WORDS}|\.)\s?{_CLOSE}\s?"
_AT_BARE = rf"\s(?:{_AT_WORDS})\s"
_DOT_BARE = rf"\s(?:{_DOT_WORDS})\s"
_DOT_ANY = rf"(?:{_DOT_BRACKET}|{_DOT_BARE}|\s?\.\s?)"
_DOT_SPELLED = rf"(?:{_DOT_BRACKET}|{_DOT_BARE})"

# A spelled-out address: local words joined by dots, an "at" of any kind, domain labels
# joined by dots, and a known TLD. The groups tell which disguise was used.
_EMAIL_SPELLED = re.compile(
    rf"(?<![{_LATIN}_.@])"
    rf"(?P<local>{_LOCAL_WORD}(?:(?:{_DOT_SPELLED}|\.| \. ){_LOCAL_WORD}){{0,4}})"
    rf"(?:(?P<atb>{_AT_BRACKET})|(?P<atw>{_AT_BARE})|(?P<atsym>\s?@\s?))"
    rf"(?P<domain>{_LABEL}(?:{_DOT_ANY}{_LABEL}){{0,3}})"
    rf"(?P<dot>{_DOT_ANY})"
    rf"(?P<tld>{_SPELLED_TLDS})"
    rf"(?![{_LATIN}_@]|\.[{_LATIN}])",
    re.IGNORECASE,
)
# Mail context: the words people put before an address.
_MAIL_CONTEXT = re.compile(
    r"e-?mail|mail|correo|courriel|contato|contacto|contact|邮箱|邮件|電子郵件|メール",
    re.IGNORECASE,
)
# Well-known mail providers: an address at one of these needs no further evidence.
_MAIL_PROVIDERS = frozenset(
    {
        "gmail", "googlemail", "yahoo", "hotmail", "outlook", "live", "msn", "aol",
        "icloud", "me", "mac", "proton", "protonmail", "gmx", "web", "mail", "yandex",
        "qq", "163", "126", "sina", "sohu", "foxmail", "aliyun", "naver", "daum",
        "rediffmail", "uol", "bol", "terra", "libero", "orange", "free", "wanadoo",
        "t-online", "zoho", "fastmail", "tutanota",
    }
)  # fmt: skip
# Words that read as prose before a bare "at" ("look at google dot com").
_PROSE_LOCAL = frozenset(
    {
        "look", "looking", "be", "is", "are", "was", "am", "me", "us", "you", "him", "her",
        "them", "it", "arrive", "arrives", "arrived", "meet", "see", "stay", "available",
        "based", "located", "find", "found", "sell", "sold", "buy", "bought", "price",
        "priced", "check", "visit", "shop", "order", "ordered", "online", "store", "here",
        "there", "only", "even", "just", "not", "and", "or", "the", "a", "an", "we", "i",
        "they", "he", "she", "pick", "up", "off", "out", "get", "go", "come", "work",
        "works", "listed", "posted", "home", "office", "est", "esta", "está", "estar",
    }
)  # fmt: skip


_UNIT_LOCAL = frozenset({"pcs", "pc", "units", "unit", "sets", "kg", "each", "ea", "qty"})
_NOT_SPACED_LOCAL = _PROSE_LOCAL | _UNIT_LOCAL


def _spaced_at_ok(match: str) -> bool:
    """An "@" with spaces around it ("anna @ example.com") must follow a word, not "5 pcs @"."""
    if " @" not in match and "@ " not in match:
        return True
    local = match.split("@", 1)[0].strip()
    return (
        len(local) >= 2
        and re.search(r"[A-Za-z]", local) is not None
        and local.lower() not in _NOT_SPACED_LOCAL
    )


def _bare_at_is_email(text: str, m: re.Match[str]) -> bool:
    """Decide whether "<local> at <domain> dot <tld>" written with a bare word is an address."""
    local = m.group("local")
    if local.lower() in _PROSE_LOCAL:
        return False
    domain_first = re.split(r"[^A-Za-z0-9\-]", m.group("domain"), maxsplit=1)[0].lower()
    if domain_first in _MAIL_PROVIDERS:
        return True
    if re.search(r"[\d._+]|\s", local) is not None:  # anna.li, anna_li88, "anna dot li"
        return True
    if m.group("dot").strip() not in ("", "."):  # "dot com" spelled out: a deliberate disguise
        return True
    return _MAIL_CONTEXT.search(text, max(0, m.start() - 40), m.start()) is not None


@dataclass(frozen=True, slots=True)
class EmailDetector:
    """Plain and spelled-out e-mail addresses (see the module docstring)."""

    name: str = "email"
    entity_types: frozenset[str] = field(default=frozenset({"EMAIL"}))
    score: float = EMAIL_SCORE

    def detect(self, text: str) -> tuple[Span, ...]:
        found: list[Span] = []
        lowered = text.lower()
        if "@" in text:
            for m in _EMAIL_PLAIN.finditer(text):
                if _spaced_at_ok(m.group(0)):
                    found.append(Span(m.start(), m.end(), "EMAIL", self.score, self.name))
        if not _may_spell_email(lowered):
            return tuple(found)
        for m in _EMAIL_SPELLED.finditer(text):
            if any(s.start < m.end() and m.start() < s.end for s in found):
                continue
            plain_like = " " not in m.group(0) and m.group("dot") == "."
            if m.group("atsym") is not None and plain_like:
                continue  # written like a plain address: _EMAIL_PLAIN has decided about it
            if m.group("atw") is not None and not _bare_at_is_email(text, m):
                continue
            if m.group("atsym") is not None and not _spaced_at_ok(m.group(0)):
                continue
            found.append(Span(m.start(), m.end(), "EMAIL", self.score, self.name))
        return tuple(found)


_SPELL_HINT = re.compile(rf"@|{_OPEN}\s?(?:{_AT_WORDS})|\s(?:{_AT_WORDS})\s", re.IGNORECASE)


def _may_spell_email(lowered: str) -> bool:
    """Cheap prefilter: a spelled-out address needs an "at" word or sign."""
    return _SPELL_HINT.search(lowered) is not None


# --------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------

# Regions whose national formats a global B2B marketplace sees. libphonenumber decides
# validity per region; a national number is tried against each.
PHONE_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "ES", "PT", "IT",
    "PL", "CZ", "SE", "NO", "DK", "FI", "GR", "TR", "RU", "UA", "IL", "AE", "SA", "EG",
    "ZA", "NG", "KE", "BR", "MX", "AR", "CL", "CO", "PE", "CN", "HK", "TW", "JP", "KR",
    "IN", "PK", "BD", "SG", "MY", "TH", "VN", "ID", "PH", "AU", "NZ",
)  # fmt: skip
# Regions that write national numbers with a leading trunk "0" ("0161 496 0000").
_TRUNK_ZERO_REGIONS: tuple[str, ...] = (
    "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "IT", "SE", "FI", "TR", "AU", "NZ",
    "JP", "KR", "CN", "IN", "PK", "ZA", "NG", "EG", "IL", "AE", "SA", "TH", "ID", "MY",
    "PH", "VN", "UA", "BR", "AR", "PE",
)  # fmt: skip

# A phone-shaped candidate: an optional "+", digit groups joined by one separator
# (space, dash, dot, slash, optionally padded) or by parentheses ("(0141)4960197",
# "+33 (0)4 ..."), and an optional extension. Groups are possessive and separators
# mandatory between plain groups, so a long digit run has exactly one parse.
_TOKEN = r"(?:\(\+?\d{1,5}\)|\d++)"
_JOIN = r"(?: ?[-./] ?| {1,2}|(?<=\))|(?=\())"
_EXT = r"(?: ?(?:x|ext\.?|extn\.?|extension|doorkiesnummer|durchwahl|poste|转|分机) ?\d{1,6})"
# Boundaries are Latin letters and digits, not \w: Chinese or Thai text is written
# straight against a number ("手机是13912345678").
_WORDISH = r"A-Za-z0-9_\u00C0-\u024F"
_PHONE_CANDIDATE = re.compile(
    rf"(?<![{_WORDISH}@#/+\-])(?<!\d[.,])(?<!\d )"
    rf"(?P<main>(?:\+ ?)?{_TOKEN}(?:{_JOIN}{_TOKEN}){{0,16}})"
    rf"(?P<ext>{_EXT})?"
    rf"(?![{_WORDISH}@]|[.,\-/]\d| {{1,2}}\d)",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")

# Shapes that are not phones.
_DATE_SHAPE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_HS_SHAPE = re.compile(r"\d{4}\.\d{2}(?:\.\d{2}(?:\.\d{2,4})?)?")
_IP_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_ID_SHAPES = re.compile(
    r"\d{3}-\d{2}-\d{4}"  # US SSN
    r"|\d{3}\.\d{3}\.\d{3}-\d{2}"  # BR CPF
    r"|\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}"  # BR CNPJ
    r"|\d{2}-\d{7}"  # US EIN
    r"|[1-9]\d{3} \d{4} \d{4}"  # Aadhaar, card fragments (a leading 0 is a trunk prefix)
)

# Shapes that only phones use. Each is checked against the regions that write it.
_NANP_SHAPE = re.compile(
    r"(?:1[-. ])?(?:\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4})"
)
_BR_SHAPE = re.compile(r"\(?\d{2}\)? ?9?\d{4}-\d{4}")
_CN_MOBILE_SHAPE = re.compile(r"1[3-9]\d[- ]\d{4}[- ]\d{4}")
# A Chinese mobile written without separators: 11 digits, 13x-19x.
_CN_MOBILE_COMPACT = re.compile(r"1[3-9]\d{9}")
_TRUNK_SHAPE = re.compile(r"\(?0\d{1,5}\)?(?:(?: ?[-./] ?| {1,2}|(?<=\)))\d{2,8}){1,5}")

# Phone context in the languages of the marketplace. Matched before the number (in a
# window, unless a business keyword is nearer) or right after it ("... office", "fax").
_PHONE_WORDS = (
    # English
    r"phone\w*|telephone|tel|tele|mobile|mob|cell\w*|cel|call\w*|ring|ringing|fax|hotline|"
    r"landline|desk|direct line|dial|ph|area code|dialling code|reach|reachable|reached|"
    r"reception|switchboard|"
    r"sms|msg|message me|text me|text us|texting|my line|contact me|contact us|"
    r"contact number|contact no|contact|"
    r"my number|our number|number to call|answering|messages to|registered|"
    # "my number" in other languages (a bare "numero" also introduces order numbers)
    r"(?:mio|mi|meu|mój|moj|mijn|meine?|mon|minha|moje|nasz|nuestro|nosso)\s+"
    r"(?:numero|número|numer|nummer|numéro)|numaram|numer\s+tel\w*|nr\.?\s+tel\w*|gsm|"
    # messengers whose id is the phone number
    r"whats ?app|wa|zap|viber|signal|telegram|wechat|line id|kakao\w*|zalo|imessage|"
    # Portuguese, Spanish
    r"telefone|fone|celular|ligue|ligar|liga|contato|contacto|tel[eé]fono|m[oó]vil|"
    r"llam\w*|whats|"
    # German, Dutch
    r"telefon\w*|handy\w*|mobil\w*|ruf\w*|anruf\w*|erreichbar|telefoon\w*|mobiel|"
    r"bel|bellen|"
    # French, Italian
    r"t[eé]l[eé]phone|t[eé]l|portable|appel\w*|joindre|cellulare|chiama\w*|telefono|"
    # Turkish, Russian, Indonesian, Vietnamese
    r"telefonu|телефон\w*|тел|моб\w*|звоните|telp|no hp|nomor hp|sđt|đi[eệ]n tho[aạ]i|"
    # Chinese, Japanese, Korean, Arabic, Thai
    r"电话|電話|手机|手機|联系|聯繫|联络|致电|打给|拨打|来电|座机|固话|微信|携帯|전화|핸드폰|휴대폰|연락처|"
    r"هاتف|جوال|موبايل|โทร"
)
_PHONE_BEFORE = re.compile(rf"(?<![A-Za-z])(?:{_PHONE_WORDS})(?![A-Za-z])", re.IGNORECASE)
_PHONE_AFTER = re.compile(
    r"\W{0,3}(?:office|fax|mobile|cell|home|work|tel|phone|desk|direct|whatsapp|"
    r"(?:is )?my (?:line|number|mobile|cell|phone)|"
    r"\([omwhfc]\))(?![A-Za-z])",
    re.IGNORECASE,
)
# Business keywords: a number introduced by one of these is not a phone.
_BUSINESS_WORDS = re.compile(
    r"(?<![A-Za-z])(?:order|orders|po|p/o|purchase order|tracking|track|trace|waybill|awb|"
    r"b/l|bl|bill of lading|container|shipment|parcel|package|consignment|invoice|inv|"
    r"shipped|dispatched|courier|carrier|dhl|fedex|ups|usps|ems|tnt|aramex|sf express|"
    r"receipt|quote|quotation|contract|ref|reference|case (?:no|number|id)|ticket|claim|"
    r"price|cost|total|amount|sum|qty|quantity|moq|weight|size|dimensions|volume|"
    r"capacity|eta|etd|date|deadline|"
    r"hs|hs code|hts|tariff|sku|model|item|part|article|batch|lot|serial|s/n|"
    r"imei|(?<!area )(?<!country )(?<!dialling )(?<!dialing )code|"
    r"barcode|ean|upc|gtin|isbn|"
    r"account|acct|a/c|iban|bank|routing|aba|sort code|swift|bic|card|cvv|cvc|"
    r"ssn|social security|passport|id card|id no|cpf|cnpj|tax|vat|ein|tin|nino|"
    r"license|licence|permit|address|addr|zip|zip code|postcode|postal code|cep|plz|"
    r"pedido|encomenda|rastreio|rastreamento|fatura|factura|nota fiscal|conta|cuenta|"
    r"bestellung|bestellnummer|sendungsnummer|rechnung|konto|commande|facture|compte|"
    r"ordine|fattura|conto|bestelling|factuur|rekening|bestelnummer|ordernummer|"
    r"zamówieni\w*|przesyłk\w*|faktur\w*|sipariş\w*|takip|kargo|"
    r"订单|单号|运单|快递|发票|账号|帐号|卡号|身份证|护照|海关编码|税号)(?![A-Za-z])",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(
    r"(?:[$€£¥₹₩₽]|US\$|R\$|HK\$|A\$|C\$|S\$|\b(?:USD|EUR|GBP|CNY|RMB|JPY|INR|BRL|AUD|CAD|"
    r"CHF|HKD|SGD|KRW|MXN|RUB|TRY|AED|SAR|Rs\.?))\s?$"
)  # case-sensitive: "try 415-..." is not Turkish lira
_UNIT_AFTER = re.compile(
    r"\s?(?:%|pcs|pc|pieces?|units?|sets?|pairs?|kg|kgs|g|mg|t|tons?|tonnes?|lbs?|oz|"
    r"mm|cm|m|km|meters?|metres?|inch|inches|ft|feet|yards?|l|ml|liters?|litres?|"
    r"cartons?|ctns?|boxes|box|bags?|rolls?|pallets?|containers?|dozens?|"
    r"usd|eur|gbp|cny|rmb|dollars?|euros?|yuan|days?|weeks?|months?|years?|hours?|"
    r"件|个|套|箱|吨|元|天)(?![A-Za-z])",
    re.IGNORECASE,
)

_CONTEXT_BEFORE = 56
# How far a business word may stand before the number it introduces
# ("Tracking number for your parcel is 4820193756").
_BUSINESS_GAP = 32
_CLAUSE_BREAK = re.compile(r"(?<![Nn]o)(?<![Nn]r)(?<!ref)[.;!?]\s|,\s|\n\s*\n")
_CONTEXT_AFTER = 14
# National numbers run to 12 digits at most (13 in a few German ranges, which are
# admitted only with "+49"): anything longer is an order id, a card or an account.
_MAX_NATIONAL_DIGITS = 12
_MIN_DIGITS = 7
_MIN_INTERNATIONAL_DIGITS = 8


def _parse(number: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(number, region)
    except NumberParseException:
        return None


def _valid_in(number: str, regions: Iterable[str]) -> tuple[bool, bool]:
    """(valid in some region, possible in some region) for a national number."""
    possible = False
    for region in regions:
        parsed = _parse(number, region)
        if parsed is None:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True, True
        possible = possible or phonenumbers.is_possible_number(parsed)
    return False, possible


def _last_end(pattern: re.Pattern[str], text: str, lo: int, hi: int) -> int:
    """End offset of the last match of ``pattern`` in ``text[lo:hi]``, or -1."""
    end = -1
    for m in pattern.finditer(text, lo, hi):
        end = m.end()
    return end


# A business word naming a person ("account manager", "order desk") or standing inside an
# e-mail address ("acct.ops@…") introduces no number.
_ROLE_AFTER = re.compile(
    r"[ \t]*(?:manager|mgr|rep|representative|executive|officer|team|department|dept|person|"
    r"contact|support|service|holder|owner|gerente|respons[aá]vel|ejecutivo|betreuer|"
    r"manager(?:in)?|verantwortliche[rn]?|responsable|referente|经理|专员)(?![A-Za-z])",
    re.IGNORECASE,
)
_EMAIL_CHAR = re.compile(r"[A-Za-z0-9._%+\-]")


def _in_email(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies inside an e-mail-like token (an "@" in the same token)."""
    i = start
    while i > 0 and _EMAIL_CHAR.match(text, i - 1):
        i -= 1
    j = end
    while j < len(text) and _EMAIL_CHAR.match(text, j):
        j += 1
    return (i > 0 and text[i - 1] == "@") or (j < len(text) and text[j] == "@")


def _business_end(text: str, lo: int, hi: int) -> int:
    """End of the last business word in ``text[lo:hi]`` that may introduce a number, or -1."""
    end = -1
    for m in _BUSINESS_WORDS.finditer(text, lo, hi):
        if _ROLE_AFTER.match(text, m.end()) is not None or _in_email(text, m.start(), m.end()):
            continue
        end = m.end()
    return end


def _nearest_context(text: str, start: int) -> str | None:
    """Which keyword kind governs the number at ``start``: "phone", "business" or None.

    A phone word counts anywhere in the window before the number; a business word only
    when it introduces the number (at most a few filler characters between them, no
    clause break), so "order 123 shipped, call 0161 ..." keeps the phone. When both
    count, the nearer one wins ("call me about order 4820..." is an order).
    """
    lo = max(0, start - _CONTEXT_BEFORE)
    phone = _last_end(_PHONE_BEFORE, text, lo, start)
    business = _business_end(text, max(0, start - _BUSINESS_GAP), start)
    if business >= 0 and _CLAUSE_BREAK.search(text, business, start) is not None:
        business = -1
    if phone < 0 and business < 0:
        return None
    return "phone" if phone > business else "business"


# Contact details cluster: a number written next to an e-mail address is a phone
# ("reach me at 02071234567 or anna@example.com").
_EMAIL_NEARBY = re.compile(r"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+\.[A-Za-z]")
_EMAIL_WINDOW = 48


def _near_email(text: str, start: int, end: int) -> bool:
    lo, hi = max(0, start - _EMAIL_WINDOW), min(len(text), end + _EMAIL_WINDOW)
    return _EMAIL_NEARBY.search(text, lo, hi) is not None


def _international(main: str) -> PhoneNumber | None:
    """Parse ``main`` as an international number ("+CC ..." or "00CC ..."), if it is one."""
    stripped = main.lstrip("(")
    if stripped.startswith("+"):
        return _parse(main, None)
    if stripped.startswith("00") and not stripped.startswith("000"):
        return _parse("+" + re.sub(r"^\(?00", "", main), None)
    return None


@dataclass(frozen=True, slots=True)
class PhoneVerdict:
    """The outcome of :func:`classify_phone`: accepted or not, and with which score."""

    accepted: bool
    score: float = 0.0


_REJECT = PhoneVerdict(False)


def classify_phone(main: str, text: str, start: int, end: int) -> PhoneVerdict:
    """Decide whether the candidate ``main`` at ``text[start:end]`` is a phone number."""
    digits = "".join(_DIGIT.findall(main))
    n = len(digits)
    if n < _MIN_DIGITS or n > 17:
        return _REJECT
    core = main.lstrip("(+ ")
    for shape in (_DATE_SHAPE, _HS_SHAPE, _IP_SHAPE, _ID_SHAPES):
        if shape.fullmatch(core):
            return _REJECT
    if _CURRENCY_BEFORE.search(text, max(0, start - 6), start):
        return _REJECT
    # "500 units" is a quantity, but a number dialled with "+" never is: chat runs
    # sentences together ("call me on +44 20 3123 4567 Unit price is ...").
    if _UNIT_AFTER.match(text, end) and not main.lstrip("( ").startswith("+"):
        return _REJECT
    context = _nearest_context(text, start)
    after = _PHONE_AFTER.match(text, end) is not None
    has_context = context == "phone" or (
        context is None and (after or _near_email(text, start, end))
    )

    intl = _international(main)
    if intl is not None and n >= _MIN_INTERNATIONAL_DIGITS and context != "business":
        if phonenumbers.is_valid_number(intl):
            return PhoneVerdict(True, PHONE_VALID_SCORE)
        # "+CC" and a plausible length is a phone even when the range is unassigned;
        # a bare "00..." prefix is not that telling (account numbers start with 00).
        national = len(str(intl.national_number))
        plausible = phonenumbers.is_possible_number(intl) or 6 <= national <= 13
        dialled = main.lstrip("( ").startswith("+") or has_context
        if plausible and (dialled or _NANP_SHAPE.fullmatch(re.sub(r"^\(?00", "", main))):
            return PhoneVerdict(True, CONTEXT_SCORE)
    if context == "business" or _after_iban_prefix(text, start):
        return _REJECT
    if n > _MAX_NATIONAL_DIGITS:
        # Too long for a national number: with a phone word it may be an international
        # one written without "+" ("Tel: 86-138-0013-8000"); otherwise an id or a card.
        plausible = has_context and n <= 15 and not _luhn(digits)  # a card is never a phone
        with_plus = _parse("+" + digits, None) if plausible else None
        if with_plus is not None and phonenumbers.is_valid_number(with_plus):
            return PhoneVerdict(True, PHONE_VALID_SCORE)
        return _REJECT

    if has_context:
        valid, _ = _valid_in(main, PHONE_REGIONS)
        return PhoneVerdict(True, PHONE_VALID_SCORE if valid else CONTEXT_SCORE)

    # No context: only shapes that phones alone use, and no business word right after
    # in the same clause ("13912345678 is the tracking no.").
    if _business_after(text, end):
        return _REJECT
    if _NANP_SHAPE.fullmatch(main):
        valid, possible = _valid_in(main, ("US", "CA"))
        if possible:
            return PhoneVerdict(True, PHONE_VALID_SCORE if valid else CONTEXT_SCORE)
    if _BR_SHAPE.fullmatch(main):
        valid, possible = _valid_in(main, ("BR",))
        if possible:
            return PhoneVerdict(True, PHONE_VALID_SCORE if valid else CONTEXT_SCORE)
    if _CN_MOBILE_SHAPE.fullmatch(main) or _CN_MOBILE_COMPACT.fullmatch(main):
        valid, _ = _valid_in(main, ("CN",))
        if valid:
            return PhoneVerdict(True, PHONE_VALID_SCORE)
    if n >= 10 and _TRUNK_SHAPE.fullmatch(main) and _has_separator(main):
        valid, possible = _valid_in(main, _TRUNK_ZERO_REGIONS)
        if valid:
            return PhoneVerdict(True, PHONE_VALID_SCORE)
        if possible:
            return PhoneVerdict(True, CONTEXT_SCORE)
    return _REJECT


def _business_after(text: str, end: int) -> bool:
    hi = min(len(text), end + _CONTEXT_AFTER + 10)
    m = _BUSINESS_WORDS.search(text, end, hi)
    return m is not None and _CLAUSE_BREAK.search(text, end, m.start()) is None


# The tail of an IBAN printed in blocks ("NL91 ABNA 0417 ..."): its digit blocks are
# the IBAN detector's, never a phone.
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){1,7} ?$")


def _after_iban_prefix(text: str, start: int) -> bool:
    return _IBAN_HEAD.search(text, max(0, start - 40), start) is not None


def _luhn(digits: str) -> bool:
    """The Luhn check that every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _has_separator(main: str) -> bool:
    return any(ch in main for ch in " -./()")


def _split_listed(main: str) -> list[tuple[int, str]]:
    """Split "0161 496 0000 / 0161 496 0001" into its numbers (offset, text)."""
    parts: list[tuple[int, str]] = []
    pos = 0
    for m in re.finditer(r" ?/ ?| - | {2}", main):
        parts.append((pos, main[pos : m.start()]))
        pos = m.end()
    parts.append((pos, main[pos:]))
    return [(o, p) for o, p in parts if p]


# A WhatsApp click-to-chat link carries the number in international form without "+".
_WHATSAPP_LINK = re.compile(
    r"(?:wa\.me/|whatsapp\.com/send/?\?phone=)(?P<number>\+?\d{7,15})(?!\d)", re.IGNORECASE
)


def _whatsapp_links(text: str, name: str) -> list[Span]:
    found = []
    for m in _WHATSAPP_LINK.finditer(text):
        number = m.group("number")
        parsed = _parse("+" + number.lstrip("+"), None)
        valid = parsed is not None and phonenumbers.is_valid_number(parsed)
        score = PHONE_VALID_SCORE if valid else CONTEXT_SCORE
        found.append(Span(m.start("number"), m.end("number"), "PHONE", score, name))
    return found


# Numbers spelled out digit by digit, a common way to slip a phone past a filter:
# "zero one six one ...", "cero seis ...", "一三九一二三...". Words of several languages.
_DIGIT_WORDS = (
    r"zero|oh|one|two|three|four|five|six|seven|eight|nine|"  # English
    r"cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|"  # Spanish
    r"um|dois|três|quatro|sete|oito|nove|"  # Portuguese (shared words above)
    r"null|eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun|"  # German
    r"zéro|deux|trois|quatre|cinq|sept|huit|neuf|"  # French
    r"due|tre|quattro|sei|sette|otto|nove|"  # Italian
)
_SPELLED_DIGITS = re.compile(
    rf"(?<![A-Za-z\u00C0-\u024F\d])(?:(?:{_DIGIT_WORDS.rstrip('|')})|\d{{1,4}})"
    rf"(?:[ ,\-]{{1,2}}(?:(?:{_DIGIT_WORDS.rstrip('|')})|\d{{1,4}})){{3,15}}"
    r"(?![A-Za-z\u00C0-\u024F\d])"
    r"|[〇零一二三四五六七八九幺](?:[ \-]?[〇零一二三四五六七八九幺]){6,15}",
    re.IGNORECASE,
)
_DIGIT_TOKEN = re.compile(
    rf"(?:{_DIGIT_WORDS.rstrip('|')})|\d+|[〇零一二三四五六七八九幺]", re.IGNORECASE
)
_SPELLED_ALONE = 9  # this many spelled digits in a row are a phone without context


def _spelled_phones(text: str, name: str) -> list[Span]:
    found = []
    for m in _SPELLED_DIGITS.finditer(text):
        tokens = _DIGIT_TOKEN.findall(m.group(0))
        words = sum(not t.isdigit() for t in tokens)
        digits = words + sum(len(t) for t in tokens if t.isdigit())
        if words < 3 or not _MIN_DIGITS <= digits <= 15:
            continue  # plain digits are the regular candidate's job
        context = _nearest_context(text, m.start())
        if context == "business":
            continue
        after = _PHONE_AFTER.match(text, m.end()) is not None
        if digits >= _SPELLED_ALONE or context == "phone" or after:
            found.append(Span(m.start(), m.end(), "PHONE", CONTEXT_SCORE, name))
    return found


_SPELLED_HINT = re.compile(
    rf"(?:{_DIGIT_WORDS.rstrip('|')})\b|[〇零一二三四五六七八九幺]{{3}}", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class PhoneDetector:
    """Phone numbers, validated by libphonenumber (see the module docstring)."""

    name: str = "phone"
    entity_types: frozenset[str] = field(default=frozenset({"PHONE"}))

    def detect(self, text: str) -> tuple[Span, ...]:
        # The hint (a digit word, or three Chinese digits in a row) takes longer to search
        # for than the spelled-out numbers themselves: it is asked only when there are some.
        spelled = _spelled_phones(text, self.name)
        if spelled and _SPELLED_HINT.search(text) is None:
            spelled = []
        # map() counts in C; the generator it replaces cost a Python frame per character
        if sum(map(str.isdigit, text)) < _MIN_DIGITS:
            return tuple(spelled)
        text = fold_separators(text)  # Unicode dashes and middle dots; same length
        found = _whatsapp_links(text, self.name) if "wa" in text.lower() else []
        found.extend(spelled)
        for m in _PHONE_CANDIDATE.finditer(text):
            main = m.group("main")
            start = m.start()
            if sum(map(str.isdigit, main)) < _MIN_DIGITS:
                continue
            verdict = classify_phone(main, text, start, m.end())
            if verdict.accepted:
                found.append(Span(start, m.end(), "PHONE", verdict.score, self.name))
                continue
            # A list of numbers joined by " / " reads as one long candidate.
            parts = _split_listed(main)
            if len(parts) < 2:
                continue
            for offset, part in parts:
                p_start, p_end = start + offset, start + offset + len(part)
                v = classify_phone(part, text, p_start, p_end)
                if v.accepted:
                    found.append(Span(p_start, p_end, "PHONE", v.score, self.name))
        return tuple(found)


# --------------------------------------------------------------------------------------
# Messenger handles
# --------------------------------------------------------------------------------------

# Messenger names, then an optional "ID"/"号"/"username" and a separator, then the
# handle. "Line" and "Signal" are ordinary words, so they need "ID" or an upper-case
# spelling with a colon.
_MESSENGERS = (
    r"we ?chat|weixin|wx|微信|whats ?app|telegram|tg|skype|viber|kakao(?:talk)?|"
    r"qq|facebook messenger|messenger|instagram|insta|ig|discord|snapchat|threema|zalo|imo"
)
_HANDLE = re.compile(
    r"(?<![A-Za-z])"
    rf"(?P<app>(?i:{_MESSENGERS})|(?i:line)(?= ?(?i:id))|LINE(?= ?:)|(?i:signal)(?= ?:))"
    r"(?P<sep>(?: ?(?i:id|号|號|账号|帳號|account|username|user ?name|handle|name))?"
    r"(?: ?(?:[:=]|(?i:is)\b|-|是|为|為) ?| |(?<=[\u4e00-\u9fff])))"
    r"(?:(?i:me|us) )?(?:(?i:at|on|as) )?"
    r"(?P<handle>@[A-Za-z0-9_.]{3,32}|(?i:live):[A-Za-z0-9_.\-]{3,64}"
    r"|[A-Za-z][A-Za-z0-9_.\-]{2,31}|\d{5,12})"
    r"(?![A-Za-z0-9_@:/])"
)
# Profile links name the handle without a messenger word before it.
_HANDLE_LINK = re.compile(
    r"(?<![\w.])(?:t(?:elegram)?\.me|line\.me/ti/p|u\.wechat\.com|skype:|"
    r"(?:www\.)?instagram\.com|(?:www\.)?facebook\.com|m\.me)/?"
    r"(?P<handle>[~@]?[A-Za-z0-9_.\-]{3,64})",
    re.IGNORECASE,
)
_HANDLE_PROSE = frozenset(
    {
        "please", "pls", "and", "or", "the", "too", "also", "now", "later", "then",
        "is", "me", "us", "you", "your", "my", "our", "group", "call", "message",
        "chat", "account", "instead", "if", "for", "with", "app", "today", "tomorrow",
        "number", "id", "ok", "okay", "thanks", "thank", "here", "there", "only",
        "same", "above", "below", "available", "yes", "no", "not", "busy", "will", "can",
        "could", "would", "should", "send", "sent", "add", "added", "scan", "code", "qr",
        "pay", "payment", "video", "voice", "calls", "works", "either", "both",
        "contact", "details", "info", "official", "business", "personal", "work",
        "find", "ping", "dm", "follow", "search", "reach", "text", "write", "msg", "hit",
    }
)  # fmt: skip
# A handle introduced as "my id is @…", "add me: @…", "find us at @…" when a messenger
# is named elsewhere in the message ("let's move to telegram … my id is @ana_lux").
_MESSENGER_NAMED = re.compile(rf"(?<![A-Za-z])(?i:{_MESSENGERS}|line|signal)(?![A-Za-z])")
_HANDLE_INTRO = re.compile(
    r"(?:(?<![A-Za-z])(?i:"
    r"(?:my|our)\s+(?:id|handle|user\s?name|account|nick(?:name)?|profile)"
    r"|(?:add|find|message|dm|ping|text|contact|follow|search)\s+(?:me|us)"
    r"|(?:mi|meu|nuestro|nosso)\s+(?:id|usuario|usu[aá]rio|perfil|cuenta|conta)"
    r"|(?:agr[eé]game|agrega(?:me)?|me\s+adiciona|adiciona(?:-me)?|b[uú]scame|me\s+encontra)"
    r"|(?:meine?|unsere?)\s+(?:id|kennung|benutzername|nutzername|profil)|f[uü]g\s+mich\s+hinzu"
    r"|(?:mon|notre)\s+(?:id|identifiant|pseudo|profil)|ajoute[sz]?[\s-]moi"
    r"|(?:il\s+)?mio\s+(?:id|nome\s+utente|profilo)|aggiungimi"
    r")(?:\s+(?:is|es|é|e|ist|est|è|at|on|as|en|em|auf|sur|su))?\s*[:：=]?\s*"
    r"|(?:我的|我)(?i:id|账号|帳號|用户名)(?:是|为|：|:)?\s*|加我\s*)"
    r"@(?P<handle>[A-Za-z0-9_.]{3,32})(?![A-Za-z0-9_@])"
)
# Apps whose "ID" is a phone number: a digit handle there is the phone detector's.
_PHONE_APPS = re.compile(r"(?i:whats ?app|viber|signal|telegram|tg)")


def _is_handle(app: str, sep: str, handle: str) -> bool:
    if handle.startswith("@") or handle.lower().startswith("live:"):
        return True
    if handle.isdigit():
        return _PHONE_APPS.fullmatch(app) is None
    if handle.lower().rstrip(".") in _HANDLE_PROSE:
        return False
    explicit = sep.strip() != ""  # "WeChat ID:", "wechat: ", "微信号"
    return explicit or re.search(r"[\d_.]", handle) is not None


@dataclass(frozen=True, slots=True)
class MessengerHandleDetector:
    """Messenger handles, only right after a messenger name (see the module docstring)."""

    name: str = "messenger_handle"
    entity_types: frozenset[str] = field(default=frozenset({"MESSENGER_HANDLE"}))
    score: float = CONTEXT_SCORE

    def detect(self, text: str) -> tuple[Span, ...]:
        found = [
            Span(m.start("handle"), m.end("handle"), "MESSENGER_HANDLE", self.score, self.name)
            for m in _HANDLE_LINK.finditer(text)
        ]
        if "@" in text and _MESSENGER_NAMED.search(text) is not None:
            for m in _HANDLE_INTRO.finditer(text):
                handle = m.group("handle").rstrip(".")
                at = m.start("handle") - 1  # the "@"; a local part glued before it is an e-mail
                if handle and not (at > 0 and _EMAIL_CHAR.match(text, at - 1)):
                    start = m.start("handle")
                    found.append(
                        Span(start, start + len(handle), "MESSENGER_HANDLE", self.score, self.name)
                    )
        for m in _HANDLE.finditer(text):
            handle = m.group("handle").rstrip(".-")
            if _is_handle(m.group("app"), m.group("sep"), handle):
                start = m.start("handle")
                found.append(
                    Span(start, start + len(handle), "MESSENGER_HANDLE", self.score, self.name)
                )
        return tuple(found)


# The kinds of number a region's metadata describes (PhoneMetadata attributes).
_NUMBER_KINDS = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
    "no_international_dialling",
)


@functools.cache  # once per process: the patterns stay compiled
def _warm_phone_patterns() -> None:
    """Compile now the metadata patterns that parsing and validating a number use.

    Compiled on first use, they cost the first messages of each detection worker 5-40
    ms each (a national number is tried in dozens of regions), on a live server after
    every start. Here: every kind's national-number pattern in every region, and each
    region's own example numbers parsed and validated (which compiles the patterns of
    the parsing path). ~0.2 s and ~2 MB, once, before the workers fork.
    """
    for region in phonenumbers.SUPPORTED_REGIONS:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        for kind in _NUMBER_KINDS:
            desc = getattr(meta, kind, None)
            if desc is None:
                continue
            if desc.national_number_pattern:
                _phone_re.re_compile(desc.national_number_pattern)
            parsed = _parse(desc.example_number, region) if desc.example_number else None
            if parsed is not None:
                phonenumbers.is_valid_number(parsed)
                phonenumbers.is_possible_number(parsed)


def detectors() -> tuple[Detector, ...]:
    # libphonenumber reads a region's metadata on first use; done for every region now
    # (~0.1 s, ~1.5 MB, shared by forked workers), so that the first message with a new
    # country code does not stall detection in live traffic. Its metadata patterns are
    # compiled on use, and a national number is tried in dozens of regions: hundreds of
    # patterns, more than the re module's cache keeps, so they were compiled again and
    # again (~3 ms of a 90-character message). Keep every compiled pattern instead, and
    # compile them now rather than in the first messages.
    PhoneMetadata.load_all()
    _phone_re.enable_pattern_cache()
    _warm_phone_patterns()
    return (EmailDetector(), PhoneDetector(), MessengerHandleDetector())

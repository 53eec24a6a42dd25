#!/usr/bin/env python3
"""Build benchmarks/corpora/holdout.jsonl: a hand-written, held-out redaction corpus.

Every template, name, street and phrasing below was written for this file; nothing is
taken from ../shared/eval/ or from a fake-data generator. Values that carry a checksum
(cards, IBANs, ABA routing numbers, CPF/CNPJ, CN resident IDs, EU VAT numbers, EINs,
container numbers) are generated here and validated. The output is deterministic:

    .venv/bin/python benchmarks/corpora/make_holdout.py [--out PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

import phonenumbers
from stdnum import iban as std_iban
from stdnum.br import cnpj as std_cnpj
from stdnum.br import cpf as std_cpf
from stdnum.cn import ric as std_ric
from stdnum.eu import vat as std_vat
from stdnum.us import ein as std_ein

Part = str | tuple[str, str, str]  # plain text, or (role, type, value); role in S/K/N

# --------------------------------------------------------------------------- values


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


CARD_SCHEMES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("visa16", ("4",), 16),
    ("visa19", ("4",), 19),
    ("mc5", ("51", "53", "55"), 16),
    ("mc2", ("2221", "2367", "2599", "2720"), 16),
    ("amex", ("34", "37"), 15),
    ("unionpay19", ("621", "622848", "6250"), 19),
    ("unionpay16", ("6228", "6212"), 16),
    ("jcb", ("3528", "3566", "3589"), 16),
    ("discover", ("6011", "65", "644"), 16),
    ("maestro", ("6759", "5018", "5020"), 16),
    ("diners", ("36",), 14),
)


def card(rng: random.Random, scheme: str | None = None) -> tuple[str, str]:
    sch = [s for s in CARD_SCHEMES if scheme is None or s[0] == scheme]
    name, prefixes, length = rng.choice(sch)
    return name, luhn_complete(rng.choice(prefixes), length, rng)


def group_card(num: str, scheme: str) -> str:
    if scheme == "amex":
        return f"{num[:4]} {num[4:10]} {num[10:]}"
    if scheme == "diners":
        return f"{num[:4]} {num[4:10]} {num[10:]}"
    return " ".join(num[i : i + 4] for i in range(0, len(num), 4))


IBAN_SHAPES: dict[str, str] = {  # n digit, a upper letter, c alnum
    "DE": "n" * 18,
    "FR": "n" * 23,
    "GB": "aaaa" + "n" * 14,
    "ES": "n" * 20,
    "IT": "a" + "n" * 22,
    "NL": "aaaa" + "n" * 10,
    "BE": "n" * 12,
    "PL": "n" * 24,
    "CH": "n" * 17,
    "AE": "n" * 19,
    "SA": "n" * 20,
    "TR": "n" * 22,
    "BR": "n" * 23 + "a" + "c",
    "AT": "n" * 16,
    "PT": "n" * 21,
    "IE": "aaaa" + "n" * 14,
    "HU": "n" * 24,
    "SE": "n" * 20,
}


def _fill(shape: str, rng: random.Random) -> str:
    out = []
    for s in shape:
        if s == "n":
            out.append(rng.choice(string.digits))
        elif s == "a":
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(rng.choice(string.ascii_uppercase + string.digits))
    return "".join(out)


def iban(rng: random.Random, cc: str | None = None) -> str:
    cc = cc or rng.choice(sorted(IBAN_SHAPES))
    for _ in range(20000):
        bban = _fill(IBAN_SHAPES[cc], rng)
        if cc == "TR":
            bban = bban[:5] + "0" + bban[6:]
        num = "".join(str(int(c, 36)) for c in bban + cc + "00")
        check = 98 - int(num) % 97
        value = f"{cc}{check:02d}{bban}"
        if std_iban.is_valid(value):
            return value
    raise RuntimeError("could not build a valid IBAN for " + cc)


def iban_print(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def aba(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(["0" + str(rng.randint(1, 9)), "1" + str(rng.randint(0, 2)), str(rng.randint(21, 32)), str(rng.randint(61, 72))])
        d = [int(prefix[0]), int(prefix[1])] + [rng.randrange(10) for _ in range(6)]
        w = (3, 7, 1, 3, 7, 1, 3, 7)
        s = sum(a * b for a, b in zip(d, w))
        c = (10 - s % 10) % 10
        v = "".join(map(str, d)) + str(c)
        return v  # Federal Reserve prefixes 01-12, 21-32, 61-72 only


def cpf(rng: random.Random) -> str:
    base = "".join(rng.choice(string.digits) for _ in range(9))
    return std_cpf.format(base + std_cpf._calc_check_digits(base))


def cnpj(rng: random.Random) -> str:
    base = "".join(rng.choice(string.digits) for _ in range(8)) + "0001"
    return std_cnpj.format(base + std_cnpj.calc_check_digits(base))


def cn_ric(rng: random.Random) -> str:
    while True:
        area = rng.choice(["110105", "310115", "440305", "330106", "510107", "420111", "320102", "370202"])
        birth = f"{rng.randint(1962, 2001)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = area + birth + f"{rng.randint(0, 999):03d}"
        value = body + std_ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit
        if std_ric.is_valid(value):  # also checks the birth place is a known county code
            return value


def ssn(rng: random.Random) -> str:
    while True:
        a = rng.randint(1, 899)
        if a != 666:
            break
    return f"{a:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def nino(rng: random.Random) -> str:
    while True:
        p = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
        if p not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            break
    d = "".join(rng.choice(string.digits) for _ in range(6))
    return f"{p} {d[:2]} {d[2:4]} {d[4:]} {rng.choice('ABCD')}"


VAT_SHAPES = {"DE": "n" * 9, "IT": "n" * 11, "NL": "n" * 9 + "B01", "PL": "n" * 10, "AT": "U" + "n" * 8, "BE": "0" + "n" * 9, "DK": "n" * 8, "FI": "n" * 8}


def vat(rng: random.Random, cc: str | None = None) -> str:
    cc = cc or rng.choice(sorted(VAT_SHAPES))
    for _ in range(50000):
        shape = VAT_SHAPES[cc]
        v = cc + "".join(rng.choice(string.digits) if s == "n" else s for s in shape)
        if std_vat.is_valid(v):
            return v
    raise RuntimeError("vat " + cc)


def ein(rng: random.Random) -> str:
    while True:
        v = f"{rng.randint(10, 99)}-{rng.randint(0, 9999999):07d}"
        if std_ein.is_valid(v):
            return v


def phone(rng: random.Random, region: str | None = None) -> str:
    region = region or rng.choice(sorted(PHONE_SHAPES))
    for _ in range(5000):
        nat = PHONE_SHAPES[region]
        raw = "".join(rng.choice(string.digits) if c == "n" else c for c in nat)
        try:
            pn = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(pn):
            fmt = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.E164])
            return phonenumbers.format_number(pn, fmt)
    raise RuntimeError("phone " + region)


PHONE_SHAPES = {
    "BR": "119nnnnnnnn",
    "CN": "13nnnnnnnnn",
    "DE": "0151nnnnnnnn",
    "GB": "07nnnnnnnnn",
    "TR": "05nnnnnnnnn",
    "AE": "05nnnnnnnn",
    "NG": "080nnnnnnnn",
    "VN": "09nnnnnnnn",
    "KR": "010nnnnnnnn",
    "JP": "090nnnnnnnn",
    "IN": "9nnnnnnnnn",
    "PL": "6nnnnnnnn",
    "HU": "0630nnnnnnn",
    "IE": "08nnnnnnnn",
    "US": "nnnnnnnnnn",
    "MX": "55nnnnnnnn",
    "ES": "6nnnnnnnn",
}


def container(rng: random.Random) -> str:
    owner = rng.choice(["MSCU", "MAEU", "CMAU", "HLXU", "OOLU", "TGHU"])
    serial = f"{rng.randint(0, 999999):06d}"
    vals = {c: v for c, v in zip(string.ascii_uppercase, [10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38])}
    s = sum((vals[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(owner + serial))
    return owner + serial + str(s % 11 % 10)


def digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def ups(rng: random.Random) -> str:
    return "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(6)) + digits(rng, 10)


# --------------------------------------------------------------------------- disguises

FW = {c: chr(0xFF10 + int(c)) for c in string.digits}


def fullwidth(v: str) -> str:
    return "".join(FW.get(c, c) for c in v)


def zerowidth(v: str, rng: random.Random) -> str:
    out = []
    for i, c in enumerate(v):
        out.append(c)
        if c.isdigit() and i < len(v) - 1 and rng.random() < 0.3:
            out.append(rng.choice(["\u200b", "\u200c", "\u2060", "\ufeff"]))
    return "".join(out)


def regroup(v: str, sep: str, size: int = 4) -> str:
    d = "".join(c for c in v if c.isalnum())
    return sep.join(d[i : i + size] for i in range(0, len(d), size))


def spaced(v: str) -> str:
    return " ".join(c for c in v if c.isalnum())


def disguise(v: str, rng: random.Random, kinds: tuple[str, ...] = ("fullwidth", "zerowidth", "nbsp", "dots", "dashes", "slashes", "spaced")) -> tuple[str, str]:
    k = rng.choice(kinds)
    if k == "fullwidth":
        return fullwidth(v), k
    if k == "zerowidth":
        return zerowidth(v, rng), k
    if k == "nbsp":
        return (v.replace(" ", "\u00a0") if " " in v else regroup(v, "\u00a0")), k
    if k == "dots":
        return regroup(v, "."), k
    if k == "dashes":
        return regroup(v, "-"), k
    if k == "slashes":
        return regroup(v, "/"), k
    return spaced(v), k


# --------------------------------------------------------------------------- people & places (hand-written)

NAMES: dict[str, list[str]] = {
    "yoruba": ["Adebayo Ogunleye", "Folasade Adeyemi-Bello", "Oluwaseun Babatunde", "Temitope Akinola", "Kehinde Oyelaran", "Ifeoluwa Adesanya"],
    "vietnamese": ["Nguyễn Thị Hồng Nhung", "Trần Văn Khoa", "Phạm Minh Tuấn", "Lê Thu Hà", "Đặng Quốc Bảo", "Vo Thanh Liem"],
    "arabic": ["Khalid Al-Mansouri", "Fatima Zahra Benali", "Youssef El Amrani", "Omar Abdulrahman Al Qahtani", "Noor Haddad", "Rania Saleh"],
    "turkish": ["Mehmet Yıldırım", "Ayşe Kaya Çelik", "Emre Öztürk", "Zeynep Aydoğan", "Burak Şahin"],
    "polish": ["Grzegorz Brzęczek", "Agnieszka Wróblewska", "Krzysztof Szczepański", "Małgorzata Dąbrowska", "Wojciech Zieliński"],
    "irish": ["Siobhán Ní Bhriain", "Pádraig O'Sullivan", "Aoife McGillicuddy", "Cillian Ó Donnchadha", "Niamh Fitzgerald"],
    "japanese": ["Takahashi Haruto", "佐藤美咲", "Yamamoto Kenji", "中村大輔", "Haruka Ishikawa"],
    "korean": ["Park Ji-hoon", "김민준", "Lee Seo-yeon", "Choi Woo-jin", "이수진"],
    "indian": ["Venkata Subramaniam Iyer", "Priyanka Raghunathan", "Harpreet Singh Gill", "Ananya Chatterjee", "Mohammed Irfan Shaikh"],
    "pinyin": ["Zhang Weiqiang", "Liu Yanfang", "Xu Haoran", "Huang Zixuan", "Guo Meiling"],
    "han": ["王建国", "陈晓梅", "李思远", "赵丽娟", "欧阳明辉"],
    "brazilian": ["João Pedro Albuquerque", "Maria Eduarda Figueiredo", "Thiago Nascimento", "Luana Carvalho dos Santos", "Raimundo Nonato Lima"],
    "hungarian": ["Nagy Zsófia", "Kovács Bence", "Szabó Réka", "Tóth Levente"],
    "german": ["Jürgen Hoffmeister", "Annegret Pfeiffer", "Dr. Klaus-Dieter Wendt", "Svenja Brökelmann"],
    "hispanic": ["Ximena Villaseñor", "Rodrigo Echeverría Paz", "Guadalupe Treviño", "Iñaki Etxeberria"],
    "african": ["Kwame Mensah", "Nomvula Dlamini", "Chidera Okonkwo", "Wanjiru Kamau"],
    "other": ["Tariq Hussain", "Dmitri Volkov", "Anneliese van der Berg", "Sione Taufa", "Bolat Nurmagambetov"],
}
ALL_NAMES = [n for v in NAMES.values() for n in v]

ADDRESSES: list[tuple[str, str]] = [
    ("DE", "Lindenstraße 42, 10969 Berlin"),
    ("DE", "Am Kiesgrund 7a, 63225 Langen (Hessen)"),
    ("FR", "17 rue des Tanneurs, 69002 Lyon"),
    ("GB", "Flat 3, 28 Mulberry Lane, Leeds LS6 2QT"),
    ("US", "4410 Cedar Hollow Rd, Suite 210, Austin, TX 78745"),
    ("US", "88 Old Mill Pkwy Apt 12C, Paterson NJ 07501"),
    ("BR", "Rua Doutor Alceu de Campos, 815, apto 42, Vila Mariana, São Paulo - SP, 04011-060"),
    ("BR", "Av. Sete de Setembro 1290, sala 3, Centro, Curitiba/PR, CEP 80060-070"),
    ("CN", "广东省深圳市南山区科技园南路18号3栋502室"),
    ("CN", "Room 1203, Building 5, No. 88 Xinhua Road, Yuexiu District, Guangzhou 510030"),
    ("CN", "浙江省义乌市稠城街道宾王路158号"),
    ("JP", "〒150-0002 東京都渋谷区渋谷2-15-1 7階"),
    ("JP", "2-11-3 Minami-Aoyama, Minato-ku, Tokyo 107-0062"),
    ("KR", "서울특별시 강남구 테헤란로 152, 12층"),
    ("KR", "12F, 152 Teheran-ro, Gangnam-gu, Seoul 06236"),
    ("IN", "Flat 4B, Shanti Apartments, 12th Cross, Indiranagar, Bengaluru 560038"),
    ("NG", "14 Adeola Odeku Street, Victoria Island, Lagos"),
    ("AE", "Office 1407, Al Saqr Business Tower, Sheikh Zayed Road, Dubai"),
    ("TR", "Bağdat Caddesi No: 214 D: 6, Kadıköy, 34728 İstanbul"),
    ("PL", "ul. Wiejska 12 m. 4, 00-490 Warszawa"),
    ("ES", "Calle de Alcalá 128, 3º izq., 28009 Madrid"),
    ("IT", "Via Giuseppe Verdi 23, 20121 Milano MI"),
    ("NL", "Keizersgracht 311-B, 1016 EE Amsterdam"),
    ("VN", "Số 25 Ngõ 102 Trần Duy Hưng, Cầu Giấy, Hà Nội"),
    ("MX", "Av. Insurgentes Sur 1602, Col. Crédito Constructor, 03940 Ciudad de México, CDMX"),
    ("HU", "Budapest, Andrássy út 66, 1062"),
    ("IE", "Apt 7, 21 Harcourt Terrace, Dublin 2, D02 X285"),
    ("AU", "Unit 5, 40 Kingsway, Glen Waverley VIC 3150"),
    ("SA", "King Fahd Rd, Al Olaya, Riyadh 12214"),
    ("ZA", "31 Bree Street, Cape Town, 8001"),
]

COMPANIES = ["Shenzhen Brightlux Optoelectronics Co., Ltd.", "Hanseatic Trading GmbH", "Três Rios Importadora Ltda", "Anatolia Tekstil A.Ş.", "Lagos Gadget Hub Ltd", "Saigon Packaging JSC", "Meridian Tools LLC", "义乌市恒发日用品有限公司"]
CITIES = ["Rotterdam", "Yiwu", "Santos", "Hamburg", "Ningbo", "Dubai", "Mersin", "Felixstowe", "Long Beach"]
PRODUCTS = ["LED panel", "phone case", "brake pads", "yoga mats", "solar inverter", "ceramic mugs", "drone batteries", "cotton hoodies"]

# --------------------------------------------------------------------------- builder


class Conv:
    def __init__(self, cid: str, rng: random.Random) -> None:
        self.cid, self.rng, self.msgs = cid, rng, []
        self.dispute = self.risk = False

    def add(self, sender: str, parts: list[Part], lang: str = "en", tricks: tuple[str, ...] = ()) -> None:
        text, spans, keep, neutral = "", [], [], []
        for p in parts:
            if isinstance(p, str):
                text += p
                continue
            role, typ, val = p
            s = len(text)
            text += val
            rec = {"start": s, "end": len(text), "type": typ}
            {"S": spans, "K": keep, "N": neutral}[role].append(rec)
        self.msgs.append({"sender": sender, "lang": lang, "text": text, "spans": spans, "keep": keep, "neutral": neutral, "tricks": sorted(set(tricks))})

    def rows(self) -> list[dict]:
        purposes = (["dispute_handling"] if self.dispute else []) + (["risk_control"] if self.risk else [])
        out = []
        for i, m in enumerate(self.msgs):
            out.append({"id": f"{self.cid}-m{i:02d}", "conversation_id": self.cid, "seq": i, "sender": m["sender"], "lang": m["lang"], "text": m["text"], "spans": m["spans"], "keep": m["keep"], "neutral": m["neutral"], "purposes": purposes, "tricks": m["tricks"]})
        return out


def S(t: str, v: str) -> tuple[str, str, str]:
    return ("S", t, v)


def K(t: str, v: str) -> tuple[str, str, str]:
    return ("K", t, v)


def N(t: str, v: str) -> tuple[str, str, str]:
    return ("N", t, v)


def maybe(rng: random.Random, v: str, p: float = 0.25, kinds: tuple[str, ...] | None = None) -> tuple[str, list[str]]:
    if rng.random() < p:
        d, k = disguise(v, rng, kinds) if kinds else disguise(v, rng)
        return d, [k]
    return v, []


def price(rng: random.Random) -> str:
    amt = rng.randint(120, 98000)
    return rng.choice([f"${amt:,}", f"USD {amt}.00", f"€{amt}", f"{amt} EUR", f"R$ {amt:,}".replace(",", ".") + ",00", f"¥{amt}", f"{amt}元", f"£{amt/10:.2f}", f"AED {amt}", f"₺{amt}", f"{amt} zł"])


def qty(rng: random.Random) -> str:
    return rng.choice([f"{rng.randint(2, 90) * 50} pcs", f"{rng.randint(1, 40)} cartons", f"{rng.randint(100, 9000)} units", f"{rng.randint(1, 12)} pallets", f"{rng.randint(2, 60)}0件", f"{rng.randint(1, 30)} caixas"])


def date(rng: random.Random) -> str:
    d, m = rng.randint(1, 28), rng.randint(1, 12)
    return rng.choice([f"{d:02d}/{m:02d}/2026", f"2026-{m:02d}-{d:02d}", f"{d}.{m}.2026", f"{m}月{d}日", f"{d} de março", f"Dec {d}"])


def hs(rng: random.Random) -> str:
    return rng.choice(["8471.30.01", "8504.40.95", "6109.10.00", "9506.91", "8507.60.00", "6912.00.10", "8708.30", "85176200"])


def model(rng: random.Random) -> str:
    return rng.choice(["XR-7700B", "SKU 44-1190-BLK", "BL-4402-W", "PX9-220V", "A2231/B", "MOD-88X", "Q-Series 5512", "TZ400-EU"])


def order_id(rng: random.Random) -> str:
    return rng.choice([digits(rng, 18), digits(rng, 16), "PO-2026-" + digits(rng, 5), "INV " + digits(rng, 8), digits(rng, 12)])


# --------------------------------------------------------------------------- message templates


def t_opening(c: Conv) -> None:
    r = c.rng
    prod, q, m_, p = r.choice(PRODUCTS), qty(r), model(r), price(r)
    v = r.randrange(6)
    if v == 0:
        c.add("buyer", ["hi, do u still have the ", prod, " ", K("PRODUCT_CODE", m_), "? need ", K("QUANTITY", q), " for next month"])
        c.add("seller", ["yes dear 😊 price is ", K("PRICE", p), " each, HS code ", K("HS_CODE", hs(r)), ", can ship from ", N("CITY", r.choice(CITIES))])
    elif v == 1:
        c.add("buyer", ["你好，", K("PRODUCT_CODE", m_), " 还有货吗？要 ", K("QUANTITY", q)], lang="zh")
        c.add("seller", ["有的，单价 ", K("PRICE", p), "，", K("DATE", date(r)), " 前可以发货"], lang="zh")
    elif v == 2:
        c.add("buyer", ["olá! vcs tem ", K("PRODUCT_CODE", m_), " a pronta entrega? preciso de ", K("QUANTITY", q)], lang="pt")
        c.add("seller", ["temos sim, fica ", K("PRICE", p), " por unidade, envio até ", K("DATE", date(r))], lang="pt")
    elif v == 3:
        c.add("buyer", ["Guten Tag, wir bräuchten ", K("QUANTITY", q), " von ", K("PRODUCT_CODE", m_), ". Lieferung bis ", K("DATE", date(r)), " möglich?"], lang="de")
        c.add("seller", ["Hallo, ja. Preis ", K("PRICE", p), " netto, Zolltarifnummer ", K("HS_CODE", hs(r))], lang="de")
    elif v == 4:
        c.add("buyer", ["hola, cuánto sale el ", K("PRODUCT_CODE", m_), " x ", K("QUANTITY", q), "?"], lang="es")
        c.add("seller", ["buenas! ", K("PRICE", p), " c/u, somos ", N("COMPANY", r.choice(COMPANIES))], lang="es")
    else:
        oid = order_id(r)
        c.add("buyer", ["placed order ", K("ORDER_ID", oid), " just now, pls confirm stock of ", K("PRODUCT_CODE", m_)])
        c.add("seller", ["confirmed ✅ ", K("QUANTITY", q), " packed, total ", K("PRICE", p)])


def t_shipping(c: Conv) -> None:
    r = c.rng
    v = r.randrange(6)
    if v == 0:
        c.add("seller", ["shipped via UPS, tracking ", K("TRACKING_NUMBER", ups(r)), " ETA ", K("DATE", date(r))])
    elif v == 1:
        c.add("seller", ["container ", K("CONTAINER_NUMBER", container(r)), " loaded at ", N("CITY", r.choice(CITIES)), ", B/L no. ", K("BL_NUMBER", r.choice(["MEDU", "COSU", "ONEY"]) + digits(r, 9))])
    elif v == 2:
        c.add("seller", ["已发货，快递单号 ", K("TRACKING_NUMBER", "SF" + digits(r, 12)), "，预计 ", K("DATE", date(r)), " 到"], lang="zh")
    elif v == 3:
        c.add("seller", ["enviado! rastreio ", K("TRACKING_NUMBER", "NX" + digits(r, 9) + "BR"), ", nota fiscal ", K("INVOICE_NUMBER", digits(r, 9))], lang="pt")
    elif v == 4:
        luhn_order = luhn_complete("4", 16, r)
        c.add("seller", ["order #", K("ORDER_ID", luhn_order), " dispatched, DHL waybill ", K("TRACKING_NUMBER", digits(r, 10)), ", ", K("QUANTITY", qty(r))])
    else:
        c.add("seller", ["tracking: ", K("TRACKING_NUMBER", digits(r, 22)), " (USPS). invoice ", K("INVOICE_NUMBER", "INV-" + digits(r, 6)), " attached"])


def t_card(c: Conv) -> None:
    r = c.rng
    sch, num = card(r)
    shown = group_card(num, sch) if r.random() < 0.6 else num
    shown, tr = maybe(r, shown, 0.45)
    exp = f"{r.randint(1, 12):02d}/{r.randint(27, 31)}"
    cvv = digits(r, 4 if sch == "amex" else 3)
    v = r.randrange(5)
    if v == 0:
        c.add("buyer", ["ok pay by card then: ", S("CREDIT_CARD", shown), " exp ", S("CARD_EXPIRY", exp), " cvv ", S("CARD_CVV", cvv)], tricks=tr)
    elif v == 1:
        c.add("buyer", ["卡号 ", S("CREDIT_CARD", shown), "，有效期 ", S("CARD_EXPIRY", exp), "，安全码 ", S("CARD_CVV", cvv)], lang="zh", tricks=tr)
    elif v == 2:
        c.add("buyer", ["segue o cartão ", S("CREDIT_CARD", shown), " validade ", S("CARD_EXPIRY", exp), " código ", S("CARD_CVV", cvv), " no nome de ", S("PERSON", r.choice(NAMES["brazilian"]))], lang="pt", tricks=tr)
    elif v == 3:
        c.add("buyer", ["use my ", sch.rstrip("0123456789").replace("mc", "mastercard"), " ", S("CREDIT_CARD", shown), " (", S("CARD_EXPIRY", exp), ") sec code ", S("CARD_CVV", cvv), " thx"], tricks=tr)
    else:
        a, b = num[: len(num) // 2], num[len(num) // 2 :]
        c.add("buyer", ["card is ", S("CREDIT_CARD", a)], tricks=("split",))
        c.add("buyer", [S("CREDIT_CARD", b), " exp ", S("CARD_EXPIRY", exp)], tricks=("split",))
    if r.random() < 0.5:
        c.add("seller", ["got it, charged ", K("PRICE", price(r)), " to card ending ", N("CARD_LAST4", num[-4:]), " for order ", K("ORDER_ID", order_id(r))])


def t_bank(c: Conv) -> None:
    r = c.rng
    name = r.choice(ALL_NAMES)
    v = r.randrange(7)
    if v == 0:
        ib = iban(r)
        shown, tr = maybe(r, iban_print(ib) if r.random() < 0.6 else ib, 0.3)
        c.add("seller", ["pls wire to IBAN ", S("IBAN", shown), " BIC ", S("SWIFT_BIC", r.choice(["DEUTDEFF", "BNPAFRPPXXX", "COBADEFFXXX", "HSBCHKHHHKH", "NWBKGB2L", "ICBKCNBJSZN", "BRASBRRJ"])), " beneficiary ", S("PERSON", name)], tricks=tr)
    elif v == 1:
        ib = iban(r, r.choice(["DE", "AT", "CH"]))
        c.add("seller", ["Bankverbindung:\nKontoinhaber: ", S("PERSON", name), "\nIBAN: ", S("IBAN", iban_print(ib)), "\nVerwendungszweck: Rechnung ", K("INVOICE_NUMBER", digits(r, 7))], lang="de")
    elif v == 2:
        rt, acct = aba(r), digits(r, r.choice([8, 10, 12]))
        rt_s, tr = maybe(r, rt, 0.3, ("spaced", "dashes", "fullwidth"))
        c.add("seller", ["ACH info - routing ", S("BANK_ACCOUNT", rt_s), " acct ", S("BANK_ACCOUNT", acct), ", ", N("COMPANY", r.choice(COMPANIES))], tricks=tr)
    elif v == 3:
        ib = iban(r, "BR")
        c.add("seller", ["dados p/ transferência: ", S("IBAN", iban_print(ib)), " favorecido ", S("PERSON", r.choice(NAMES["brazilian"])), " CNPJ ", S("BR_CNPJ", cnpj(r))], lang="pt")
    elif v == 4:
        acct = digits(r, 19)
        c.add("seller", ["收款账户：", S("BANK_ACCOUNT", acct), " 开户行 中国工商银行深圳分行 户名 ", S("PERSON", r.choice(NAMES["han"]))], lang="zh")
    elif v == 5:
        ib = iban(r, r.choice(["AE", "SA", "TR"]))
        a, b = ib[:12], ib[12:]
        c.add("seller", ["beneficiary bank details: ", S("IBAN", a)], tricks=("split",))
        c.add("seller", ["..", S("IBAN", b), " sorry pressed enter lol"], tricks=("split",))
    else:
        ib = iban(r, r.choice(["GB", "IE"]))
        c.add("seller", ["sort code ", S("BANK_ACCOUNT", f"{r.randint(10,99)}-{r.randint(10,99)}-{r.randint(10,99)}"), " account ", S("BANK_ACCOUNT", digits(r, 8)), " / IBAN ", S("IBAN", ib.lower() if r.random() < 0.5 else ib)])


def t_contact(c: Conv) -> None:
    r = c.rng
    name = r.choice(ALL_NAMES)
    ascii_user = r.choice(["k.mensah", "ayse.celik", "thanh.liem88", "j.hoffmeister", "sales.zhang", "priya_r", "ogunleye.ade", "reka.szabo", "pedro.alb"])
    dom = r.choice(["gmail.com", "outlook.com", "163.com", "qq.com", "yahoo.com.br", "web.de", "brightlux-opto.cn", "proton.me"])
    v = r.randrange(8)
    ph = phone(r)
    if v == 0:
        shown, tr = maybe(r, ph, 0.4)
        c.add("seller", ["add me on whatsapp ", S("PHONE", shown), " faster reply"], tricks=tr)
        c.risk = True  # moving to another messenger
    elif v == 1:
        u, d = dom.split(".", 1)
        spelled = f"{ascii_user.replace('.', ' dot ')} at {u} dot {d.replace('.', ' dot ')}"
        c.add("buyer", ["my mail is ", S("EMAIL", spelled), " send PI there"], tricks=("spelled_email",))
    elif v == 2:
        e = f"{ascii_user}{r.choice(['[at]', '(at)', ' @ ', '＠'])}{dom}"
        c.add("buyer", ["email: ", S("EMAIL", e)], tricks=("obfuscated_at",))
    elif v == 3:
        shown, tr = maybe(r, ph, 0.6, ("fullwidth", "zerowidth", "spaced", "dots"))
        c.add("seller", ["电话/微信同号 ", S("PHONE", shown), " 联系人 ", S("PERSON", r.choice(NAMES["han"] + NAMES["pinyin"]))], lang="zh", tricks=tr)
        c.risk = True  # moving to WeChat
    elif v == 4:
        c.add("seller", ["Best regards,\n", S("PERSON", name), "\nExport Manager | ", N("COMPANY", r.choice(COMPANIES)), "\nM: ", S("PHONE", ph), "\nE: ", S("EMAIL", f"{ascii_user}@{dom}")])
    elif v == 5:
        digits_only = "".join(ch for ch in ph if ch.isdigit() or ch == "+")
        a, b = digits_only[: len(digits_only) // 2], digits_only[len(digits_only) // 2 :]
        c.add("buyer", ["my number ", S("PHONE", a)], tricks=("split",))
        c.add("buyer", [S("PHONE", b)], tricks=("split",))
    elif v == 6:
        c.add("buyer", ["this is ", S("PERSON", name.lower() if r.random() < 0.5 else name), " from ", N("COMPANY", r.choice(COMPANIES)), ", call me ", S("PHONE", ph)])
    else:
        c.add("buyer", ["meu zap ", S("PHONE", phone(r, "BR")), " e email ", S("EMAIL", f"{ascii_user}@{dom}"), " 👍"], lang="pt")
        c.risk = True  # "zap" is WhatsApp: moving to another messenger


def t_address(c: Conv) -> None:
    r = c.rng
    cc, addr = r.choice(ADDRESSES)
    name = r.choice(ALL_NAMES)
    v = r.randrange(5)
    if v == 0:
        c.add("buyer", ["ship to: ", S("ADDRESS", addr), ", attn ", S("PERSON", name), ", tel ", S("PHONE", phone(r))])
    elif v == 1:
        c.add("buyer", ["收货地址：", S("ADDRESS", addr), " 收件人：", S("PERSON", r.choice(NAMES["han"]))], lang="zh")
    elif v == 2:
        c.add("buyer", ["Lieferadresse: ", S("ADDRESS", addr), "\nAnsprechpartner: ", S("PERSON", name)], lang="de")
    elif v == 3:
        c.add("buyer", ["endereço de entrega ", S("ADDRESS", addr), " aos cuidados de ", S("PERSON", name), " pedido ", K("ORDER_ID", order_id(r))], lang="pt")
    else:
        c.add("buyer", ["pls deliver to my warehouse: ", S("ADDRESS", addr), " (not the office in ", N("CITY", r.choice(CITIES)), ") - receiver ", S("PERSON", name)])


def t_govid(c: Conv) -> None:
    r = c.rng
    name = r.choice(ALL_NAMES)
    v = r.randrange(10)
    if v == 0:
        s, tr = maybe(r, ssn(r), 0.3, ("spaced", "fullwidth", "zerowidth"))
        c.add("buyer", ["for the net-30 credit form: ", S("PERSON", name), ", SSN ", S("US_SSN", s), ", DOB ", S("DATE_OF_BIRTH", f"{r.randint(1,12):02d}/{r.randint(1,28):02d}/{r.randint(1960,1999)}")], tricks=tr)
    elif v == 1:
        c.add("buyer", ["NI number ", S("UK_NINO", nino(r)), " for the payroll invoice, born ", S("DATE_OF_BIRTH", f"{r.randint(1,28)} March {r.randint(1960,1999)}")])
    elif v == 2:
        x, tr = maybe(r, cn_ric(r), 0.3, ("spaced", "fullwidth", "zerowidth"))
        c.add("buyer", ["清关需要身份证号：", S("CN_RESIDENT_ID", x), "，姓名 ", S("PERSON", r.choice(NAMES["han"]))], lang="zh", tricks=tr)
    elif v == 3:
        c.add("buyer", ["pra nota fiscal: CPF ", S("BR_CPF", cpf(r)), ", nome completo ", S("PERSON", r.choice(NAMES["brazilian"]))], lang="pt")
    elif v == 4:
        x = cpf(r).replace(".", "").replace("-", "")
        c.add("buyer", ["meu cpf é ", S("BR_CPF", x), " blz?"], lang="pt")
    elif v == 5:
        c.add("seller", ["our VAT no. ", S("TAX_ID", vat(r)), ", please put it on invoice ", K("INVOICE_NUMBER", "INV-" + digits(r, 6))])
    elif v == 6:
        c.add("seller", ["W-9: ", N("COMPANY", r.choice(COMPANIES)), " EIN ", S("TAX_ID", ein(r))])
    elif v == 7:
        pp = r.choice(["E" + digits(r, 8), digits(r, 9), "C" + "".join(r.choice("CFGHJKLMNPRTVWXYZ0123456789") for _ in range(8)), "U" + digits(r, 8)])
        c.add("buyer", ["visa invitation letter pls - passport ", S("PASSPORT", pp), ", ", S("PERSON", name), ", born ", S("DATE_OF_BIRTH", f"{r.randint(1960,1999)}-{r.randint(1,12):02d}-{r.randint(1,28):02d}")])
    elif v == 8:
        c.add("buyer", ["número de pasaporte ", S("PASSPORT", r.choice(["PAB", "XDC", "AAH"]) + digits(r, 6)), ", fecha de nacimiento ", S("DATE_OF_BIRTH", f"{r.randint(1,28)}/{r.randint(1,12)}/{r.randint(1960,1999)}")], lang="es")
    else:
        c.add("buyer", ["Steuernummer/USt-IdNr. ", S("TAX_ID", vat(r, "DE")), ", geb. am ", S("DATE_OF_BIRTH", f"{r.randint(1,28):02d}.{r.randint(1,12):02d}.{r.randint(1960,1999)}")], lang="de")


def t_disguised(c: Conv) -> None:
    r = c.rng
    kind = r.choice(["card", "iban", "phone", "ssn", "ric", "cpf", "nino"])
    if kind == "card":
        sch, num = card(r)
        typ, val, lead = "CREDIT_CARD", num, r.choice(["card no ", "cartão ", "卡号", "tarjeta "])
    elif kind == "iban":
        typ, val, lead = "IBAN", iban(r), r.choice(["iban ", "IBAN: ", "conta "])
    elif kind == "phone":
        typ, val, lead = "PHONE", phone(r), r.choice(["tel ", "手机 ", "cel ", "ring me "])
    elif kind == "ssn":
        typ, val, lead = "US_SSN", ssn(r), "ssn "
    elif kind == "ric":
        typ, val, lead = "CN_RESIDENT_ID", cn_ric(r), "身份证 "
    elif kind == "cpf":
        typ, val, lead = "BR_CPF", cpf(r), "cpf "
    else:
        typ, val, lead = "UK_NINO", nino(r), "national insurance "
    shown, k = disguise(val, r)
    c.add(r.choice(["buyer", "seller"]), [lead, S(typ, shown), r.choice(["", " ok?", " 🙏", "，谢谢", " (pls keep private)"])], tricks=(k,))


def t_long(c: Conv) -> None:
    r = c.rng
    name = r.choice(ALL_NAMES)
    cc, addr = r.choice(ADDRESSES)
    ib = iban(r)
    c.add("seller", [
        "hi again, summary for ", K("ORDER_ID", order_id(r)), ": ", K("QUANTITY", qty(r)), " of ", K("PRODUCT_CODE", model(r)), " @ ", K("PRICE", price(r)),
        ", goods ready ", K("DATE", date(r)), ". pls pay balance to ", S("IBAN", iban_print(ib)), " (", S("PERSON", name), "). consignee ", S("ADDRESS", addr),
        ". any q's mail ", S("EMAIL", "acct." + r.choice(["ops", "finance", "shipping"]) + "@" + r.choice(["hanseatic-trading.de", "meridiantools.com", "tresrios.com.br"])), " or ", S("PHONE", phone(r)), " 🙏",
    ])


def t_forwarded(c: Conv) -> None:
    r = c.rng
    ib = iban(r)
    c.add("seller", ["---------- Forwarded message ---------\nFrom: ", S("PERSON", r.choice(ALL_NAMES)), " <", S("EMAIL", r.choice(["finance", "billing", "ar"]) + "@" + r.choice(["anatolia-tekstil.com.tr", "saigonpack.vn", "lagosgadgets.ng"])), ">\nSubject: payment details ", K("INVOICE_NUMBER", "PI-" + digits(r, 5)), "\n\nAccount name: ", S("PERSON", r.choice(ALL_NAMES)), "\nIBAN ", S("IBAN", ib), "\nSWIFT ", S("SWIFT_BIC", r.choice(["TGBATRISXXX", "NBADAEAA", "RJHISARI", "ZEIBNGLA"]))])


def t_negatives(c: Conv) -> None:
    r = c.rng
    v = r.randrange(6)
    if v == 0:
        c.add("buyer", ["order ", K("ORDER_ID", luhn_complete("5", 16, r)), " and order ", K("ORDER_ID", luhn_complete("3", 15, r)), " can be combined in one shipment?"])
    elif v == 1:
        c.add("seller", ["pedido ", K("ORDER_ID", digits(r, 14)), " faturado, NF ", K("INVOICE_NUMBER", digits(r, 6)), ", valor ", K("PRICE", price(r))], lang="pt")
    elif v == 2:
        c.add("buyer", ["PO ", K("ORDER_ID", digits(r, 10)), " qty ", K("QUANTITY", qty(r)), " HS ", K("HS_CODE", hs(r)), " model ", K("PRODUCT_CODE", model(r))])
    elif v == 3:
        c.add("seller", ["订单号 ", K("ORDER_ID", digits(r, 19)), " 已退款 ", K("PRICE", price(r))], lang="zh")
        c.dispute = True  # a refund is a dispute signal under the tagging policy
    elif v == 4:
        c.add("buyer", ["paid with card ending ", N("CARD_LAST4", digits(r, 4)), " on ", K("DATE", date(r)), ", amount ", K("PRICE", price(r))])
    else:
        c.add("seller", ["Rechnung ", K("INVOICE_NUMBER", "RE-2026-" + digits(r, 5)), " vom ", K("DATE", date(r)), ", Betrag ", K("PRICE", price(r))], lang="de")


DISPUTE = [
    (["the ", "items arrived damaged, half the cartons crushed. i want a refund for order ", ("K", "ORDER_ID", None)], "en"),
    (["货不对板，和描述的不一样，要求退货退款，订单 ", ("K", "ORDER_ID", None)], "zh"),
    (["produto veio com defeito, quero devolução do pedido ", ("K", "ORDER_ID", None)], "pt"),
    (["faltan 3 cajas del pedido ", ("K", "ORDER_ID", None), ", abrí una reclamación"], "es"),
    (["Ware beschädigt angekommen, ich möchte eine Rückerstattung für Bestellung ", ("K", "ORDER_ID", None)], "de"),
    (["my bank will do a chargeback if you don't answer. dispute id ", ("K", "DISPUTE_ID", None)], "en"),
    (["bro only 40 of the 50 boxes came, 10 missing!! order ", ("K", "ORDER_ID", None)], "en"),
    (["colour is totally different from the pics, this is not what i ordered 😡"], "en"),
    (["收到的货有破损，屏幕碎了，怎么处理？"], "zh"),
    (["包裹一直没收到，物流显示已签收但我没签，申请退款"], "zh"),
    (["o pacote chegou vazio, vou abrir uma reclamação na plataforma"], "pt"),
    (["quiero que me devuelvan el dinero, la mercancía llegó rota"], "es"),
    (["Die Lieferung ist unvollständig, es fehlen zwei Paletten. Bitte um Gutschrift."], "de"),
    (["i opened case ", ("K", "DISPUTE_ID", None), " with the platform about the wrong size"], "en"),
    (["want to send these back, quality is bad. how do i return them?"], "en"),
]
RISK = [
    (["to avoid platform fees pay me directly by western union, i give 5% discount"], "en"),
    (["let's continue on telegram, this app is slow. my id is @", ("S", "MESSENGER_HANDLE", "bright_lux_sales")], "en"),
    (["注意：我们公司账户已变更，请把货款打到新账户"], "zh"),
    (["para confirmar o pagamento me manda o código que chegou por SMS"], "pt"),
    (["please send the full card number and the 3 digits on the back so i can verify"], "en"),
    (["claim your shipping refund here: http://refund-check.verify-pay.top/login"], "en"),
    (["Unsere Bankverbindung hat sich geändert, bitte ab sofort auf das neue Konto überweisen"], "de"),
    (["first pay a release fee of $300 for customs then we send the goods"], "en"),
    (["hablemos por whatsapp mejor, fuera de la plataforma"], "es"),
    (["pls pay to my personal paypal instead, the platform holds money too long"], "en"),
    (["加我微信聊吧，平台上不方便"], "zh"),
    (["不要在平台付款，直接转账给我可以便宜10%"], "zh"),
    (["me chama no telegram que te passo um desconto por fora"], "pt"),
    (["nuestra cuenta bancaria cambió, usa estos nuevos datos por favor"], "es"),
    (["Bitte schicken Sie mir den Bestätigungscode aus der SMS"], "de"),
    (["what's your login password for the supplier portal? i'll upload the docs for you"], "en"),
    (["NOTE: our bank account has been updated, old account no longer valid"], "en"),
    (["you won a bonus coupon! verify at bit.ly/3xFree-cpn with your card"], "en"),
    (["to unlock the shipment you must first pay an insurance deposit of 500 usd"], "en"),
]
NOT_PURPOSE = [  # look like triggers, are none under the tagging policy
    ("what is your return policy in case i order a sample?", "en"),
    ("pay through the platform as usual, thanks", "en"),
    ("our bank is HSBC, details are the same as last order", "en"),
    ("the code on the carton is the HS code, not a password lol", "en"),
    ("catalogue link is on our store page here in the app", "en"),
    ("可以开发票吗？走平台付款就行", "zh"),
    ("a conta é a mesma de sempre, pode pagar pela plataforma", "pt"),
    ("sin problema, el pago por la plataforma está bien", "es"),
    ("Zahlung wie immer über die Plattform, danke", "de"),
    ("great, goods arrived in perfect condition 👍", "en"),
]


def t_dispute(c: Conv) -> None:
    r = c.rng
    parts, lang = r.choice(DISPUTE)
    out: list[Part] = []
    for p in parts:
        if isinstance(p, tuple):
            role, typ, val = p
            out.append((role, typ, val or ("DSP-" + digits(r, 8) if typ == "DISPUTE_ID" else order_id(r))))
        else:
            out.append(p)
    c.add("buyer", out, lang=lang)
    c.dispute = True


def t_risk(c: Conv) -> None:
    r = c.rng
    parts, lang = r.choice(RISK)
    c.add("seller", [p if isinstance(p, str) else p for p in parts], lang=lang)
    c.risk = True


def t_not_purpose(c: Conv) -> None:
    text, lang = c.rng.choice(NOT_PURPOSE)
    c.add(c.rng.choice(["buyer", "seller"]), [text], lang=lang)


def t_plain(c: Conv) -> None:
    r = c.rng
    text, lang = r.choice([("ok thx 👍", "en"), ("好的，谢谢", "zh"), ("blz, obrigado!", "pt"), ("vale, perfecto", "es"), ("alles klar, danke", "de"), ("pls check and confirm asap", "en"), ("any update?? 😅", "en")])
    c.add(r.choice(["buyer", "seller"]), [text], lang=lang)


SENSITIVE: tuple[Callable[[Conv], None], ...] = (t_card, t_card, t_card, t_bank, t_bank, t_contact, t_contact, t_address, t_address, t_govid, t_govid, t_govid, t_govid, t_disguised, t_disguised, t_disguised, t_long, t_forwarded)


def build(seed: int, n_conv: int) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    turn = 0
    for i in range(n_conv):
        c = Conv(f"h{seed:03d}{i:05d}", rng)
        t_opening(c)
        for _ in range(rng.randint(2, 4)):
            SENSITIVE[turn % len(SENSITIVE)](c)  # round robin: every template gets its share
            turn += 1
        if rng.random() < 0.6:
            t_shipping(c)
        if rng.random() < 0.5:
            t_negatives(c)
        x = rng.random()
        if x < 0.3:
            t_dispute(c)
        elif x < 0.55:
            t_risk(c)
        elif x < 0.62:
            t_dispute(c)
            t_risk(c)
        if rng.random() < 0.35:
            t_not_purpose(c)
        if rng.random() < 0.3:
            t_plain(c)
        rows.extend(c.rows())
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).with_name("holdout.jsonl")))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--conversations", type=int, default=68)
    a = ap.parse_args()
    rows = build(a.seed, a.conversations)
    with open(a.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} messages, {sum(len(r['spans']) for r in rows)} sensitive spans, {sum(len(r['keep']) for r in rows)} keep spans")


if __name__ == "__main__":
    main()

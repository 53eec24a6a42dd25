#!/usr/bin/env python3
"""Build benchmarks/corpora/holdout2.jsonl: a second, hand-written blind check.

Every message below was written by hand for this file, in the way buyers and sellers
write on a marketplace: many languages, lower-case chat, names introduced by context,
addresses in national shapes, and values disguised as people disguise them (cards
with dots or one digit at a time, an IBAN or a card split over two messages, a phone
number spelled out in words, an e-mail with "(at)" and "dot"). Business numbers that
must survive (order and invoice ids, tracking and B/L numbers, prices, quantities,
dates, product and HS codes) sit beside them. No sentence, name, street or value comes
from ../shared/eval/, from holdout.jsonl or from a fake-data generator. Values with a
checksum (cards, IBANs, CPF, SSN) and phone numbers are checked when the file is built.

Markup inside a message: ``{S:TYPE:value}`` must be redacted, ``{K:TYPE:value}`` must be
kept, ``{N:TYPE:value}`` is scored neither way.

    .venv/bin/python benchmarks/corpora/make_holdout2.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.br import cpf as std_cpf
from stdnum.us import ssn as std_ssn

# (sender, text with markup, tricks)
Msg = tuple[str, str, tuple[str, ...]]
# (language, purposes of the whole conversation, messages)
Conversation = tuple[str, tuple[str, ...], tuple[Msg, ...]]

B, S = "buyer", "seller"
RISK, DISPUTE = "risk_control", "dispute_handling"

CONVERSATIONS: tuple[Conversation, ...] = (
    (  # card in chat with dots, then an ordinary US shipment
        "en",
        (RISK,),
        (
            (B, "hi, do you have the {K:PRODUCT_CODE:TX-450B} power banks in stock? need {K:QUANTITY:800 units}", ()),
            (S, "Yes, {K:PRICE:USD 6.40} per unit, lead time {K:QUANTITY:12 days}. Order ref will be {K:ORDER_ID:SO-2026-118834}.", ()),
            (B, "ok. can I pay by card directly? it's {S:CREDIT_CARD:4520.5542.0349.9586} exp {S:CARD_EXPIRY:11/29} cvv {S:CARD_CVV:417}", ("dots",)),
            (S, "Please don't post card numbers here, use the platform checkout. Your order {K:ORDER_ID:SO-2026-118834} is reserved.", ()),
            (B, "fine. ship to {S:PERSON:Marcus Oyelaran}, {S:ADDRESS:2217 Larkspur Ave, Apt 5C, Columbus, OH 43215}", ()),
            (S, "Shipped! UPS tracking {K:TRACKING:1Z9X48W20398812276}.", ()),
        ),
    ),
    (  # Dutch, lower case
        "nl",
        (),
        (
            (B, "hoi, zijn de {K:PRODUCT_CODE:LX-20} lampen nog leverbaar? wij willen {K:QUANTITY:300 stuks}", ()),
            (S, "ja, {K:PRICE:€ 14,50} per stuk excl btw. levertijd twee weken", ()),
            (B, "prima. ik ben {S:PERSON:sanne bakker}, inkoop bij {N:COMPANY:Lumen Interieur BV}", ()),
            (S, "graag betalen op {S:IBAN:NL82 RABO 3689 5321 92}, factuurnummer {K:INVOICE:F2026-0412}", ()),
            (B, "afleveradres: {S:ADDRESS:Lindengracht 208, 1015 KK Amsterdam}", ()),
            (B, "overgemaakt, bel me op {S:PHONE:06 83752875} als er iets is", ()),
        ),
    ),
    (  # Turkish
        "tr",
        (),
        (
            (B, "Merhaba, {K:PRODUCT_CODE:KT-77} modelinden {K:QUANTITY:150 adet} istiyorum", ()),
            (S, "Merhaba, adet fiyatı {K:PRICE:420 TL}, kargo dahil.", ()),
            (S, "ödemeyi {S:IBAN:TR65 2881 8247 2759 3524 7501 54} hesabına yapabilirsiniz, alıcı adı {S:PERSON:Elif Demirtaş}", ()),
            (B, "tamam, benim adım {S:PERSON:murat çelik}, telefonum {S:PHONE:0504 146 13 47}", ()),
            (S, "Kargo takip no: {K:TRACKING:7294401183}, sipariş {K:ORDER_ID:SP-55120}", ()),
        ),
    ),
    (  # Polish
        "pl",
        (),
        (
            (B, "Dzień dobry, czy {K:PRODUCT_CODE:RB-3000} jest dostępny w ilości {K:QUANTITY:40 szt.}?", ()),
            (S, "Tak, cena {K:PRICE:215 zł} netto za sztukę", ()),
            (B, "nazywam się {S:PERSON:katarzyna wójcik}, proszę o fakturę na firmę", ()),
            (S, "Numer konta: {S:IBAN:PL98 5662 0209 7853 2413 7331 5312}, w tytule {K:ORDER_ID:ZAM/2026/0917}", ()),
            (B, "mój numer {S:PHONE:885 492 771}, adres dostawy {S:ADDRESS:ul. Ogrodowa 17/4, 90-217 Łódź}", ()),
        ),
    ),
    (  # Czech: postcodes with a space, street without a street-type word
        "cs",
        (),
        (
            (B, "Dobrý den, posílám objednávku {K:ORDER_ID:OBJ-2026-0331}, {K:QUANTITY:25 ks}.", ()),
            (B, "Jmenuji se {S:PERSON:Tomáš Novotný}, doručit na {S:ADDRESS:Vinohradská 112, 130 00 Praha 3}", ()),
            (S, "Platba na účet {S:IBAN:CZ18 7928 2716 3880 7227 7313}", ()),
            (S, "Děkuji, zboží odesláno, číslo zásilky {K:TRACKING:DR4410387512CZ}", ()),
            (S, "Kdyby něco, volejte {S:PHONE:+420 702 156 250}", ()),
        ),
    ),
    (  # Spanish: a phone number spelled out in words
        "es",
        (RISK,),
        (
            (B, "hola, me interesa el {K:PRODUCT_CODE:M-200} en negro, ¿precio por {K:QUANTITY:50 unidades}?", ()),
            (S, "{K:PRICE:18,90 €} cada una, envío gratis a partir de {K:PRICE:500 €}", ()),
            (B, "vale. mi whatsapp es {S:PHONE:seis dos seis cinco cuatro cero ocho cuatro cero}", ("spelled_phone",)),
            (B, "te escribo ahí, soy {S:PERSON:Inés Castillo}", ()),
            (B, "envíalo a {S:ADDRESS:Calle de Alcalá 145, 3º B, 28009 Madrid}", ()),
            (B, "pago hecho desde {S:IBAN:ES96 9341 4062 9446 7422 2863}, pedido {K:ORDER_ID:PED-88213}", ()),
        ),
    ),
    (  # Brazilian Portuguese, lower case
        "pt",
        (RISK,),
        (
            (B, "boa tarde, vocês fazem {K:QUANTITY:2.000 peças} do modelo {K:PRODUCT_CODE:BR-12}?", ()),
            (S, "fazemos sim, sai {K:PRICE:R$ 3,75} cada", ()),
            (B, "beleza, meu nome é {S:PERSON:rafael nogueira}, cpf {S:BR_CPF:393.925.403-70}", ()),
            (B, "pode me chamar no zap {S:PHONE:(11) 92965-8570}", ()),
            (B, "entrega na {S:ADDRESS:Rua Harmonia 870, Vila Madalena, São Paulo - SP, 05435-001}", ()),
            (S, "nota fiscal {K:INVOICE:NF 004512}, rastreio {K:TRACKING:QB482913375BR}", ()),
        ),
    ),
    (  # German
        "de",
        (),
        (
            (B, "Guten Tag, wir benötigen {K:QUANTITY:1.200 Stück} Artikel {K:PRODUCT_CODE:DK-90-S}. Lieferung bis {K:DATE:15.04.2027}?", ()),
            (S, "Hallo, ja. Preis {K:PRICE:3,20 EUR} netto. Bestellnummer {K:ORDER_ID:BE-449201}.", ()),
            (B, "Rechnung bitte an {S:PERSON:Friederike Hollenbach}, {S:ADDRESS:Bahnhofstraße 12, 79098 Freiburg}", ()),
            (B, "Überweisung geht heute raus von {S:IBAN:DE10 2422 6943 4593 9644 43}", ()),
            (B, "Meine Handynummer für den Fahrer: {S:PHONE:0176 2284 9031}", ()),
        ),
    ),
    (  # changed bank details, the IBAN split over two messages
        "en",
        (RISK,),
        (
            (S, "Our bank details changed. New account: {S:IBAN:GB64 BARC 1177 1837 70}", ("split",)),
            (S, "{S:IBAN:1824} please use this from now on", ("split",)),
            (B, "that's odd, last invoice {K:INVOICE:INV-30921} had a different account. who am I talking to?", ()),
            (S, "This is {S:PERSON:Priyanka Raghunathan} from accounts, call me on {S:PHONE:+44 7976 041201}", ()),
            (B, "I'll pay via the platform only. Total was {K:PRICE:£12,480.00}.", ()),
        ),
    ),
    (  # a complaint: a phone number in words, order ids grouped like cards
        "en",
        (DISPUTE,),
        (
            (B, "order {K:ORDER_ID:4410 2291 8873} arrived with {K:QUANTITY:3 cartons} missing", ()),
            (S, "So sorry. We refunded {K:PRICE:$214.60} to the card ending {N:CARD_LAST4:0787} and opened case {K:CASE_ID:DSP-2026-4471}.", ()),
            (B, "thanks. if the courier needs me, my number is {S:PHONE:oh seven nine seven six zero four one two zero one}", ("spelled_phone",)),
            (S, "Replacement tracking: {K:TRACKING:9400 1118 9922 3344 5566 77}", ()),
            (B, "got it. cheers, {S:PERSON:Dmitri}", ()),
        ),
    ),
    (  # a card one digit at a time, then a card split over two messages
        "en",
        (RISK,),
        (
            (B, "card number {S:CREDIT_CARD:4 0 9 8 9 8 0 9 3 0 0 4 7 9 2 1}", ("spaced",)),
            (B, "name on card {S:PERSON:Aoife Ní Bhriain}", ()),
            (S, "We can't take card details in chat. Please pay through checkout for order {K:ORDER_ID:CW-77120}.", ()),
            (B, "ok my other card is {S:CREDIT_CARD:5343 6897}", ("split",)),
            (B, "{S:CREDIT_CARD:1726 6535} exp {S:CARD_EXPIRY:02/28}", ("split",)),
        ),
    ),
    (  # French
        "fr",
        (),
        (
            (B, "Bonjour, je voudrais {K:QUANTITY:60 cartons} de la référence {K:PRODUCT_CODE:FR-808}.", ()),
            (S, "Bonjour, {K:PRICE:9,80 €} HT le carton, livraison sous {K:QUANTITY:10 jours}.", ()),
            (B, "Livrez à Mme {S:PERSON:Camille Fontaine}, {S:ADDRESS:18 rue des Tanneurs, 69002 Lyon}", ()),
            (B, "Mon portable : {S:PHONE:06 80 82 65 42}. Virement depuis {S:IBAN:FR32 1134 6107 02AZ NTR8 ZHF8 041}", ()),
        ),
    ),
    (  # Swedish
        "sv",
        (),
        (
            (B, "Hej! Finns {K:PRODUCT_CODE:SV-14} kvar? Jag heter {S:PERSON:Linnea Sjöberg}, ring {S:PHONE:072-311 20 54}", ()),
            (S, "Ja, {K:PRICE:349 kr} styck. Vart ska vi skicka?", ()),
            (B, "Skicka till {S:ADDRESS:Storgatan 5, 411 38 Göteborg}", ()),
        ),
    ),
    (  # Indonesian and Vietnamese
        "id",
        (),
        (
            (B, "Halo kak, nama saya {S:PERSON:Dewi Lestari}, no hp {S:PHONE:0812-0839-5906}", ()),
            (B, "alamat kirim {S:ADDRESS:Jl. Melati No. 21, Bandung 40115}", ()),
            (S, "Sudah kami terima {K:PRICE:Rp 1.250.000}, nomor pesanan {K:ORDER_ID:INV/20270114/0091}", ()),
            (B, "Chào shop, mình tên {S:PERSON:Nguyễn Thu Trang}, sđt {S:PHONE:0939 862 586}", ()),
        ),
    ),
    (  # customs: an SSN with spaces, business numbers that look like ids
        "en",
        (),
        (
            (B, "for the customs bond the broker asked for my SSN: {S:US_SSN:255 51 6974}", ("spaces",)),
            (S, "HS code {K:HS_CODE:8504.40.95}, declared value {K:PRICE:USD 18,250}, gross weight {K:QUANTITY:1,240 kg}", ()),
            (S, "B/L {K:BL_NUMBER:MEDU7739201}, vessel sails {K:DATE:March 3}, ETA Rotterdam {K:DATE:April 9}", ()),
            (B, "my date of birth is {S:DATE_OF_BIRTH:14/02/1986} if they need it", ()),
        ),
    ),
    (  # Italian
        "it",
        (),
        (
            (B, "Buongiorno, mi chiamo {S:PERSON:Lorenzo Ferraresi}, vorrei ordinare {K:QUANTITY:200 pezzi} del {K:PRODUCT_CODE:IT-55}", ()),
            (S, "bonifico su {S:IBAN:IT28 X777 0526 8397 6577 4559 110}, causale ordine {K:ORDER_ID:ORD-6621}", ()),
            (B, "spedite a {S:ADDRESS:Via Garibaldi 34, 40124 Bologna}, il mio cellulare è {S:PHONE:335 401 6308}", ()),
        ),
    ),
    (  # a spelled-out e-mail, plain trade numbers
        "en",
        (),
        (
            (B, "send the proforma to {S:EMAIL:li.jun.trade (at) gmail dot com} pls", ("obfuscated_at",)),
            (S, "Done. Firmware {K:PRODUCT_CODE:v2.4.1}, batch {K:BATCH:20270114-03}, 3 pallets of {K:QUANTITY:48 cartons}", ()),
            (S, "See you at booth {K:BOOTH:11.2 C41} at the fair on {K:DATE:Apr 15}", ()),
        ),
    ),
    (  # "Name, street" ship-to lines and a Slovak address
        "en",
        (),
        (
            (B, "Ship to: {S:PERSON:Okonkwo}, {S:ADDRESS:88 Harbour Road, Durban 4001}", ()),
            (B, "and the second lot to {S:PERSON:Ján Kováč}, {S:ADDRESS:Obchodná 12, 811 06 Bratislava}, tel {S:PHONE:+421 911 234 567}", ()),
            (S, "Noted, {K:QUANTITY:2 shipments}, invoice {K:INVOICE:INV-2027-0045} covers both", ()),
        ),
    ),
    (  # Mexican Spanish, lower case, a Visa of 19 digits
        "es",
        (RISK,),
        (
            (B, "buenas, me pasas tu whats? el mío es {S:PHONE:55 5704 8994}", ()),
            (S, "mejor por aquí, la plataforma protege el pago", ()),
            (B, "ok, pago con la tarjeta {S:CREDIT_CARD:4711 6535 9546 3833 704} y ya", ()),
            (S, "no compartas la tarjeta en el chat por favor, usa el pedido {K:ORDER_ID:MX-30118}", ()),
        ),
    ),
    (  # plain talk full of numbers that are no PII
        "en",
        (),
        (
            (B, "price list pls: 500 pcs, 1000 pcs, 5000 pcs", ()),
            (S, "{K:PRICE:$2.35} @ {K:QUANTITY:500 pcs}, {K:PRICE:$2.10} @ {K:QUANTITY:1000 pcs}, {K:PRICE:$1.85} @ {K:QUANTITY:5000 pcs}. MOQ 500.", ()),
            (B, "ok, PO {K:ORDER_ID:4500187723} sent, payment terms 30/70", ()),
            (S, "Received. Production starts {K:DATE:2027-02-01}, DHL waybill will be {K:TRACKING:4829106637}", ()),
            (B, "great, thanks!", ()),
        ),
    ),
)  # fmt: skip

_MARK = re.compile(r"\{([SKN]):([A-Z0-9_]+):([^{}]*)\}")


def parse(marked: str) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """Strip the markup; return the text and its span lists (spans, keep, neutral)."""
    out: list[str] = []
    spans: dict[str, list[dict[str, Any]]] = {"spans": [], "keep": [], "neutral": []}
    key = {"S": "spans", "K": "keep", "N": "neutral"}
    pos = length = 0
    for m in _MARK.finditer(marked):
        out.append(marked[pos : m.start()])
        length += m.start() - pos
        value = m.group(3)
        spans[key[m.group(1)]].append(
            {"start": length, "end": length + len(value), "type": m.group(2)}
        )
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(marked[pos:])
    text = "".join(out)
    if "{" in text or "}" in text:
        raise ValueError("unbalanced markup")
    return text, spans


def _digits(v: str) -> str:
    return "".join(c for c in v if c.isdigit())


_REGIONS = (
    "US",
    "GB",
    "DE",
    "NL",
    "PL",
    "CZ",
    "SK",
    "SE",
    "TR",
    "BR",
    "ID",
    "VN",
    "FR",
    "IT",
    "MX",
    "ES",
)


def _valid_phone(v: str) -> bool:
    return any(phonenumbers.is_valid_number(phonenumbers.parse(v, r)) for r in _REGIONS)


def check_values(rows: list[dict[str, Any]]) -> None:
    """Every checksummed value and every digit phone number is valid."""
    by_conv: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        for s in r["spans"]:
            by_conv.setdefault(r["conversation_id"], []).append(
                (s["type"], r["text"][s["start"] : s["end"]])
            )
    for values in by_conv.values():
        # Split values are checked joined (the two halves follow each other).
        joined: dict[str, str] = {}
        for t, v in values:
            if t in ("CREDIT_CARD", "IBAN"):
                joined[t] = joined.get(t, "") + v.replace(" ", "").replace(".", "")
                if t == "CREDIT_CARD" and len(joined[t]) >= 13 and luhn.is_valid(joined[t]):
                    joined[t] = ""
                if t == "IBAN" and std_iban.is_valid(joined[t]):
                    joined[t] = ""
            elif t == "BR_CPF" and not std_cpf.is_valid(v):
                raise ValueError("invalid CPF")
            elif t == "US_SSN" and not std_ssn.is_valid(_digits(v)):
                raise ValueError("invalid SSN")
            elif t == "PHONE" and any(c.isdigit() for c in v) and not _valid_phone(v):
                raise ValueError("invalid phone number")
        if any(joined.values()):
            raise ValueError("a card or IBAN does not validate")


def build() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c, (lang, purposes, messages) in enumerate(CONVERSATIONS):
        conv = f"h2{c:04d}"
        for seq, (sender, marked, tricks) in enumerate(messages):
            text, spans = parse(marked)
            rows.append(
                {
                    "id": f"{conv}-m{seq:02d}",
                    "conversation_id": conv,
                    "seq": seq,
                    "sender": sender,
                    "lang": lang,
                    "text": text,
                    **spans,
                    "purposes": list(purposes),
                    "tricks": list(tricks),
                }
            )
    check_values(rows)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("holdout2.jsonl"))
    a = ap.parse_args()
    rows = build()
    a.out.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    print(f"{len(rows)} messages, {sum(len(r['spans']) for r in rows)} sensitive spans, "
          f"{sum(len(r['keep']) for r in rows)} keep spans -> {a.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

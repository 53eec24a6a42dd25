"""Person names found by context: "my name is X", "attn. X", "Regards, X", 收货人 X, ...

A *trigger* (a phrase that announces a name, in several languages) is followed by a
name, read token by token by :func:`scan_name`:

* a name token is a capitalised word (``O'Brien``, ``Turati-Riccardi``, ``al-Rashid``,
  accents allowed), or an initial (``R.``);
* titles before it (``Dr.``, ``Univ.Prof.``, ``Frau``) and degrees after it (``B.Sc.``,
  ``MBA``) belong to the span; particles (``van der``, ``de la``, ``bin``) count only
  between name tokens;
* one to four name tokens; the scan stops at punctuation, a line break, a digit, a
  company suffix or a common word (``and``, ``from``, ``please``);
* after *strong* triggers ("my name is", "account holder", "attn.", ...) the name may be
  all lower case, as chat often is ("my name is anna li"); after *weak* ones ("I'm",
  "this is") it must be capitalised, so "I'm interested" is never a name.

Chinese names (two to four Han characters) follow 收货人, 联系人, 姓名 and similar labels.
Once a name is found, its other standalone occurrences in the same message are found
too (:func:`propagate`), e.g. the bare surname later in the text.

Everything here is pure and compiled once; no word list of names is used, only
structure, context and a list of common (non-name) words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from redact.detectors.base import Detector
from redact.span import Span


def word_list(text: str) -> list[str]:
    """The whitespace-separated words of a word-list literal."""
    return text.split()


SCORE = 0.7  # above context-free NER (0.5): a trigger phrase is strong evidence
MAX_NAME_TOKENS = 4
_MAX_SCAN_TOKENS = 10  # bounds the work per trigger, whatever the text

# Honorifics and titles that may precede a name (lower case, without trailing dots).
TITLES = frozenset(
    word_list(
        """mr mrs ms miss mx dr dra drs prof prof.dr univ.prof dipl.-ing dipl.ing ing dott dott.ssa
    sr sra srta sir madam mme mlle herr frau fr hr dame lady lord rev fr sig sig.ra avv
    eng arq lic herrn dona doña señor señora senhor senhora signor signora monsieur pan pani"""
    )
)
# Degrees and generational suffixes that may follow a name.
SUFFIXES = frozenset(
    word_list(
        """jr sr ii iii iv phd ph.d md mba dds esq b.sc m.sc b.a m.a b.eng m.eng ba bsc msc
    ma llm ll.m cpa"""
    )
)
# Particles inside names: counted only when a name token follows them.
PARTICLES = frozenset(
    word_list(
        """van von der den de del della dello dei degli di da das dos du la le les lo bin binti
    ibn bint al el ter ten zu zum zur y e st st. do ben ap mac"""
    )
)
# Words after which a name never continues (a company follows instead).
COMPANY_WORDS = frozenset(
    word_list(
        """ltd ltd. limited inc inc. llc llp plc gmbh ag co co. corp corp. corporation company
    group holdings trading industries industry international technology technologies
    tech logistics factory manufacturing sa s.a. srl s.r.l. spa s.p.a. bv b.v. nv oy ab as
    kg ohg ug sarl sas pty pvt import export imports exports enterprise enterprises
    solutions services shop store studio orchestra band bank university college school
    hospital hotel electronics electric electrical machinery textile textiles garment garments
    materials products supplies supply parts equipment tools hardware plastics packaging
    chemicals sourcing global industrial department dept office branch division payable
    receivable accounts purchasing procurement finance warehouse reception club association
    society foundation institute museum church ministry agency media motors pt cv tbk bhd sdn
    jsc llc. ооо ltda ltda. a.ş a.ş. aş a.s a.s. s.l s.l. s.l.u s.a.s eireli s.r.o sro kft zrt
    d.o.o doo oü k.k kk sp.z.o.o tekstil importadora exportadora comercial comércio indústria
    industria distribuidora"""
    )
)

# Function words, greetings and closings: never part of a name, even capitalised.
FUNCTION_WORDS = frozenset(
    word_list(
        """a an the and or but nor so if then than that this these those there here i im i'm
    me my we us our you your he him his she her it its they them their is are was were be
    am do does did have has had not no yes ok okay please thanks thank thx hi hello hey
    dear sir madam team all everyone in on at by for from to of with about as into via per
    good morning afternoon evening regards cheers sincerely kind warm yours looking forward
    what when where which who why how"""
    )
)

# Common words (English chat, plus a few in other languages) that are not read as a name
# token unless a strong label puts them right before a name ("account holder Will
# Smith"). This is a list of ordinary vocabulary, not of names.
COMMON_WORDS = frozenset(
    word_list(
        """a an the and or but nor so yet if then than that this these those there here where
    when what which who whom whose why how i im i'm me my mine we us our ours you your yours
    he him his she her hers it its they them their theirs is are was were be been being am
    do does did done have has had having will would shall should can could may might must
    not no yes ok okay sure please thanks thank thx pls plz sorry hello hi hey dear sir
    madam team all everyone friend friends customer customers supplier suppliers seller
    buyer buyers client clients sales manager support service admin staff boss colleague
    in on at by for from to of with without about above below into onto over under up down
    out off again also just only very too much many more most some any each every other
    another such own same new old good great fine nice glad happy sorry interested looking
    waiting writing calling speaking contacting reaching sending asking checking going
    coming trying working here now today tomorrow yesterday soon later still already ever
    never always sometimes well back away around via per as like need needs want wants
    wanted know knew see saw look get got give gave take took make made send sent pay paid
    call called use used tell told ask asked let help hope wish think thought feel felt
    find found keep kept receive received confirm confirmed check order orders ordered
    price prices quote quotation sample samples payment invoice account bank card number
    address phone email mail contact name names goods product products item items model
    shipment shipping delivery package parcel box company business factory office store
    one two three four five six seven eight nine ten first second third last next best
    regards cheers sincerely best kind warm yours truly faithfully cordially respectfully
    available busy ready able unable sure correct right wrong done free open closed
    urgent important possible impossible happy afraid aware glad pleased sorry responsible
    in charge same different new here there speaking from again please mr mrs ms
    forward hearing reply fob cif exw ddp dap cfr fca cpt cip moq oem odm
    monday tuesday wednesday thursday friday saturday sunday january february march july
    september october november december week month year morning afternoon evening night
    your's it's that's what's there's he's she's we're they're you're i'll i've i'd
    don't can't won't didn't isn't aren't wasn't doesn't
    e und oder der die das ein eine ich bin ist sind wir sie er es mit von zu für auf
    el los las un una es son soy estoy con por para que
    o os as um uma é sou estou com por para que
    le les un une est suis je nous avec pour que
    il lo gli uno sono con per che
    het een ik ben is zijn met voor dat
    children child people men women kids
    valued valuable sirs partner partners bro buddy guys folks president chairman
    ramadan eid christmas easter diwali muslim hindu buddhist attn attention fwd
    said says told asked agreed replied answered wrote wants wanted thinks thought
    hola ola olá bonjour ciao hallo guten tag buenos buenas bom dia boa tarde salut
    gracias obrigado obrigada merci danke grazie saludos cordialement atenciosamente
    chinese american british german french indian nigerian russian brazilian spanish italian
    japanese korean turkish vietnamese pakistani english arabic european african asian mexican
    canadian australian dutch polish thai indonesian malaysian filipino egyptian kenyan
    ghanaian portuguese swiss swedish greek israeli iranian saudi emirati bangladeshi
    everyone everybody someone somebody nobody anyone anybody people
    unit units lead quality half notice tracking shipped whats wire insurance national
    total balance deposit refund dispute discount shipping sample confirmed noted
    meu minha seu sua mein meine dein deine mi mis tu su mon ma mes mio mia mijn
    lol lmao omg btw idk tbh imo fyi asap hmm yeah yep nope app apps paypal whatsapp eta etd
    telegram wechat viber zap pix cpf cnpj
    goedemorgen goedemiddag goedenavond hoi merhaba selam günaydın teşekkürler tesekkurler
    dzień dobry pozdrawiam dziękuję cześć witam privet spasibo xin chào cảm ơn salam shalom
    namaste hej tack moi kiitos terve ahoj děkuji szia köszönöm sawasdee saygılarımla
    vielen dank herzlichen liebe lieber geehrte geehrter damen herren
    tmrw tmr tmw wut wat fam bruh ngl smh rn tho thx yw np kk ikr irl dm ppl cuz coz nvm
    ofc srsly ur ya yall wyd hbu"""
    )
)

# Function and everyday chat words of other languages, for guessing a message's
# language (see :func:`guess_language`). Lists of ordinary vocabulary, not of names;
# words that are also common English words ("a", "as", "me") are left out.
FOREIGN_WORDS: dict[str, frozenset[str]] = {
    "de": frozenset(
        word_list(
            """und oder der die das dem den des ein eine einen einem ist sind bin wir sie ich
    du er es nicht mit für auf aus bei nach von vom zum zur über unter bitte danke ja nein
    auch noch schon nur sehr gut klar alles wie was wer wo wann warum hallo tschüss
    möchte möchten können kann könnte müssen muss haben hat habe wird werden wurde gibt
    unsere unser unseren ihre ihr ihren ihnen mein meine dein deine sein seine wieder
    heute morgen gestern bis netto brutto preis lieferung zahlung rechnung bestellung
    bankverbindung angekommen leider schicken geschickt kein keine keinen hier dort"""
        )
    ),
    "pt": frozenset(
        word_list(
            """não sim é são com para pela pelo pelos pelas do da dos das no na nos nas um uma
    uns umas meu minha meus minhas seu sua você vocês obrigado obrigada pode posso podemos
    até está estão estou fica tem temos tenho quero queria vou vai chegou conta nome
    também mas então já ainda aqui agora hoje amanhã ontem bom boa dia tarde noite olá oi
    envio entrega pedido pagamento caixa caixas unidade unidades valor preço plataforma
    pacote vazio abrir reclamação devolução cuidados isso isto esse essa mesma mesmo
    sempre beleza blz vc né tudo muito obrigadão ótimo ótima perfeito certo bem mandar
    correio recebi veio porque qual quando onde empresa loja firma sociedade companhia"""
        )
    ),
    "es": frozenset(
        word_list(
            """el los las del y es son soy estoy está están con por para una unos unas mi mis
    tu tus su sus usted ustedes gracias hola buenas buenos vale perfecto sí pero muy más
    también ya aquí ahora hoy mañana ayer quiero quieres queremos puedo puede podemos
    hablemos mejor fuera dinero mercancía llegó rota envío entrega pedido pago precio
    plataforma cuánto cuanto sale nombre cuenta somos tenemos tengo hay eso esto esta este
    nada todo bien claro óptimo excelente bueno buena porfa oye factura correo vez otra
    otro tarde pronto favor mándame mande envíe empresa tienda sociedad compañía"""
        )
    ),
    "fr": frozenset(
        word_list(
            """le les des du et est sont je tu il elle nous vous ils elles avec pour pas une
    mon ma mes ton ta tes son sa ses notre votre merci bonjour bonsoir oui non très bien
    aussi déjà ici maintenant aujourd'hui demain hier veux voulez peux pouvez livraison
    commande paiement prix plateforme colis c'est n'est beaucoup vais payer envoyer reçu
    facture"""
        )
    ),
    "it": frozenset(
        word_list(
            """il lo gli della dello delle degli che è sono con per una non mio mia tuo tua
    suo sua grazie ciao buongiorno sì anche già qui adesso oggi domani ieri voglio posso
    possiamo spedizione consegna ordine pagamento prezzo piattaforma pacco arrivato rotto
    rimborso fattura"""
        )
    ),
    # Particles of names ("de", "van", "da") and words that are also first names ("ben",
    # "dan", "jan") are left out: a name holding one is still a name.
    "nl": frozenset(
        word_list(
            """ik jij je jou jouw hij zij wij jullie ze het een niet wel nog ook dat die dit
    deze hier daar naar met voor aan bij uit tot bent heb hebt heeft hebben kun kunt kunnen
    wil wilt willen moet moeten zal zou graag dank bedankt hoi hallo goedemorgen ja nee
    prima goed morgen vandaag gisteren nu snel waar wanneer hoe waarom welke mijn uw onze
    ons geen niks niets alles veel meer nieuw nieuwe gebruikt prijs verzending verzendkosten
    ophalen betalen betaald overmaken bezorgen pakket pakketje doos stuur sturen opsturen
    bellen rekening beschikbaar kan nooit helemaal zit er maar of alvast groetjes fijne
    dag probleem succes klopt oke oké hoor koop kopen verkocht zeker even eens zo terug
    thuis blij benieuwd geïnteresseerd onderweg verstuurd"""
        )
    ),
    "tr": frozenset(
        word_list(
            """ve bir bu şu ne için ile mi mı mu mü değil var yok evet hayır tamam merhaba
    selam teşekkürler teşekkür ederim sağol sağolun lütfen abi abla kardeşim hocam ama
    çok daha nasıl nerede neden kaç kadar fiyat fiyatı kargo kargoya kargoda ürün ürünü
    gönder gönderin gönderdim ödeme ödemeyi hesap numara numaram numarası telefon
    telefonum adres adresim yarın bugün dün şimdi hemen sonra önce biraz bana sana size
    bize benim senin bizim sizin satılık sıfır olur oldu iyi günler kolay gelsin
    acaba pazarlık takip"""
        )
    ),
    "pl": frozenset(
        word_list(
            """jest są jestem nie tak czy że się co jak ale lub dla od po przez przy bez mój
    moja moje twój twoja dzień dobry dziękuję dzięki proszę cześć witam pozdrawiam jutro
    dziś dzisiaj wczoraj teraz już jeszcze bardzo dobrze dobra cena przelew konto numer
    telefon wysyłka paczka paczkomat kurier odbiór odebrać zapłacić zapłacę mogę może
    możesz chcę wszystko gdzie kiedy ile wysłać wysłałem wysłałam dostępny dostępna
    aktualne aktualny"""
        )
    ),
}
_FOREIGN_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
ENGLISH_FUNCTION = frozenset(
    word_list(
        """the and or is are was were be been i you we they he she it my your our their this
    that these those with for from to of in on at by not no yes please thanks can could
    will would have has had do does did what when where which who how just also
    hi hello ok okay sorry order price payment address phone email website info send
    ship shipping personal his him her them but if than then there about after before
    into out up get got given want need pls thx"""
    )
)


def _languages_of_words() -> dict[str, tuple[str, ...]]:
    """The languages each word of FOREIGN_WORDS belongs to: one look-up per word of a
    message instead of one per language."""
    languages: dict[str, tuple[str, ...]] = {}
    for lang, words in FOREIGN_WORDS.items():
        for w in words:
            languages[w] = (*languages.get(w, ()), lang)
    return languages


_LANGUAGES_OF = _languages_of_words()


@lru_cache(maxsize=4096)
def guess_language(text: str) -> str:
    """``"en"``, a code of :data:`FOREIGN_WORDS`, or ``""`` when nothing tells.

    Counts function and everyday words of each language; a foreign language wins when
    it has at least two such words and more than English ("vale, perfecto" and "alles
    klar, danke" are short, and one word such as "na" or "du" proves nothing). Cached:
    the detector and the NER adapter both ask.
    """
    counts = dict.fromkeys(FOREIGN_WORDS, 0)
    english = 0
    for m in _FOREIGN_TOKEN.finditer(text):
        w = m.group().lower()
        if w in ENGLISH_FUNCTION:
            english += 1
        for lang in _LANGUAGES_OF.get(w, ()):
            counts[lang] += 1
    best = max(counts, key=lambda k: counts[k])
    if counts[best] >= 2 and counts[best] > english:
        # Ties between two foreign languages ("para", "con") still mean not English.
        return best
    return "en" if english else ""


_TOKEN = re.compile(r"[^\W\d_]{1,40}(?:(?:\.-|-['’]|[-'’.])[^\W\d_]{1,40}){0,4}\.?")
_GAP = re.compile(r"[ \t\u00a0]{1,3}")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]{2,4}")
# What may follow a Han name without being part of it (labels that often come next).
_HAN_STOP = re.compile(
    r"(先生|女士|小姐|电话|手机|地址|身份|邮箱|电邮|联系|收货|号码|微信|的|，|,|。)"
)


# Labels of identity and account numbers; a name never runs into one ("Ana Lima CNPJ").
ID_LABELS = frozenset(
    word_list(
        """cpf cnpj rg ssn sin dob nif nie dni cuit rut rfc curp iban bic swift vat tin ein pan
    nino pesel regon nip inn kpp ogrn tckn uid ust ustid steuer abn acn gst hst tel tlf fax
    id nr no ref pin cvv cvc otp sms"""
    )
)
_VOWELS = frozenset("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿāăąēĕėęěīįıōőœūůűų")


_DOTTED_FORM = re.compile(r"(?:[A-ZÀ-Þ]\.){2,3}[A-ZÀ-Þ]?\.?")


def _id_label(tok: str) -> bool:
    """An all-capitals identity label or acronym with no vowel (CPF, CNPJ, SSN, DOB)."""
    core = tok.rstrip(".:")
    if len(core) < 2 or not core.isupper():
        return False
    return core.lower() in ID_LABELS or not any(c in _VOWELS for c in core.lower())


def _bare(tok: str) -> str:
    return tok.rstrip(".").lower()


def _is_initial(tok: str) -> bool:
    core = tok.rstrip(".")
    return len(core) == 1 and core.isupper()


_PREFIXED = re.compile(
    r"(?:al|el|ul|bin|ibn|d|l|o|mc|de|di|da|van|von)[-'’](?=[^\W\d_])", re.IGNORECASE
)


def _is_capitalised(tok: str) -> bool:
    """Starts with a capital, or with a lower-case prefix glued to one (al-Farouq, d'Angelo).

    Letters of scripts without case (Arabic, Hangul, Han, Thai) count as capitals.
    """
    if tok[0].isupper() or tok[0].lower() == tok[0].upper():
        return True
    m = _PREFIXED.match(tok)
    return m is not None and tok[m.end()].isupper()


def is_name_word(tok: str, lowercase_ok: bool, caps_ok: bool = False) -> bool:
    """A token that can be (part of) a name: letters, not a common word or company word."""
    b = _bare(tok)
    if b in COMMON_WORDS or b in COMPANY_WORDS or b in TITLES or b in SUFFIXES:
        return False
    if len(b) < 2 and not _is_initial(tok):
        return False
    if _is_capitalised(tok):
        # A long all-caps token is an acronym or code unless a label announced a name.
        return not (tok.isupper() and len(b) > 3 and not (lowercase_ok or caps_ok))
    return lowercase_ok and tok.islower() and not _foreign_word(b)


def _foreign_word(b: str) -> bool:
    """A function or everyday word of one of the languages of :data:`FOREIGN_WORDS`."""
    return b in _LANGUAGES_OF


@dataclass(frozen=True, slots=True)
class NameMatch:
    start: int
    end: int
    tokens: tuple[str, ...]  # the name tokens proper (no titles, particles, degrees)
    lowercase: bool  # true when some name token is not capitalised


def _tokens(text: str, pos: int) -> Iterator[tuple[int, int, str]]:
    """Tokens from ``pos`` separated by single runs of spaces; stops at anything else."""
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or (m.end() < len(text) and text[m.end()].isalnum()):
            return  # "P30" is a model number, not an initial
        yield m.start(), m.end(), m.group()
        gap = _GAP.match(text, m.end())
        if gap is None:
            return
        pos = gap.end()


def _capitalised_next(text: str, end: int) -> bool:
    """The token after ``end`` is capitalised ("dona Zuleide": a lower-case title)."""
    gap = _GAP.match(text, end)
    nxt = _TOKEN.match(text, gap.end()) if gap is not None else None
    return nxt is not None and nxt.group()[0].isupper()


_NAME_ENDS = re.compile(r"[ \t]*(?:$|[\r\n,.!;)])")


def _word_as_name(text: str, tok: str, b: str, t_end: int, names: list[str], caps_ok: bool) -> bool:
    """A capitalised common word next to a real name token, right after a strong cue."""
    if b in FUNCTION_WORDS or len(b) < 3 or not tok[0].isupper() or b not in COMMON_WORDS:
        return False
    gap = _GAP.match(text, t_end)
    nxt = _TOKEN.match(text, gap.end()) if gap is not None else None
    if (
        nxt is not None
        and is_name_word(nxt.group(), False, caps_ok)
        and nxt.group()[0].isupper()
        and not (_ADJ_LIKE.search(nxt.group()) and len(nxt.group()) > 5)
    ):
        return True  # before a name: "Will Smith" (not "Price Guaranteed")
    # after a name, ending it: "Mark Best."
    return bool(names) and _NAME_ENDS.match(text, t_end, t_end + 3) is not None


def scan_name(
    text: str,
    pos: int,
    lowercase_ok: bool,
    allow_titles: bool = True,
    caps_ok: bool = False,
    relax: bool = False,
) -> NameMatch | None:
    """Read a name starting at ``pos`` (see the module docstring); ``None`` if there is none.

    ``caps_ok`` accepts names in capitals ("consignee ZHANG WEI") after a strong label;
    ``relax`` (after strong labels, closings and titles) accepts a capitalised common
    word next to a name token ("account holder Will Smith").
    """
    start: int | None = None
    end = pos
    names: list[str] = []
    pending: list[tuple[int, int, str]] = []  # particles waiting for a name token
    lowercase = False
    for n_tok, (t_start, t_end, tok) in enumerate(_tokens(text, pos)):
        if n_tok >= _MAX_SCAN_TOKENS:
            break  # titles, particles and names together are never this long
        b = _bare(tok)
        if (
            not names
            and not pending
            and allow_titles
            and b in TITLES
            and (tok[0].isupper() or lowercase_ok or _capitalised_next(text, t_end))
        ):
            start = t_start if start is None else start
            end = t_end
            continue
        if names and b in SUFFIXES and tok[0].isupper():
            end = t_end
            break
        if names and _id_label(tok):
            break  # "Ana Lima CNPJ 12...": the label of the next value ends the name
        if names and _DOTTED_FORM.fullmatch(tok) and b.replace(".", "") not in SUFFIXES:
            return None  # "Inversiones Pacífico S.A.C.": dotted capitals are a company form
        if b in COMPANY_WORDS and (_is_capitalised(tok) or len(b) > 3):
            if names and pending:
                break  # "Flor Díaz de Textiles del Sur": "de" introduces the company
            return None  # "Anna Li Trading Co." is a company, not a person ("as" is no "AS")
        if b in PARTICLES and (not _is_capitalised(tok) or not names):
            # Kept only if a name token follows ("van der Berg", "Ben Robinson").
            pending.append((t_start, t_end, tok))
            continue
        if b in PARTICLES and names:
            names.append(tok)  # a capitalised particle after a name: "Susan Le"
            end = t_end
            continue
        possessive = (
            tok.endswith(("'s", "’s")) and len(tok) > 3 and not tok.endswith(("-'s", "-’s"))
        )
        if possessive:
            tok, t_end = tok[:-2], t_end - 2
        if _is_initial(tok) and tok != "I":
            ok = not lowercase or names == []
        else:
            ok = is_name_word(tok, lowercase_ok, caps_ok)
            if ok and names and tok.islower() and all(_is_capitalised(n) for n in names):
                ok = False  # "no nome de Ana Lima pedido 12": a capitalised name ends here
            # Without a strong trigger, every name token is capitalised, and letters
            # without case ("I'm 学生" is "I'm a student") are not read as a name.
            if ok and not lowercase_ok and not _is_capitalised(tok):
                ok = False
            if ok and not caps_ok and tok[0].lower() == tok[0].upper():
                ok = False
        if not ok and relax and _word_as_name(text, tok, b, t_end, names, caps_ok):
            ok = True  # "Will Smith", "Mark Best": a common word that is a name here
        if not ok:
            # An unknown lower-case word between two capitalised name tokens is a
            # particle we do not know ("Mandy auch Schlauchin").
            if (
                names
                and not lowercase_ok
                and tok.islower()
                and b not in COMMON_WORDS
                and not pending
            ):
                pending.append((t_start, t_end, tok))
                continue
            break
        if len(names) >= MAX_NAME_TOKENS:
            break
        if tok.isupper() and len(tok) > 1 and any(_bare(p[2]) not in PARTICLES for p in pending):
            break  # after an unknown lower-case word, capitals are a code ("pedido INV")
        if start is None:
            start = pending[0][0] if pending else t_start
        names.append(tok)
        pending.clear()
        lowercase = lowercase or not _is_capitalised(tok)
        end = t_end
        if possessive:
            break
        # A word ending in "." ends the sentence unless it is an initial.
        if tok.endswith(".") and not _is_initial(tok):
            end = t_end - 1
            break
    if start is None or not any(not _is_initial(n) for n in names):
        return None
    return NameMatch(start, end, tuple(n.rstrip(".") for n in names), lowercase)


# --- triggers --------------------------------------------------------------------------

# Each trigger announces a name right after it (after an optional ":", "is", ...).
# Strong triggers let the name be lower case.
_STRONG = [
    r"my\s+name\s+is",
    r"my\s+name's",
    r"(?:full\s+|first\s+|last\s+|sur|maiden\s+|given\s+|family\s+)?name\s*(?:is|:|\?|=)",
    r"name\s+on\s+(?:the\s+)?(?:card|account)(?:\s+is)?",
    r"attn\.?:?",
    r"attention(?:\s+of|\s+to)?:?",
    r"c/o",
    r"care\s+of",
    r"account\s+holder(?:'s\s+name)?",
    r"account\s+name",
    r"card\s*holder(?:'s\s+name)?",
    r"beneficiary(?:\s+name)?",
    r"recipient(?:'s)?(?:\s+name)?",
    r"consignee(?:'s)?(?:\s+name)?",
    r"contact\s+person",
    r"(?:contact|kontakt|contato|contacto|contatto)\s*(?=:)",
    r"contact\s+name",
    r"receiver(?:'s)?(?:\s+name)?",
    r"addressee",
    r"payee(?:\s+name)?",
    r"holder(?:\s+name)?",
    r"sender(?:'s)?\s+name",
    # German
    r"ich\s+hei(?:ß|ss)e",
    r"mein\s+name\s+ist",
    r"kontoinhaber(?:in)?",
    r"empfänger(?:in)?",
    r"ansprechpartner(?:in)?",
    r"z\.\s*hd\.?",
    r"zu\s+händen(?:\s+von)?",
    r"inhaber(?:in)?",
    # Portuguese / Spanish / French / Italian / Dutch
    r"meu\s+nome\s+é",
    r"(?:no|em|ao)\s+nome\s+d[eoa]",
    r"nome\s+completo",
    r"nombre\s+completo",
    r"nom\s+complet",
    r"vollständiger\s+name",
    r"aos\s+cuidados\s+d[eoa]s?",
    r"a/c",
    r"z\s+rąk(?:\s+własnych)?",
    r"im\s+namen\s+von",
    r"au\s+nom\s+de",
    r"à\s+l['’]attention\s+de",
    r"a\s+la\s+atenci[oó]n\s+de",
    r"all['’]attenzione\s+di",
    r"in\s+nome\s+di",
    r"odbiorca",
    r"alıcı(?:\s+ad[ıi](?:\s+soyad[ıi])?)?",
    r"me\s+chamo",
    r"chamo-me",
    r"titular(?:\s+da\s+conta|\s+de\s+la\s+cuenta)?",
    r"favorecido",
    r"benefici[aá]rio",
    r"destinat[aá]rio",
    r"me\s+llamo",
    r"mi\s+nombre\s+es",
    r"a\s+nombre\s+de",
    r"je\s+m'appelle",
    r"mon\s+nom\s+est",
    r"titulaire(?:\s+du\s+compte)?",
    r"bénéficiaire",
    r"destinataire",
    r"mi\s+chiamo",
    r"intestatario",
    r"mijn\s+naam\s+is",
    r"ik\s+heet",
    r"t\.a\.v\.",
    r"rekeninghouder",
    r"begunstigde",
    # Polish, Turkish, Czech, Slovak, Nordic, Romanian, Indonesian, Finnish, Hungarian
    r"nazywam\s+si[ęe]",
    r"mam\s+na\s+imi[ęe]",
    r"moje\s+imi[ęe]\s+to",
    r"imi[ęe]\s+i\s+nazwisko",
    r"benim\s+ad[ıi]m",
    # "adım" (my name) opening a clause; "bir adım" is a step (the look back stands after
    # the "a" so that the trigger opens with its letter, see _alt)
    r"a(?<![^\W\d_]\sa)d[ıi]m",
    r"(?:benim\s+)?ismim",
    r"ad[ıi]\s+soyad[ıi]",
    r"jmenuji\s+se",
    r"vol[áa]m\s+sa",
    r"jag\s+heter",
    r"mitt\s+namn\s+är",
    r"jeg\s+he(?:ter|dder)",
    r"m[ăa]\s+numesc",
    r"nama\s+saya",
    r"nimeni\s+on",
    r"(?:tên\s+(?:tôi|mình|em|anh|chị)\s+là|(?:tôi|mình|em|anh|chị)\s+tên(?:\s+là)?|họ\s+tên)",
    r"a\s+nevem",
    # Russian / Arabic (space-separated scripts)
    r"меня\s+зовут",
    r"получатель",
    r"имя",
    r"фио",
    r"اسمي",
    r"المستلم",
]
# Weak triggers: the name must be capitalised.
_WEAK = [
    r"i\s+am",
    r"i'm",
    r"i’m",
    r"this\s+is",
    r"it's",
    r"it\s+is",
    r"here\s+is",
    r"name",
    r"named",
    r"called",
    r"my\s+(?:colleague|manager|boss|assistant|partner|wife|husband|son|daughter|"
    r"brother|sister|friend|kid|mother|father|mom|dad|uncle|aunt|cousin|agent|director)",
    r"speak\s+(?:to|with)",
    r"talk\s+(?:to|with)",
    r"ask\s+for",
    r"follow\s+up\s+with",
    r"signed",
    r"call\s+me",
    r"calls\s+me",
    r"(?:shouted|yelled|screamed|waved|smiled|spoke|talked|replied|said)\s+(?:at|to)",
    r"(?:named|called)\s+(?:him|her|them)",
    r"belongs?\s+to",
    r"belonging\s+to",
    r"(?:says|said|asks|asked|replied|added|explained)",
    r"(?:directed|written|produced|composed|performed|sung|painted)\s+by:?",
    r"(?:western\s+union|moneygram|paypal)(?:\s+\w+){0,3}?\s+to",
    r"(?:pay|payment|transfer|remit|wire)(?:\s+(?:it|them|the\s+\w+|money|funds))?\s+to",
    r"(?:change|changed|correct|corrected|update|updated|rename|renamed)\s+"
    r"(?:it|the\s+name|my\s+name|the\s+account\s+name|the\s+holder)\s+to",
    r"dear",
    r"hi",
    r"hello",
    r"hey",
    r"good\s+(?:morning|afternoon|evening)",
    r"ich\s+bin",
    r"les?\s+escribe",
    r"(?:fale|falar|fala)\s+com(?:\s+[oa])?",
    r"(?:hable|hablar|habla)\s+con",
    r"aqui\s+é(?:\s+[oa])?",
    r"(?:o\s+)?contato\s+é(?:\s+[oa])?",
    r"(?:el\s+)?contacto\s+es",
    r"aquí\s+(?:es|habla)",
    r"c['’]est",
    r"(?:parlez|parler)\s+(?:à|avec)",
    r"sou\s+(?:o|a)",
    r"soy",
    r"je\s+suis",
    r"sono",
    r"ik\s+ben",
    r"jestem",
]
# Closings after which a signature name follows (possibly on the next line).
_CLOSINGS = [
    r"regards",
    r"best\s+regards",
    r"kind\s+regards",
    r"warm\s+regards",
    r"best\s+wishes",
    r"best(?=\s*[,!\n])",  # "Best, John" (but "Best Price Guaranteed" is no closing)
    r"thanks",
    r"thank\s+you",
    r"many\s+thanks",
    r"cheers",
    r"sincerely",
    r"yours\s+(?:sincerely|truly|faithfully)",
    r"mit\s+freundlichen\s+grü(?:ß|ss)en",
    r"viele\s+grü(?:ß|ss)e",
    r"beste\s+grü(?:ß|ss)e",
    r"gru(?:ß|ss)",
    r"atenciosamente",
    r"abraços",
    r"obrigad[oa]",
    r"saludos",
    r"un\s+saludo",
    r"atentamente",
    r"cordialement",
    r"cordiali\s+saluti",
    r"distinti\s+saluti",
    r"met\s+vriendelijke\s+groet(?:en)?",
    r"groeten",
    r"pozdrawiam",
    r"saygılarımla",
    r"iyi\s+günler",
    r"med\s+vänlig\s+hälsning",
    r"s\s+pozdravem",
    r"üdvözlettel",
    r"trân\s+trọng",
    r"--+",
    r"—",
]
# Every trigger, label and closing below opens with a letter (a closing may be a dash),
# so a lookahead saying so changes no match; it lets the engine step over spaces, digits
# and punctuation without trying each alternative there, which was most of the time
# spent scanning (tests/test_detectors_names.py checks the first characters).
_AT_LETTER = r"(?=[^\W\d_])"
_AT_LETTER_OR_DASH = r"(?=[^\W\d_]|[-—])"
# Address labels after which a name stands alone on its line ("Ship to: Ana Dias\n...").
_BLOCK_RE = re.compile(
    rf"(?<![^\W\d_]){_AT_LETTER}"
    r"(?:(?:billing|shipping|delivery|mailing|postal|return)\s+address|ship\s+to|bill\s+to|"
    r"deliver\s+to|send\s+to|sold\s+to|lieferadresse|rechnungsadresse|endereço\s+de\s+entrega|"
    r"dirección\s+de\s+envío)\s*:[ \t]*",
    re.IGNORECASE,
)
_HAN_TRIGGERS = (
    r"收货人|收件人|联系人|姓名|户名|开户名|开户人|持卡人|收款人|签收人|我叫|名字是|名字叫|负责人"
    r"|受取人|氏名|宛名|担当者"  # Japanese labels, names in kanji
)
# Korean labels and a name of two to four Hangul syllables.
_HANGUL_RE = re.compile(
    r"(?:받는\s*사람|수취인|수령인|이름|성명|담당자)\s*[:：은는]?\s*([가-힣]{2,4})(?![가-힣])"
)


def _alt(parts: Iterable[str]) -> str:
    """One alternation of ``parts``, longest first, grouped under their opening letters.

    At every word start the engine tries the alternatives in turn; grouped, it tries one
    per opening letter ("a(?:ttn\\.?:?|ccount\\s+name|...)") instead of one per part,
    a third of the time. The matches are the same: parts that open with different
    letters never match at one position (no opening letter is another one in a
    different case, tests/test_detectors_names.py checks it), and under one letter the
    parts keep their order. A part opening with a choice is first written out once per
    choice, in order ("(?:no|em)\\s+nome" as "no\\s+nome|em\\s+nome"), an optional
    opening once with and then once without it.
    """
    groups: dict[str, list[str]] = {}
    for part in sorted(parts, key=len, reverse=True):
        for alternative in _written_out(part):
            groups.setdefault(alternative[0], []).append(alternative[1:])
    return "|".join(f"{re.escape(k)}(?:{'|'.join(rest)})" for k, rest in groups.items())


_QUANTIFIERS = ("?", "*", "+", "{")


def _written_out(part: str) -> list[str]:
    """``part`` as alternatives that each open with a plain character, in match order."""
    syntax = list(_syntax(part))
    if any(part[i] == "|" and depth == 0 for i, depth in syntax):
        raise ValueError("a trigger is one alternative; list each choice on its own")
    if not part.startswith("(?:"):
        if not (part[0].isalpha() or part[0] in "-—") or part[1:2] in _QUANTIFIERS:
            raise ValueError("a trigger must open with a letter or a choice of words")
        return [part]
    end = next(i for i, depth in syntax if part[i] == ")" and depth == 0) + 1
    cuts = [2, *(i for i, depth in syntax if i < end and part[i] == "|" and depth == 1), end - 1]
    choices = [part[a + 1 : b] for a, b in pairwise(cuts)]
    rest = part[end:]
    optional = rest.startswith("?")
    if optional:
        rest = rest[1:]
    if rest[:1] in _QUANTIFIERS:
        raise ValueError("a trigger's opening choice may only be optional (greedy)")
    out = [alternative for choice in choices for alternative in _written_out(choice + rest)]
    return (out + _written_out(rest)) if optional else out


def _syntax(source: str) -> Iterator[tuple[int, int]]:
    """(index, depth) of the "(", ")" and "|" of regex ``source`` that are syntax (not
    escaped, not in a character class); depth counts the groups open around each."""
    depth, i, n = 0, 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "\\":
            i += 1  # the escaped character is skipped below
        elif ch == "[":
            i += 2 if source[i + 1 : i + 2] == "^" else 1
            i += 1 if source[i : i + 1] == "]" else 0  # "[]...]": a literal "]"
            while i < n and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
        elif ch == "(":
            yield i, depth
            depth += 1
        elif ch == ")":
            depth -= 1
            yield i, depth
        elif ch == "|":
            yield i, depth
        i += 1


_CONNECT = r"(?:\s*[:：=]\s*|\s+(?:is|was|will\s+be|:)\s+|\s+)"
_STRONG_RE = re.compile(rf"(?<![^\W\d_]){_AT_LETTER}(?:{_alt(_STRONG)}){_CONNECT}", re.IGNORECASE)
_SAID_TO_RE = re.compile(
    r"(?<![^\W\d_])said\s+[^\W\d_]+\s+to\s+", re.IGNORECASE
)  # "said Gladys to Logan"
_WEAK_RE = re.compile(rf"(?<![^\W\d_'’]){_AT_LETTER}(?:{_alt(_WEAK)})[,:]?\s+", re.IGNORECASE)
_CLOSING_RE = re.compile(
    rf"(?<![^\W\d_]){_AT_LETTER_OR_DASH}(?:{_alt(_CLOSINGS)})\s*[,!.]?[ \t]*(?:\r?\n\s*)?",
    re.IGNORECASE,
)
_HAN_RE = re.compile(rf"(?:{_HAN_TRIGGERS})\s*[:：]?\s*")
_TITLE_RE = re.compile(
    r"(?<![^\W\d_])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Dra|Prof|Herrn|Herr|Frau|Sr|Sra|Srta|Mme|Mlle|Dott|Sig|"
    r"Dona|Doña|Señora|Señor|Senhora|Senhor|Signora|Monsieur)\.?\s+(?=[^\W\d_])"
)
# Where "<name> here" may stand: the start of the message or of a sentence or line.
_HERE_RE = re.compile(r"(?:^|[.!?]\s+|\n)(?:(?:hi|hello|hey|dear\s+\w+)[,!]?\s+)?", re.IGNORECASE)
_HERE_AFTER = re.compile(r"\s+(?:here|speaking)\b", re.IGNORECASE)
# A name alone on its line after an address label; a name in parentheses.
_BLOCK_NAME_END = re.compile(r"[ \t]*(?:\r?\n|,|$)")
_PAREN_CLOSE = re.compile(r"\s*\)")
# Titles written in lower case, as chat often is ("my boss mr li said ok").
_LOWER_TITLE_RE = re.compile(r"(?<![^\W\d_])(?:mr|mrs|ms|miss|dr)\.?\s+(?=[^\W\d_])")
_MODEL_NEXT = re.compile(r"\s+[^\s]*\d")
# Lower-case names after a weak trigger are accepted only when followed by one of these.
_LOW_WEAK_FOLLOW = re.compile(r"\s*(?:$|[,.!?;\n]|\s(?:from|here|speaking|calling|writing|with)\b)")
_ADJ_LIKE = re.compile(r"(?:ed|ing|ly|ent|ant|ful|ous|ive|able|ible|less)$")
# Signatures must end the message or the line (or be followed by punctuation).
_SIGN_END = re.compile(r"\s*(?:$|[\n,.!;(]|\s(?:from|at)\b)")


# Words that, just before "name", say whose name it is not ("company name: Acme").
_NOT_PERSON_NAME = re.compile(
    r"(?:company|product|brand|file|user|domain|model|item|host|ship|vessel|street|city|bank|"
    r"store|shop|business|trade|project|band|song|album|book|app|account|firm|factory|"
    r"supplier|shop's|company's|brand's|cargo|goods|port)\W*$",
    re.IGNORECASE,
)
# Strong triggers that literally say "name" (or "I am called"): lower case is fine after
# them even in a capitalised message.
_NAME_PHRASE = re.compile(
    r"name|hei(?:ß|ss)e|llamo|chamo|appelle|chiamo|heet|nome|nombre|nom\b|nazywam|imi[ęe]|"
    r"ad[ıi]m|ismim|jmenuji|vol[áa]m|heter|hedder|namn|numesc|nama|nimeni|nevem|tên",
    re.IGNORECASE,
)


# A mail header line, "From: Name <address@host>" (in several languages).
_MAIL_HEADER_RE = re.compile(
    r"(?:^|\n)[ \t>]*(?:from|to|cc|reply-to|sender|von|an|de|para|à|da|a|van|от|发件人|收件人)"
    r"[ \t]*[:：][ \t]*",
    re.IGNORECASE,
)
_MAIL_NEXT = re.compile(r"[ \t]*[<(\[][^\s<>()@]{1,64}@")
# "pay ... to <account> (Name)": a name in parentheses after a payment destination.
_PAREN_LEAD_RE = re.compile(
    rf"(?<![^\W\d_]){_AT_LETTER}"
    r"(?:pay|paid|payment|transfer|wire|remit|send|account|iban|a/c|acct|"
    r"beneficiary|conta|cuenta|konto|compte|conto)\b[^()\n]{0,60}?\(\s*",
    re.IGNORECASE,
)
# A Latin-script label ("form:", "Ansprechpartner:", "beneficiary") before a name in Han,
# Hangul or kanji/kana: two to four such characters standing alone.
_CJK = r"[\u4e00-\u9fff\u3400-\u4dbf\u3040-\u30ff]"
_CJK_NAME_RE = re.compile(
    r"(?<![^\W\d_])([A-Za-z\u00c0-\u024f]{2,30})\.?[ \t]*([:：]?)[ \t]*"
    rf"({_CJK}{{1,3}}[ \u3000]{_CJK}{{1,3}}|{_CJK}{{2,4}}|[가-힣]{{2,4}})"
    r"(?=[ \t]*(?:$|[,，.。;)）<(\n]|[ \t][^\W\d_]))"
)
_CJK_OR_HANGUL = re.compile(rf"{_CJK}|[가-힣]")
# Han runs ending like this are places or companies, not people.
_CJK_NOT_NAME = re.compile(r"[省市区县镇乡村路街道号楼室司厂店行部局院]$")
_CJK_LABEL_DENY = re.compile(
    r"(?:product|item|model|city|town|province|address|adresse|port|company|brand|shop|"
    r"store|factory|goods|cargo|street|district|endereço|dirección|lieferadresse|"
    r"price|color|colour|size|material|title|subject|bank|branch)$",
    re.IGNORECASE,
)
# Without a colon, only a word that announces a person does.
_CJK_CUE = re.compile(
    r"(?:name|holder|beneficiary|recipient|consignee|receiver|contact|attn|payee|sender|"
    r"person|partner|inhaber|empfänger|ansprechpartner|titular|nome|nombre|destinat[aá]rio|"
    r"benefici[aá]rio|favorecido|mr|mrs|ms|dr)$",
    re.IGNORECASE,
)
# Person cues after which a lower-case name with letters outside ASCII is a name even
# in a capitalised message ("this is tóth levente from ...").
_DIACRITIC_CUES = (
    "i am",
    "i'm",
    "i’m",
    "this is",
    "it's",
    "it is",
    "my name",
    "speak",
    "talk",
    "ask for",
    "follow up with",
    "my ",
)
# Cues of an account name being corrected ("change it to Nadia Okafor"): they are followed
# by options and settings as often ("change it to Express"), so the name needs two words.
_RENAME_CUES = ("change", "correct", "update", "rename")
# Of these, the cues that can only be followed by a person ("talk to", "my colleague"):
# an accented lower-case name after them may run on into the sentence.
_PERSON_CUES = ("speak", "talk", "ask for", "follow up with", "my ")


def cue_end(text: str, pos: int) -> int | None:
    """End of a strong name cue ("Destinataire :", "account holder") starting at ``pos``."""
    m = _STRONG_RE.match(text, pos)
    return m.end() if m is not None else None


_IN_NAME_OF = re.compile(r"(?:no|em|ao|in|a|au|im)\s", re.IGNORECASE)


@lru_cache(maxsize=2048)
def context_names(text: str) -> tuple[NameMatch, ...]:
    """Every name announced by a trigger, title or closing in ``text``.

    Cached: the engine runs this detector and then the NER adapter (which seeds name
    propagation with these names) over the same batch of texts.
    """
    return tuple(_context_names(text))


def _context_names(text: str) -> list[NameMatch]:
    found: list[NameMatch] = []
    lower_chat = is_lower_chat(text)
    upper_chat = _is_upper_chat(text)
    for t in _STRONG_RE.finditer(text):
        trig = t.group()
        if "name" in trig.lower() and _NOT_PERSON_NAME.search(
            text, max(0, t.start() - 24), t.start()
        ):
            continue
        # "my name is" allows a lower-case name in any message; "in the name of" does not
        # ("no nome da empresa": the company's name).
        low_ok = (
            lower_chat
            or upper_chat
            or (_NAME_PHRASE.search(trig) is not None and _IN_NAME_OF.match(trig) is None)
        )
        nm = scan_name(text, t.end(), lowercase_ok=low_ok, caps_ok=True, relax=True)
        if nm is not None and (not nm.lowercase or _plausible_lower(nm)) and _cjk_ok(nm):
            found.append(nm)
    for t in _WEAK_RE.finditer(text):
        trig = t.group().lower()
        if trig.startswith("name") and _NOT_PERSON_NAME.search(
            text, max(0, t.start() - 24), t.start()
        ):
            continue
        nm = scan_name(text, t.end(), lowercase_ok=False)
        if nm is not None:
            if trig.startswith(_RENAME_CUES) and len(nm.tokens) < 2:
                continue  # "change it to Express shipping": an option, not an account name
            if not _MODEL_NEXT.match(text, nm.end):
                found.append(nm)  # ("This is Huawei P30": a brand before a model number)
        else:
            low = scan_name(text, t.end(), lowercase_ok=True, allow_titles=False)
            if low is None:
                continue
            # Letters outside ASCII in words no language list knows ("tóth levente",
            # "trần văn khoa") are strong name evidence, whatever the case of the message.
            accented = all(not _foreign_word(_bare(tk)) for tk in low.tokens) and any(
                not c.isascii() for tk in low.tokens for c in tk
            )
            cued = accented and trig.startswith(_DIACRITIC_CUES) and 2 <= len(low.tokens) <= 3
            if cued and trig.startswith(_PERSON_CUES):
                found.append(low)  # "follow up with monika žilková in May": what follows is free
                continue
            if not _weak_lower_ok(text, low, trig):
                continue
            if cued or (lower_chat and len(low.tokens) <= 2):
                found.append(low)
    for t in _SAID_TO_RE.finditer(text):
        nm = scan_name(text, t.end(), lowercase_ok=False)
        if nm is not None:
            found.append(nm)
    for t in _CLOSING_RE.finditer(text):
        if t.end() >= len(text):
            continue
        nm = scan_name(text, t.end(), lowercase_ok=lower_chat or upper_chat, relax=True)
        if nm is None or not _SIGN_END.match(text, nm.end):
            continue
        if nm.lowercase and (nm.end < len(text.rstrip(" .!")) or not _plausible_lower(nm)):
            continue  # "thanks, got it" is no signature; "thanks, anna" at the end is
        found.append(nm)
    # An address label ends in a colon (and a payment lead below in a parenthesis): most
    # messages have none, and are not scanned for them.
    if ":" in text:
        for t in _BLOCK_RE.finditer(text):
            nm = scan_name(text, t.end(), lowercase_ok=lower_chat or upper_chat)
            if nm is not None and _BLOCK_NAME_END.match(text, nm.end):
                found.append(nm)
    # A name is kept only with "here" or "speaking" after it: without one in the message,
    # no sentence start needs to be read.
    if _HERE_AFTER.search(text) is not None:
        for t in _HERE_RE.finditer(text):
            nm = scan_name(text, t.end(), lowercase_ok=lower_chat, allow_titles=True)
            if nm is not None and len(nm.tokens) <= 3 and _HERE_AFTER.match(text, nm.end):
                found.append(nm)
    if lower_chat:
        for t in _LOWER_TITLE_RE.finditer(text):
            nm = scan_name(text, t.start(), lowercase_ok=True)
            if nm is not None and len(nm.tokens) > 1:
                # One word only: in lower-case chat the next word may be a verb ("mr li said").
                nm = NameMatch(nm.start, t.end() + len(nm.tokens[0]), nm.tokens[:1], True)
            if nm is not None and _plausible_lower(nm):
                found.append(nm)
    for t in _TITLE_RE.finditer(text):
        nm = scan_name(text, t.start(), lowercase_ok=upper_chat, relax=True)
        if nm is not None:
            found.append(nm)
    if ":" in text or "：" in text:  # a header's colon
        for t in _MAIL_HEADER_RE.finditer(text):
            nm = scan_name(text, t.end(), lowercase_ok=False, caps_ok=True, relax=True)
            if nm is not None and _MAIL_NEXT.match(text, nm.end):
                found.append(nm)
    if "(" in text:
        for t in _PAREN_LEAD_RE.finditer(text):
            nm = scan_name(text, t.end(), lowercase_ok=False, caps_ok=True)
            if nm is not None and _PAREN_CLOSE.match(text, nm.end) and _cjk_ok(nm):
                found.append(nm)
    # The scans below all need Han, kana or Hangul characters, which most messages lack.
    if _CJK_OR_HANGUL.search(text) is None:
        return found
    for t in _CJK_NAME_RE.finditer(text):
        label, colon, run = t.group(1), t.group(2), t.group(3)
        if _CJK_LABEL_DENY.search(label) or _CJK_NOT_NAME.search(run):
            continue
        if colon or _CJK_CUE.search(label):
            found.append(NameMatch(t.start(3), t.end(3), (run,), False))
    for t in _HANGUL_RE.finditer(text):
        found.append(NameMatch(t.start(1), t.end(1), (t.group(1),), False))
    for t in _HAN_RE.finditer(text):
        h = _HAN.match(text, t.end())
        if h is None:
            continue
        end = h.end()
        stop = _HAN_STOP.search(text, h.start() + 1, end)
        if stop is not None:
            end = stop.start()
        if text.startswith(("先生", "女士", "小姐"), end):
            end += 2  # 王先生: surname and honorific
        elif end - h.start() < 2:
            continue
        found.append(NameMatch(h.start(), end, (text[h.start() : end],), False))
    return found


def _cjk_ok(nm: NameMatch) -> bool:
    """Han or kana tokens in a name are two to four characters, not a place or company."""
    for tk in nm.tokens:
        if tk[0].lower() == tk[0].upper() and (len(tk) > 4 or _CJK_NOT_NAME.search(tk)):
            return False
    return True


def _is_upper_chat(text: str) -> bool:
    """True for a message written in capitals only (names in it are capitals too):
    at least eight ASCII letters, none of them lower case."""
    return _ASCII_LOWER.search(text) is None and len(_ASCII_UPPER.findall(text)) >= 8


_ASCII_LOWER = re.compile("[a-z]")
_ASCII_UPPER = re.compile("[A-Z]")


# Codes and acronyms in a message: a word with a digit ("PL61", "PO-7781") or in capitals
# ("USD", "IBAN", "ABNA"). They say nothing about how the writer types words.
_ALNUM_WORD = re.compile(r"[^\W_]+")


# The first letter of a sentence: at the start of the message or a line, or after
# sentence punctuation.
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n\s*)([^\W\d_])", re.MULTILINE)


def is_lower_chat(text: str) -> bool:
    """True for a message typed in lower case, so that names in it may be lower case too.

    Either no word has a capital, codes and acronyms aside ("ik ben jan, iban NL91 ABNA
    0417 ..."), or no sentence opens with one: a writer who does not capitalise "prima.
    ik ben ..." does not capitalise names either, even if a company name in the message
    is copied with its capitals ("... inkoop bij Lumen Interieur BV").
    """
    cased = False
    for m in _ALNUM_WORD.finditer(text):
        w = m.group()
        if any(c.isdigit() for c in w) or (len(w) >= 2 and w.isupper()):
            continue
        for c in w:
            if c.isupper():
                return _sentences_in_lower_case(text)
            cased = cased or c.islower()
    return cased


def _sentences_in_lower_case(text: str) -> bool:
    """Some sentence opens with a cased letter, and none with a capital (the first
    capital decides: most messages open with one)."""
    cased = False
    for m in _SENTENCE_START.finditer(text):
        c = m.group(1)
        if c.lower() != c.upper():
            if c.isupper():
                return False
            cased = True
    return cased


def _plausible_lower(nm: NameMatch) -> bool:
    """A lower-case name after a strong trigger: one word that looks like a verb or an
    adjective ("interested") is no name; several words are ("mohammed al rashid")."""
    return len(nm.tokens) > 1 or not (_ADJ_LIKE.search(nm.tokens[0]) and len(nm.tokens[0]) > 5)


# Weak cues of languages whose chat says "I am <state>" far more often than "I am <name>":
# a lower-case name after them must have two words ("ik ben jan de vries").
_NAME_OR_STATE = ("ik ben", "jestem")


def _weak_lower_ok(text: str, nm: NameMatch, trigger: str) -> bool:
    if not _LOW_WEAK_FOLLOW.match(text, nm.end):
        return False
    if (
        not trigger.strip()
        .lower()
        .startswith(
            (
                "i",
                "this",
                "it",
                "hi",
                "hello",
                "hey",
                "dear",
                "ich",
                "sou",
                "soy",
                "je",
                "sono",
                "jestem",
            )
        )
    ):
        return False  # "from x", "by x", "with x": too common in lower-case chat
    if trigger.lower().startswith(_NAME_OR_STATE) and len(nm.tokens) < 2:
        return False  # "ik ben blij", "jestem zadowolony": how one is, not who
    return not any(_ADJ_LIKE.search(t) and len(t) > 4 for t in nm.tokens)


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def propagate(text: str, spans: Iterable[Span], detector: str, score: float = 0.5) -> list[Span]:
    """Other standalone occurrences, in ``text``, of the name tokens in ``spans``.

    Once "Anna Li" is a name, a later "Anna" or "Li" on its own is the same person.
    Only tokens of at least two letters that are not common words are propagated, and
    an occurrence must match the case of the original (chat "li" does not match "Li").
    """
    seeds: set[str] = set()
    covered = bytearray(len(text))
    for s in spans:
        covered[s.start : s.end] = b"\x01" * (min(s.end, len(text)) - s.start)
        for w in _WORD_RE.findall(text[s.start : s.end]):
            b = w.lower()
            ordinary = b in COMMON_WORDS or b in TITLES or b in SUFFIXES or b in PARTICLES
            if len(w) >= 2 and not ordinary and (w[0].isupper() or len(w) >= 3):
                seeds.add(w)
    if not seeds:
        return []
    out: list[Span] = []
    for m in _WORD_RE.finditer(text):
        if m.group() not in seeds:
            continue
        if covered[m.start()]:
            continue
        out.append(Span(m.start(), m.end(), "PERSON", score, detector))
    return out


@dataclass(frozen=True, slots=True)
class ContextNameDetector:
    """PERSON spans announced by a trigger phrase, title or closing (pure, no model)."""

    name: str = "names_context"
    entity_types: frozenset[str] = field(default=frozenset({"PERSON"}))

    def detect(self, text: str) -> tuple[Span, ...]:
        spans = [Span(m.start, m.end, "PERSON", SCORE, self.name) for m in context_names(text)]
        if not spans:
            return ()
        return (*spans, *propagate(text, spans, self.name))


def detectors() -> tuple[Detector, ...]:
    return (ContextNameDetector(),)

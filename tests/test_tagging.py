"""Purpose tagging: the default rules, per family and language, and conversation scope."""

from __future__ import annotations

import pytest

from policies.loader import load_default_policy
from policies.tagging import PurposeTagger, TagInput, fold, keywords_regex, load_default_tagger

D = frozenset({"dispute_handling"})
R = frozenset({"risk_control"})
NONE: frozenset[str] = frozenset()

# (text, expected purposes) -- phrasings deliberately unlike the dev corpus templates.
TABLE = [
    # --- dispute: explicit dispute / complaint / chargeback
    ("I will open a dispute if this is not solved by Friday.", D),  # en dispute
    ("This is a formal complaint about your service.", D),  # en complaint
    ("My bank will do a chargeback on this payment.", D),  # en chargeback
    ("我要投诉这个卖家，订单有纠纷。", D),  # zh complaint + dispute
    ("Vou abrir uma disputa e fazer uma reclamação.", D),  # pt dispute + complaint
    ("Voy a presentar una queja formal y pedir un contracargo.", D),  # es complaint + chargeback
    ("Ich lege hiermit eine Beschwerde ein.", D),  # de complaint
    # --- dispute: refund / return
    ("Can I get my money back for order 55?", D),  # en money back
    ("We were refunded only half.", D),  # en stem refund*
    ("请尽快退款，我要退货。", D),  # zh refund + return
    ("Quero o reembolso do valor pago.", D),  # pt refund
    ("Necesito la devolución de la mercancía.", D),  # es return
    ("Bitte um Rückerstattung des Betrags.", D),  # de refund, umlaut folded
    # --- dispute: damaged / not as described
    ("Several units arrived cracked and two are not working.", D),  # en damaged family
    ("The colour is different from what we agreed.", D),  # en not as described
    ("收到的货物有破损。", D),  # zh damaged
    ("O produto chegou danificado.", D),  # pt damaged
    ("El producto llegó dañado y no funciona.", D),  # es damaged, accent folded
    ("Die Ware ist beschädigt angekommen.", D),  # de damaged
    # --- dispute: missing / not received / short
    ("The parcel never arrived.", D),  # en not received + goods noun
    ("Only 80 of 100 cartons were delivered.", D),  # en short count
    ("货还没收到。", D),  # zh not received + goods
    ("Não recebi o pedido até hoje.", D),  # pt not received
    ("No he recibido el paquete.", D),  # es not received
    ("Das Paket ist nicht angekommen.", D),  # de not received
    # --- risk: off-platform payment
    ("We can give a discount if you pay off the platform.", R),  # en off platform
    ("Please transfer the money to us directly, it is faster.", R),  # en pay directly
    ("Can you pay with gift cards?", R),  # en gift cards
    ("不走平台的话可以便宜一点。", R),  # zh not via platform
    ("Podemos fechar o negócio fora da plataforma.", R),  # pt outside platform
    ("Pague directamente a nuestra cuenta, sin pasar por la plataforma.", R),  # es direct + bypass
    ("Bitte zahlen Sie außerhalb der Plattform.", R),  # de outside platform, ß folded
    # --- risk: other messenger
    ("Let's continue on Telegram, my id is sellerbest.", R),  # en telegram
    ("加我微信聊吧。", R),  # zh wechat
    ("Me chama no WhatsApp.", R),  # pt whatsapp
    # --- risk: changed bank details
    ("Kindly note that our bank details have changed.", R),  # en changed
    ("Please remit to our new HSBC account.", R),  # en new account
    ("For security we updated our beneficiary details.", R),  # en updated details
    ("我们公司账户已冻结，请打款到新账户。", R),  # zh frozen + new account
    ("Nossa conta bancária mudou, use a nova conta.", R),  # pt changed
    ("Nuestra cuenta ha cambiado, use la nueva cuenta.", R),  # es changed
    ("Unsere Bankverbindung hat sich geändert.", R),  # de changed
    # --- risk: credentials
    ("Please tell me the 6 digit code sent to your phone.", R),  # en one-time code
    ("Reply with your card number and CVV to confirm.", R),  # en card + cvv
    ("请把验证码发给我。", R),  # zh verification code
    ("Me passa o número do cartão e o código de segurança.", R),  # pt card + code
    ("Envíeme el número de su tarjeta.", R),  # es card number
    ("Bitte senden Sie uns Ihre Kartennummer.", R),  # de card number
    # --- risk: links and phishing
    ("Track it here: https://tinyurl.com/abc123", R),  # shortener
    ("Confirm at http://192.168.4.20/pay", R),  # raw IP host
    ("Go to https://alibaba.com.account-check.net/verify", R),  # look-alike brand host
    ("Click this link to verify your account.", R),  # call to action
    ("Your buyer account will be suspended today.", R),  # account threat
    # --- risk: advance fee
    ("Pay the release fee and we ship the sample.", R),  # en release fee
    ("Congratulations, you have won a prize!", R),  # en lottery
    ("先交手续费才能发货。", R),  # zh pay fee first
    ("É preciso pagar uma taxa para liberar a carga.", R),  # pt fee to release
    ("Sie müssen eine Gebühr zur Freigabe zahlen.", R),  # de fee for release
    ("The shipment is short by 20 units.", D),  # en short by
    ("Where is my order? It has been three weeks.", D),  # en where is my order
    ("Please pay to my personal account this time.", R),  # en personal account
    ("Send a photo of your card to confirm the order.", R),  # en card photo
    ("Please verify your payment at http://pay-check.example.net/v", R),  # en verify via link
    ("The product quality is very poor.", D),  # en quality is poor
    ("The colour was wrong on half of them.", D),  # en colour was wrong
    ("We demand compensation for the delay.", D),  # en compensation
    ("Five parts are missing from the kit.", D),  # en missing parts
    ("La calidad no es como se describe.", D),  # es not as described
    ("质量太差了。", D),  # zh quality too poor
    ("We changed banks last month, pay to the account below.", R),  # en changed banks
    ("Unser Bankkonto hat sich geändert.", R),  # de compound Bankkonto
    ("请不要通过平台付款。", R),  # zh do not pay via the platform
    ("Tell me the code you received by SMS.", R),  # en one-time code
    ("Nosso sistema precisa dos dados do seu cartão para liberar a amostra.", R),  # pt card details
    ("Nuestro sistema necesita los datos de su tarjeta.", R),  # es card details
    ("Vou pagar o sinal com cartão, código de segurança 123.", NONE),  # pt paying by card
    ("我们的系统需要您的卡信息来发放样品。", R),  # zh card info
    ("No use la garantía comercial, páguenos directamente.", R),  # es skip trade assurance
    ("Three of the cartons were crushed during delivery.", D),  # en crushed
    # --- negatives: ordinary trade talk must not be tagged
    ("The quality is excellent and the size is standard.", NONE),  # en praise, no complaint
    ("Please confirm the order on https://www.alibaba.com/order/1", NONE),  # brand's own link
    ("My card number is lost, can you send a new one?", NONE),  # own card, not a request
    ("Is the sample fee refundable on the first order?", NONE),  # pre-sale question
    ("What is your price for 500 units, and the lead time?", NONE),  # en inquiry
    ("Please send us the catalogue and the invoice.", NONE),  # en send, no secret
    (
        "Our bank details: IBAN on the invoice, 30% deposit before shipping.",
        NONE,
    ),  # en bank, no change
    ("We pack carefully to avoid damaged goods.", NONE),  # en packing promise
    ("What is your refund policy?", NONE),  # en pre-sale question
    ("We have not received your payment for the order yet.", NONE),  # en payment reminder
    ("Our account manager has changed, Lisa will help you.", NONE),  # en account manager
    ("Please share the delivery address with pin code.", NONE),  # en postal pin code
    ("Do you have tan colour samples? Please send them.", NONE),  # en tan is a colour
    ("We will release the goods after the balance is paid.", NONE),  # en normal release
    ("我们的银行账户信息如下，请按发票付款。", NONE),  # zh bank info, no change
    ("新产品目录已发送，请查收。", NONE),  # zh 'new' without account
    ("Falta pagar o saldo do pedido.", NONE),  # pt balance still due
    ("El banco cobra una comisión por el tipo de cambio.", NONE),  # es exchange rate
    ("Können Sie mir den Katalog schicken?", NONE),  # de send catalogue
    ("Tracking: https://www.dhl.com/track?id=123", NONE),  # ordinary link
    ("See https://www.alibaba.com/product/123", NONE),  # the brand's own domain
]


@pytest.fixture(scope="module")
def tagger() -> PurposeTagger:
    return load_default_tagger()


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[f"row{i}" for i in range(len(TABLE))])
def test_default_rules(tagger: PurposeTagger, text: str, expected: frozenset[str]) -> None:
    """Each row's message is tagged with exactly its expected purposes."""
    got = tagger.message_purposes(TagInput(text))
    assert got == expected, f"rules fired: {[r.id for r in tagger.fired(TagInput(text))]}"


def test_dispute_id_metadata_tags_dispute(tagger: PurposeTagger) -> None:
    """A message with a dispute_id serves dispute handling whatever its text."""
    assert tagger.message_purposes(TagInput("ok", metadata={"dispute_id": "d-1"})) == D


def test_card_with_pin_is_risky(tagger: PurposeTagger) -> None:
    """A detected card number sent with a PIN is tagged risk_control."""
    assert (
        tagger.message_purposes(TagInput("here it is, pin 1234", frozenset({"CREDIT_CARD"}))) == R
    )


def test_card_with_cvv_alone_is_not_risky(tagger: PurposeTagger) -> None:
    """Paying by card (number and CVV) is ordinary: on dev, tagging it only adds false positives."""
    msg = TagInput(
        "I'll pay the deposit by card, cvv below", frozenset({"CREDIT_CARD", "CARD_CVV"})
    )
    assert tagger.message_purposes(msg) == NONE


def test_purposes_are_conversation_scoped(tagger: PurposeTagger) -> None:
    """Every message of a conversation carries the purposes any of its messages triggered."""
    msgs = [
        TagInput("Hello, price please?", conversation_id="c1"),
        TagInput("The goods arrived damaged.", conversation_id="c1"),
        TagInput("Hello, price please?", conversation_id="c2"),
    ]
    assert tagger.tag_conversations(msgs) == [("dispute_handling",), ("dispute_handling",), ()]


def test_message_without_conversation_keeps_its_own_purposes(tagger: PurposeTagger) -> None:
    """A message with no conversation id is tagged on its own text only."""
    msgs = [TagInput("add me on whatsapp"), TagInput("thanks")]
    assert tagger.tag_conversations(msgs) == [("risk_control",), ()]


def test_fold_removes_accents_case_and_format_chars() -> None:
    """Folding lower-cases, strips accents and drops zero-width characters."""
    assert fold("NÃO\u200b Rückerstattung  ß") == "nao ruckerstattung ss"


def test_keyword_matches_whole_latin_words_only() -> None:
    """'pin' does not match inside 'shipping'; a stem matches word endings."""
    assert keywords_regex(["pin"]).search(fold("shipping")) is None
    assert keywords_regex(["refund*"]).search(fold("Refunded")) is not None


def test_chinese_keyword_matches_inside_a_run() -> None:
    """A Chinese keyword matches without spaces around it."""
    assert keywords_regex(["退款"]).search(fold("我要求退款谢谢")) is not None


def test_default_tagger_comes_from_the_policy_files() -> None:
    """The default tagger's rules are those of the shipped policy files."""
    assert load_default_tagger().rules == load_default_policy().tagger.rules


def test_combined_keywords_match_like_each_keyword_alone() -> None:
    """The one-pattern form of a keyword list matches exactly where some single keyword does."""
    words = ["pin", "refund*", "money back", "退款", "nao recebi", "-x"]
    combined = keywords_regex(words)
    texts = ["shipping", "REFUNDED!", "money-back", "我要退款", "Não recebi", "a -x b", "spin"]
    for t in texts:
        alone = any(keywords_regex([w]).search(fold(t)) for w in words)
        assert (combined.search(fold(t)) is not None) == alone, t

"""Purpose views: placeholders, last four, keyed hashes and plaintext rendered from the original."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from policies.loader import Policy, load_default_policy
from policies.model import View, ViewKind
from policies.views import hash_message, render, stored_replacements

KEY = b"v" * 32
IBAN = "DE89 3704 0044 0532 0130 00"


def hasher(entity_type: str, value: str) -> str:
    return hmac.new(KEY, hash_message(entity_type, value), hashlib.sha256).hexdigest()[:16]


def message(
    prefix: str, value: str, suffix: str, etype: str, n: int = 1
) -> tuple[str, str, list[tuple[int, int, str]]]:
    original = prefix + value + suffix
    redacted = f"{prefix}[{etype}_{n}]{suffix}"
    return original, redacted, [(len(prefix), len(prefix) + len(value), etype)]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_default_policy()


def test_same_iban_same_hash_across_conversations(policy: Policy) -> None:
    """The risk view shows one keyed hash for one IBAN in two differently worded messages."""
    a = render(*message("Pay to ", IBAN, " today", "IBAN"), policy.view("risk_control"), hasher)
    b = render(
        *message("New account: ", IBAN.replace(" ", ""), ".", "IBAN", 3),
        policy.view("risk_control"),
        hasher,
    )
    tag_a, tag_b = a.split("<", 1)[1].split(">")[0], b.split("<", 1)[1].split(">")[0]
    assert tag_a == tag_b and tag_a.startswith("IBAN:")


def test_different_ibans_differ(policy: Policy) -> None:
    """Two different IBANs get two different keyed hashes."""
    a = render(*message("x ", IBAN, "", "IBAN"), policy.view("risk_control"), hasher)
    b = render(
        *message("x ", "GB82 WEST 1234 5698 7654 32", "", "IBAN"),
        policy.view("risk_control"),
        hasher,
    )
    assert a != b


def test_plaintext_only_in_regulatory_view(policy: Policy) -> None:
    """The IBAN's digits appear in the regulatory view and in no other purpose's view."""
    msg = message("Pay to ", IBAN, " today", "IBAN")
    shown = {p: render(*msg, policy.view(p), hasher) for p in policy.purposes}
    assert [p for p, text in shown.items() if "3704" in text] == ["regulatory_request"]


def test_dispute_view_shows_card_last_four(policy: Policy) -> None:
    """A dispute agent sees the card's last four digits and nothing more of it."""
    out = render(
        *message("card ", "4111 1111 1111 1111", " ok", "CREDIT_CARD"),
        policy.view("dispute_handling"),
        hasher,
    )
    assert out == "card [CREDIT_CARD ****1111] ok"


def test_placeholder_reuses_the_stored_numbering(policy: Policy) -> None:
    """A placeholder shows the conversation-stable token of the stored redacted copy."""
    out = render(
        *message("call ", "+49 30 1234567", " now", "PHONE", 2),
        policy.view("dispute_handling"),
        hasher,
    )
    assert out == "call [PHONE_2] now"


def test_last4_never_reveals_a_short_value() -> None:
    """A value of four characters or fewer is not shown at all under last4."""
    view = View("p", ViewKind.LAST4, ())
    assert render(*message("cvv ", "123", "", "CARD_CVV"), view, hasher) == "cvv [CARD_CVV]"


def test_misaligned_redacted_copy_falls_back_to_bare_type() -> None:
    """When the stored copy does not align with the spans, placeholders show only the type."""
    view = View("p", ViewKind.PLACEHOLDER, ())
    assert (
        render("a secret b", "totally different", [(2, 8, "PERSON")], view, hasher)
        == "a [PERSON] b"
    )


def test_offsets_outside_the_text_show_the_redacted_copy() -> None:
    """Entity offsets that do not fit the original are never guessed at."""
    view = View("p", ViewKind.PLAINTEXT, ())
    assert render("short", "[X_1]", [(0, 99, "PERSON")], view, hasher) == "[X_1]"


def test_stored_replacements_of_two_spans() -> None:
    """Each span's replacement is recovered from the redacted copy."""
    got = stored_replacements("A x B y C", "A [P_1] B [Q_1] C", [(2, 3, "P"), (6, 7, "Q")])
    assert got == ["[P_1]", "[Q_1]"]

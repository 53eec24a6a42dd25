"""Operators replace values as configured; placeholders are stable per conversation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redact import (
    ConfigError,
    ConversationState,
    Drop,
    KeyedHash,
    Mask,
    Message,
    OperatorTable,
    RedactConfig,
    Redactor,
    Span,
    render,
)
from redact.operators import canonical


def test_placeholder_numbers_repeat_for_the_same_value() -> None:
    """The same value gets the same number; a new value the next one."""
    state = ConversationState(b"s" * 32)
    text = "a 1 b 2 c 1"
    spans = [Span(2, 3, "PHONE"), Span(6, 7, "PHONE"), Span(10, 11, "PHONE")]
    assert render(text, spans, OperatorTable(), state) == "a [PHONE_1] b [PHONE_2] c [PHONE_1]"


def test_placeholder_identity_ignores_separators() -> None:
    """'4111 1111' and '41111111' are one value."""
    state = ConversationState(b"s" * 32)
    assert state.number("CREDIT_CARD", "4111 1111") == state.number("CREDIT_CARD", "41111111")


@given(st.text())
def test_canonical_keeps_exactly_the_alphanumerics(value: str) -> None:
    """A value's canonical form is its casefolded alphanumerics (what numbering stored in
    conversation states was computed on, so it must never change)."""
    assert canonical(value) == "".join(ch for ch in value.casefold() if ch.isalnum())


def test_state_digests_are_hmac_sha256_of_type_and_canonical_value() -> None:
    """The digest stored in a conversation's state is unchanged: HMAC-SHA256 of the type,
    a NUL and the canonical value, hex, 32 characters."""
    key = bytes(range(32))
    want = hmac.new(key, b"IBAN\x00de89370400440532013000", hashlib.sha256).hexdigest()[:32]
    assert ConversationState(key).digest("IBAN", "DE89 3704-0044 0532 0130 00") == want


def test_state_count_grows_only_with_new_numbers() -> None:
    """``count`` is the numbers given so far: a value seen again adds none."""
    state = ConversationState(b"s" * 32)
    assert state.count == 0
    state.number("PHONE", "555 0101")
    state.number("PHONE", "5550101")
    assert state.count == 1
    state.number("EMAIL", "a@b.example")
    state.number("PHONE", "555 0102")
    assert state.count == 3 and ConversationState.from_dict(state.key, state.to_dict()).count == 3


def test_state_never_shows_key_or_values() -> None:
    """The conversation state's repr and dict hold no key bytes and no values."""
    state = ConversationState(b"secret-key-bytes" * 2)
    state.number("IBAN", "DE89370400440532013000")
    dumped = repr(state) + repr(state.to_dict())
    assert "secret" not in dumped and "DE89" not in dumped


def test_mask_keeps_last_four() -> None:
    """Mask hides all but the last four alphanumerics and keeps separators."""
    assert (
        Mask(4).apply("CREDIT_CARD", "4111 1111 1111 1111", ConversationState(b"k" * 32))
        == "**** **** **** 1111"
    )


def test_mask_hides_short_values_whole() -> None:
    """A value too short to keep four characters safely is masked entirely."""
    assert Mask(4).apply("CARD_CVV", "123", ConversationState(b"k" * 32)) == "***"


def test_keyed_hash_is_stable_across_conversations_and_keyed() -> None:
    """Same value and key -> same tag in any conversation; another key -> another tag."""
    a = KeyedHash(b"a" * 32).apply("IBAN", "DE89 3704", ConversationState(b"1" * 32))
    b = KeyedHash(b"a" * 32).apply("IBAN", "DE893704", ConversationState(b"2" * 32))
    c = KeyedHash(b"b" * 32).apply("IBAN", "DE893704", ConversationState(b"2" * 32))
    assert a == b != c and a.startswith("<IBAN:")


def test_drop_removes_value() -> None:
    """Drop replaces the value with nothing."""
    assert (
        render(
            "x 42 y",
            [Span(2, 4, "CARD_CVV")],
            OperatorTable({"CARD_CVV": Drop()}),
            ConversationState(b"k" * 32),
        )
        == "x  y"
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: Mask(9),
        lambda: Mask(4, "**"),
        lambda: KeyedHash(b"short"),
        lambda: KeyedHash(b"k" * 32, 4),
    ],
)
def test_invalid_operator_parameters_fail_when_built(build: object) -> None:
    """Bad operator parameters are rejected at construction, not per call."""
    with pytest.raises(ConfigError):
        build()  # type: ignore[operator]


def test_conversation_placeholders_continue_across_messages() -> None:
    """Within one conversation, a value seen earlier keeps its number in later messages."""
    import re

    from redact.detectors.base import PatternDetector
    from redact.engine import Engine

    det = PatternDetector("num", "PHONE", re.compile(r"\d{3}"))
    r = Redactor(RedactConfig(ner=False), engine=Engine((det,)), state_key=b"k" * 32)
    out = r.redact_batch(
        [
            Message("1", "call 555", "c", 0),
            Message("2", "or 777 or 555", "c", 1),
            Message("3", "555", "d", 0),
        ]
    )
    assert [o.redacted for o in out] == ["call [PHONE_1]", "or [PHONE_2] or [PHONE_1]", "[PHONE_1]"]
    r.close()

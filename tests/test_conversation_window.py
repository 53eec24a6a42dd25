"""A number split across two consecutive messages of one conversation is still caught."""

from __future__ import annotations

import re

import pytest

from redact import Message, RedactConfig, Redactor
from redact.detectors.base import PatternDetector
from redact.engine import Engine, _may_continue
from redact.normalize import normalize

# A toy 16-digit detector stands in for the card detector: the window logic is generic.
_SIXTEEN = PatternDetector("sixteen", "CREDIT_CARD", re.compile(r"\b(?:\d{4}[ -]?){3}\d{4}\b"))


def _redactor() -> Redactor:
    return Redactor(RedactConfig(ner=False), engine=Engine((_SIXTEEN,)), state_key=b"k" * 32)


def test_split_number_is_redacted_in_both_messages() -> None:
    """Both halves of a value split over two messages are reported and redacted."""
    with _redactor() as r:
        out = r.redact_batch(
            [Message("a", "card 4111 1111", "c", 0), Message("b", "1111 1111 thanks", "c", 1)]
        )
    assert [(s.start, s.end) for s in out[0].spans] == [(5, 14)]
    assert [(s.start, s.end) for s in out[1].spans] == [(0, 9)]
    assert "1111" not in out[0].redacted and "1111" not in out[1].redacted


def test_split_across_conversations_is_not_joined() -> None:
    """Messages of different conversations are never joined."""
    with _redactor() as r:
        out = r.redact_batch(
            [Message("a", "card 4111 1111", "c", 0), Message("b", "1111 1111", "d", 0)]
        )
    assert out[0].spans == () and out[1].spans == ()


def test_seq_order_not_input_order_decides_neighbours() -> None:
    """The window follows seq, so out-of-order input still pairs the right messages."""
    with _redactor() as r:
        out = r.redact_batch(
            [
                Message("b", "1111 1111", "c", 2),
                Message("x", "hello", "c", 0),
                Message("a", "4111 1111", "c", 1),
            ]
        )
    assert out[0].spans and out[2].spans and not out[1].spans


def test_previous_text_from_an_earlier_batch_is_used() -> None:
    """The proxy passes the conversation's last stored text; the new half is caught."""
    with _redactor() as r:
        (out,) = r.redact_batch(
            [Message("b", "1111 1111", "c", 5)], previous={"c": "card 4111 1111"}
        )
    assert [(s.start, s.end) for s in out.spans] == [(0, 9)]


def test_disabled_type_is_never_reported_not_even_by_the_window() -> None:
    """A disabled entity type is dropped on the per-message path and the window path."""
    engine = Engine((_SIXTEEN,), disabled=frozenset({"CREDIT_CARD"}))
    with Redactor(RedactConfig(ner=False), engine=engine, state_key=b"k" * 32) as r:
        out = r.redact_batch(
            [
                Message("a", "card 4111 1111 1111 1111", "c", 0),
                Message("b", "card 4111 1111", "c", 1),
                Message("c", "1111 1111 thanks", "c", 2),
            ]
        )
    assert all(o.spans == () for o in out)


@pytest.mark.parametrize(
    ("previous", "current", "scanned"),
    [
        ("card 4111 1111", "1111 1111 thanks", True),  # digit groups continue
        ("card 4111 1111.", " 1111 1111", True),  # punctuation and spaces around the cut
        ("iban GB29", "NWBK 6016 1331 9268 19", True),  # an IBAN's bank code comes next
        ("my iban GB29 NWBK 6016", "1331 9268 19", True),  # its digit groups come next
        ("Unit price is $88944, MOQ 1000", "Thanks, please send a sample", False),  # a word
        ("we need 25000", "OK", True),  # two capitals could be a code: scanned, harmless
        ("we need 25000", "I agree", False),  # one capital letter is a word
        ("order 1234", "", False),  # nothing follows
        ("thanks!", "4111 1111 1111 1111", False),  # the previous message ends in a word
        ("pay to ４１１１", "１１１１", True),  # full-width digits (normalised before the test)
    ],
)
def test_only_pairs_that_can_continue_a_value_are_scanned(
    previous: str, current: str, scanned: bool
) -> None:
    """The cheap pre-test of the window: a digit at the end of the previous message and a
    digit or a capital-letter code at the start of this one."""
    assert _may_continue(normalize(previous).text, normalize(current).text) is scanned


def test_iban_split_before_its_bank_code_is_redacted_in_both_messages() -> None:
    """The real detectors through the window: an IBAN cut after its check digits."""
    with Redactor(RedactConfig(ner=False), state_key=b"k" * 32) as r:
        out = r.redact_batch(
            [
                Message("a", "my iban is GB29", "c", 0),
                Message("b", "NWBK 6016 1331 9268 19", "c", 1),
            ]
        )
    assert [s.type for s in out[0].spans] == ["IBAN"]
    assert [s.type for s in out[1].spans] == ["IBAN"]
    assert "NWBK" not in out[1].redacted and "GB29" not in out[0].redacted

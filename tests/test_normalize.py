"""Normalisation folds disguises and maps every offset back to the original text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from redact.normalize import normalize


def test_ascii_is_identity() -> None:
    """Pure ASCII text is returned unchanged with an identity offset map."""
    n = normalize("card 4111 1111")
    assert n.text == "card 4111 1111" and n.offsets is None
    assert n.to_original(5, 9) == (5, 9)


def test_fullwidth_digits_fold_to_ascii() -> None:
    """Full-width digits become ASCII digits at the same positions."""
    n = normalize("id ４２１")
    assert n.text == "id 421"
    assert n.to_original(3, 6) == (3, 6)


def test_other_script_digits_fold() -> None:
    """Arabic-Indic and Devanagari digits fold to ASCII."""
    assert normalize("\u0664\u0662 \u0967\u0968").text == "42 12"


def test_zero_width_characters_are_dropped_and_mapped_around() -> None:
    """A zero-width space inside a number disappears but the original range covers it."""
    original = "no 12\u200b34 end"
    n = normalize(original)
    assert n.text == "no 1234 end"
    start = n.text.index("1234")
    assert n.to_original(start, start + 4) == (3, 8)
    assert original[3:8] == "12\u200b34"


def test_no_break_space_becomes_space() -> None:
    """NBSP and narrow NBSP fold to a plain space."""
    assert normalize("4111\u00a01111\u202f1111").text == "4111 1111 1111"


@given(st.text())
def test_every_mapped_range_lies_in_the_original(text: str) -> None:
    """Any normalised range maps to a range inside the original text."""
    n = normalize(text)
    for i in range(len(n.text)):
        start, end = n.to_original(i, i + 1)
        assert 0 <= start < end <= len(text)

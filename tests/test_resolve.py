"""Overlapping spans merge by the documented rule."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from redact.resolve import resolve
from redact.span import Span


def test_overlap_becomes_union_with_highest_score_type() -> None:
    """Two overlapping spans become their union, typed by the higher score."""
    out = resolve([Span(0, 10, "PHONE", 0.5), Span(5, 20, "CREDIT_CARD", 0.9)])
    assert out == (Span(0, 20, "CREDIT_CARD", 0.9),)


def test_tie_on_score_prefers_longer() -> None:
    """On equal scores the longer span's type wins."""
    (s,) = resolve([Span(0, 4, "CARD_CVV", 0.8), Span(2, 12, "BANK_ACCOUNT", 0.8)])
    assert s.type == "BANK_ACCOUNT" and (s.start, s.end) == (0, 12)


def test_touching_spans_stay_apart() -> None:
    """Spans that only touch are not merged."""
    assert len(resolve([Span(0, 4, "PERSON"), Span(4, 8, "PERSON")])) == 2


def test_result_does_not_depend_on_input_order() -> None:
    """Resolution is deterministic whatever order detectors reported in."""
    a = [Span(0, 5, "PERSON", 0.5), Span(3, 9, "ADDRESS", 0.5), Span(20, 25, "EMAIL")]
    assert resolve(a) == resolve(list(reversed(a)))


spans = st.builds(
    lambda s, n, t, sc: Span(s, s + n, t, sc),
    st.integers(0, 50),
    st.integers(1, 10),
    st.sampled_from(["PERSON", "PHONE", "IBAN"]),
    st.sampled_from([0.3, 0.6, 0.9]),
)


@given(st.lists(spans, max_size=12))
def test_output_is_disjoint_and_covers_input(items: list[Span]) -> None:
    """Resolved spans never overlap and cover every character of every input span."""
    out = resolve(items)
    for a, b in itertools.pairwise(out):
        assert a.end <= b.start
    covered = {i for s in out for i in range(s.start, s.end)}
    assert all(i in covered for s in items for i in range(s.start, s.end))

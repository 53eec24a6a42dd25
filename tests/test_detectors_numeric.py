"""Building blocks of the number detectors (redact.detectors.numeric)."""

from __future__ import annotations

import pytest

from redact.detectors.numeric import digit_runs


@pytest.mark.parametrize(
    ("text", "min_chars", "runs"),
    [
        ("12 pcs, 4526 0181 5908 3012", 12, ["4526 0181 5908 3012"]),  # the quantity is skipped
        ("123456789012", 12, ["123456789012"]),  # exactly as many characters
        ("12345678901", 12, []),  # one short
        ("1234 5678 901", 12, ["1234 5678 901"]),  # 11 digits, long enough with its spaces
        ("1234 567X", 8, ["1234 567X"]),  # a trailing check letter counts
        ("7 / 8", 0, ["7 / 8"]),  # no minimum: every run
    ],
)
def test_digit_runs_skip_runs_printed_shorter_than_min_chars(
    text: str, min_chars: int, runs: list[str]
) -> None:
    """Runs printed in fewer than ``min_chars`` characters are skipped, the others kept."""
    found = digit_runs(text, min_chars=min_chars)
    assert [text[run[0].start : run[-1].end] for run in found] == runs

"""Shared fixtures. The NER-backed redactor is expensive to build, so it is session-scoped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from redact import RedactConfig, Redactor

SHARED = Path(__file__).resolve().parents[2] / "shared"
EVAL = SHARED / "eval"


@pytest.fixture(scope="session")
def redactor() -> Iterator[Redactor]:
    """One in-process redactor with NER, shared by every test that needs full detection."""
    with Redactor(RedactConfig(workers=0), state_key=b"k" * 32) as r:
        yield r


@pytest.fixture(scope="session")
def pattern_redactor() -> Iterator[Redactor]:
    """A redactor without NER: pattern detectors only, fast to build."""
    with Redactor(RedactConfig(ner=False, workers=0), state_key=b"k" * 32) as r:
        yield r

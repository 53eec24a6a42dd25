"""Detectors for this family; filled in by the detector work (issue 2)."""

from __future__ import annotations

from redact.detectors.base import Detector


def detectors() -> tuple[Detector, ...]:
    return ()

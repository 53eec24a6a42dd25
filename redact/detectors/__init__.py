"""Detectors: small immutable objects with a name, the types they emit and ``detect``."""

from redact.detectors.base import BatchDetector, Detector, PatternDetector, context_before

__all__ = ["BatchDetector", "Detector", "PatternDetector", "context_before"]

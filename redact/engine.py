"""The detection chain: normalise -> pattern detectors -> NER (batched) -> map back -> resolve.

An :class:`Engine` is built once (see :mod:`redact.registry`) and is immutable; it holds
no per-conversation state. Everything it returns is in *original* offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redact.detectors.base import BatchDetector, Detector
from redact.normalize import Normalized, normalize
from redact.resolve import resolve
from redact.span import Span

# How much of the previous message the conversation window looks at: enough for the
# longest grouped identifier (an IBAN of 34 characters with separators) plus context.
WINDOW_CHARS = 64


@dataclass(frozen=True, slots=True)
class Engine:
    detectors: tuple[Detector, ...]
    ner: BatchDetector | None = None
    # Entity types never reported. Dropped before resolution, so a disabled span never
    # swallows an overlapping enabled one, and on every path (messages and the window).
    disabled: frozenset[str] = frozenset()

    @property
    def entity_types(self) -> frozenset[str]:
        types: set[str] = set()
        for d in self.detectors:
            types |= d.entity_types
        if self.ner is not None:
            types |= self.ner.entity_types
        return frozenset(types)

    def _patterns(self, norm: Normalized) -> list[Span]:
        found: list[Span] = []
        for det in self.detectors:
            found.extend(det.detect(norm.text))
        return self._enabled(found)

    def _enabled(self, spans: list[Span]) -> list[Span]:
        if not self.disabled:
            return spans
        return [s for s in spans if s.type not in self.disabled]

    def analyze(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """Detect and resolve spans in each text, in original offsets."""
        norms = [normalize(t) for t in texts]
        raw = [self._patterns(n) for n in norms]
        if self.ner is not None:
            covered = [[(s.start, s.end) for s in spans] for spans in raw]
            for spans, extra in zip(
                raw, self.ner.detect_batch([n.text for n in norms], covered), strict=True
            ):
                spans.extend(self._enabled(list(extra)))
        return [_to_original(n, spans) for n, spans in zip(norms, raw, strict=True)]

    def analyze_boundary(
        self, previous: str, current: str
    ) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
        """Spans of a value split across two consecutive messages of one conversation.

        The tail of ``previous`` and ``current`` are joined with one space and the
        pattern detectors run over the join; only spans that cross the join are kept,
        returned as (part in previous, part in current), in each message's original
        offsets. NER is not re-run: names are not split across messages in practice,
        and a second NER pass would double the cost of every message.
        """
        prev_n, cur_n = normalize(previous), normalize(current)
        if not _may_continue(prev_n.text, cur_n.text):
            return (), ()
        tail_start = max(0, len(prev_n.text) - WINDOW_CHARS)
        tail = prev_n.text[tail_start:]
        joined = tail + " " + cur_n.text
        cut = len(tail)  # index of the joining space
        in_prev: list[Span] = []
        in_cur: list[Span] = []
        for span in resolve(self._patterns(normalize(joined))):
            if not (span.start < cut and span.end > cut + 1):
                continue
            p_start, p_end = span.start + tail_start, cut + tail_start
            if p_start < p_end:
                in_prev.append(
                    Span(*prev_n.to_original(p_start, p_end), span.type, span.score, span.detector)
                )
            c_end = span.end - cut - 1
            if c_end > 0:
                in_cur.append(
                    Span(*cur_n.to_original(0, c_end), span.type, span.score, span.detector)
                )
        return tuple(in_prev), tuple(in_cur)


def _may_continue(previous: str, current: str) -> bool:
    """Cheap test: could a value run from the end of ``previous`` into ``current``?

    Only grouped identifiers are split in practice: digit groups ("4111 1111" /
    "1111 1111") and an IBAN's groups, where the next group may be the bank's letter
    code ("GB29" / "NWBK 6016 1331 9268 19"). So the previous message must end in a
    digit and the current one start with a digit or with a group of capital letters and
    digits. Most messages end in a number (a price, a quantity) and start with a word:
    those pairs are not scanned again, which halves the window's share of detection.
    """
    tail, head = previous.rstrip(" .,-/"), current.lstrip(" .,-/")
    if not tail or not head or not tail[-1].isdigit():
        return False
    if head[0].isdigit():
        return True
    first = head.split(None, 1)[0]
    return len(first) >= 2 and first.isalnum() and first.isupper()


def _to_original(norm: Normalized, spans: list[Span]) -> tuple[Span, ...]:
    if norm.offsets is None:
        return resolve(spans)
    mapped = []
    for s in spans:
        start, end = norm.to_original(s.start, s.end)
        mapped.append(Span(start, end, s.type, s.score, s.detector))
    return resolve(mapped)

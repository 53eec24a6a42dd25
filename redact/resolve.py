"""Merge overlapping spans by one fixed rule.

The rule, in full:

1. Spans are ordered by start offset.
2. Two spans that overlap (share at least one character) become one span covering
   their union, so that no character any detector flagged is left showing.
3. The merged span takes the type of the member with the highest score; on a tie, the
   longer member; on a further tie, the type name that sorts first (so the result never
   depends on detector order).

Adjacent spans that merely touch are kept apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from redact.span import Span


def _rank(span: Span) -> tuple[float, int, str]:
    # Highest score first, then longest, then alphabetical type (negated for max()).
    return (span.score, len(span), "".join(chr(0x10FFFF - ord(c)) for c in span.type))


def resolve(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Return non-overlapping spans, sorted, merged by the rule in the module docstring."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    if not ordered:
        return ()
    out: list[Span] = []
    group: list[Span] = [ordered[0]]
    group_end = ordered[0].end
    for span in ordered[1:]:
        if span.start < group_end:
            group.append(span)
            group_end = max(group_end, span.end)
            continue
        out.append(_merge(group, group_end))
        group = [span]
        group_end = span.end
    out.append(_merge(group, group_end))
    return tuple(out)


def _merge(group: list[Span], end: int) -> Span:
    if len(group) == 1:
        return group[0]
    best = max(group, key=_rank)
    return Span(group[0].start, end, best.type, best.score, best.detector)

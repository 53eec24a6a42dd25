"""Free text typed by a person into a request, redacted before it is stored.

A reader's ``X-Justification`` and a case's ``authority`` and ``legal_basis`` are the only
free-text fields the service keeps (in the audit trail and the cases table). People paste
names, addresses, account numbers and e-mail addresses into them, so they go through the
full redactor -- pattern detectors *and* NER, in the redactor's worker pool, off the event
loop, exactly as chat text does at ingest -- and every detected span becomes ``<TYPE>``
(``"per request of <PERSON>, <IBAN>"``). A scrubber that fails raises; callers then store
nothing and answer 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from redact import Redactor
from redact.resolve import resolve
from redact.span import Span

__all__ = ["Scrubber", "redactor_scrubber", "replace_spans"]

Scrubber = Callable[[str], Awaitable[str]]
"""Text in, the same text with every detected value replaced by ``<TYPE>`` out."""


def replace_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each of the (resolved, sorted) ``spans`` replaced by ``<TYPE>``."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts += [text[pos : s.start], f"<{s.type}>"]
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def redactor_scrubber(get_redactor: Callable[[], Redactor]) -> Scrubber:
    """A scrubber over the service's running redactor (looked up per call, so it can be
    built before the redactor starts). Detection runs in the redactor's pool, coalesced
    with ingest's calls; it raises when the redactor is not running or detection fails."""

    async def scrub(text: str) -> str:
        if not text.strip():
            return text
        redactor = get_redactor()
        if redactor.engine is None:
            raise RuntimeError("redactor not started")
        (spans,) = await redactor.analyze_async([text])
        return replace_spans(text, resolve(spans))

    return scrub

"""Text normalisation with a map back to the original offsets.

Detection runs on normalised text so that disguises do not hide values:

* NFKC compatibility folding, character by character (full-width ``４`` -> ``4``,
  no-break spaces -> space, ligatures expanded);
* every Unicode decimal digit (Arabic-Indic, Devanagari, ...) folded to ASCII;
* zero-width and other format characters (Unicode category ``Cf``) dropped.

``Normalized.offsets[i]`` is the index in the original text of normalised character
``i``; one extra sentinel entry holds ``len(original)`` so that an exclusive end maps
cleanly. Spans found in normalised text are mapped back with :meth:`to_original`.

Folding is per character (not whole-string NFKC) so the map stays exact; combining
sequences therefore are not composed, which no detector relies on.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Normalized:
    original: str
    text: str
    offsets: tuple[int, ...] | None  # None: identity map (pure ASCII input)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised half-open range to the smallest covering original range."""
        if self.offsets is None:
            return start, end
        o_start = self.offsets[start]
        # end is exclusive: the original end is one past the last char's origin.
        o_end = self.offsets[end - 1] + 1 if end > start else o_start
        return o_start, o_end


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return ""
    if cat == "Nd":
        return str(unicodedata.decimal(ch))
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) == 1 and unicodedata.category(folded) == "Nd":
        return str(unicodedata.decimal(folded))
    return folded


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for detection, keeping a map back to original offsets."""
    if text.isascii():
        return Normalized(text, text, None)
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            out.append(ch)
            offsets.append(i)
            continue
        folded = _fold_char(ch)
        out.append(folded)
        offsets.extend([i] * len(folded))
    offsets.append(len(text))
    return Normalized(text, "".join(out), tuple(offsets))

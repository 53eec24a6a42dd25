"""Render a stored message for a purpose: each entity shown as its purpose's view says.

Pure functions over the original text (opened from the sealed blob by the caller), the
stored redacted copy and the stored entity spans:

* ``placeholder`` -- the replacement the stored redacted copy already shows for that span
  (``[IBAN_1]``: numbered per conversation, so a reader can follow who said what); when the
  copy cannot be aligned with the spans, a bare ``[IBAN]``;
* ``last4`` -- ``[CREDIT_CARD ****4219]``: the last four letters or digits of the value;
* ``keyed_hash`` -- ``<IBAN:3f9c2a1b7d0e55aa>``: HMAC-SHA256 of the type and the canonical
  value under the keyring's ``view`` key, so the same value gives the same tag in every
  conversation and no one can reverse it without the key;
* ``plaintext`` -- the value itself (the policy allows it only under an approved case).

The hasher is passed in (``(type, canonical value) -> hex``), so this module holds no key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from policies.model import View, ViewKind

Entity = tuple[int, int, str]
Hasher = Callable[[str, str], str]

HASH_LABEL = b"chatwarden/view/v1\x00"
"""Domain separation for view hashes (distinct from audit subject hashes)."""


def canonical(value: str) -> str:
    """The form identity is decided on: letters and digits only, case-folded."""
    return "".join(ch for ch in value.casefold() if ch.isalnum())


def hash_message(entity_type: str, value: str) -> bytes:
    """The bytes a view hasher authenticates for one value."""
    return HASH_LABEL + entity_type.encode("ascii") + b"\x00" + canonical(value).encode("utf-8")


def _valid(entities: Sequence[Entity], length: int) -> bool:
    prev = 0
    for s, e, _ in entities:
        if not prev <= s < e <= length:
            return False
        prev = e
    return True


def stored_replacements(
    original: str, redacted: str, entities: Sequence[Entity]
) -> list[str] | None:
    """What the redacted copy shows in place of each entity, or None when the copy does not
    consist of the original's text between spans with one replacement per span."""
    if not _valid(entities, len(original)):
        return None
    out: list[str] = []
    pos_r = 0
    prev_end = 0
    for i, (s, e, _) in enumerate(entities):
        lit = original[prev_end:s]
        if not redacted.startswith(lit, pos_r):
            return None
        pos_r += len(lit)
        nxt = original[e : entities[i + 1][0]] if i + 1 < len(entities) else original[e:]
        if i + 1 == len(entities):
            end = len(redacted) - len(nxt)
            if end < pos_r or not redacted.endswith(nxt):
                return None
        else:
            if not nxt:
                return None  # adjacent spans: where one replacement ends is ambiguous
            end = redacted.find(nxt, pos_r)
            if end < 0:
                return None
        out.append(redacted[pos_r:end])
        pos_r = end
        prev_end = e
    if not entities and redacted != original:
        return None
    return out


def render(
    original: str, redacted: str, entities: Sequence[Entity], view: View, hasher: Hasher
) -> str:
    """``original`` with every entity shown as ``view`` says (see the module docstring)."""
    spans = sorted(entities)
    if not _valid(spans, len(original)):
        # Offsets that do not fit the text: never guess, show only the redacted copy.
        return redacted
    stored = stored_replacements(original, redacted, spans)
    parts: list[str] = []
    prev = 0
    for i, (s, e, t) in enumerate(spans):
        parts.append(original[prev:s])
        value = original[s:e]
        kind = view.kind(t)
        if kind is ViewKind.PLAINTEXT:
            parts.append(value)
        elif kind is ViewKind.KEYED_HASH:
            parts.append(f"<{t}:{hasher(t, value)}>")
        elif kind is ViewKind.LAST4:
            tail = canonical(value)[-4:]
            parts.append(f"[{t} ****{tail}]" if len(canonical(value)) > 4 else f"[{t}]")
        else:
            parts.append(stored[i] if stored is not None and stored[i] else f"[{t}]")
        prev = e
    parts.append(original[prev:])
    return "".join(parts)

"""Properties of redaction over generated chat: offsets, idempotence, no surviving values.

Messages are assembled from ordinary trade talk and checksum-valid sensitive values
(generated here, never taken from an evaluation corpus), sometimes disguised the way
chat users disguise them.
"""

from __future__ import annotations

import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redact import Message, Redactor
from redact.checksums import luhn


def _luhn_complete(body: str) -> str:
    return next(body + d for d in string.digits if luhn(body + d))


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


cards = st.builds(
    lambda prefix, rest: _luhn_complete(prefix + rest[: 15 - len(prefix)]),
    st.sampled_from(
        ["4", "51", "55", "2221", "6011", "3528"]
    ),  # Visa, MC, MC 2-series, Discover, JCB
    st.text("0123456789", min_size=15, max_size=15),
)
ibans = st.text("0123456789", min_size=18, max_size=18).map(lambda b: _iban("DE", b))
emails = st.builds(
    lambda user, dom: f"{user}@{dom}.com",
    st.text(string.ascii_lowercase, min_size=4, max_size=10),
    st.text(string.ascii_lowercase, min_size=4, max_size=10),
)
# London numbers: 020 then 8 digits starting 3, 7 or 8.
phones = st.builds(
    lambda a, d: f"+44 20 {a}{d[:3]} {d[3:]}",
    st.sampled_from("378"),
    st.text("0123456789", min_size=7, max_size=7),
)

values = st.one_of(
    cards.map(lambda v: (f"my card number is {v}", v)),
    ibans.map(lambda v: (f"please wire to IBAN {v}", v)),
    emails.map(lambda v: (f"write to {v} today", v)),
    phones.map(lambda v: (f"call me on {v}", v)),
)
filler = st.sampled_from(
    [
        "Thanks for the quick reply.",
        "We can ship 500 units by Friday.",
        "Unit price is USD 12.50, MOQ 1000 pcs.",
        "Order 2026-88412 is confirmed.",
        "ok",
        "The samples arrived damaged, can you check?",
    ]
)


def _disguise(text: str, value: str, how: str) -> str:
    if how == "fullwidth":
        new = "".join(chr(ord(c) - ord("0") + 0xFF10) if c.isdigit() else c for c in value)
    elif how == "zerowidth":
        new = value[: len(value) // 2] + "\u200b" + value[len(value) // 2 :]
    elif how == "nbsp":
        new = value.replace(" ", "\u00a0")
    else:
        new = value
    return text.replace(value, new)


messages = st.builds(
    lambda before, pair, after, how: (
        f"{before} {_disguise(pair[0], pair[1], how)} {after}",
        pair[1],
    ),
    filler,
    values,
    filler,
    st.sampled_from(["plain", "fullwidth", "zerowidth", "nbsp"]),
)

# Derandomised so every CI run sees the same examples; CW_PROPERTY_EXAMPLES=N explores more.
_SLOW = settings(
    max_examples=int(os.environ.get("CW_PROPERTY_EXAMPLES", "60")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _alnum(s: str) -> str:
    return "".join(c for c in s if c.isalnum())


@_SLOW
@given(messages)
def test_every_span_lies_in_the_original_text(redactor: Redactor, sample: tuple[str, str]) -> None:
    """Spans are sorted, disjoint and inside the original (un-normalised) text."""
    text, _ = sample
    (out,) = redactor.redact_batch([Message("m", text)])
    prev_end = 0
    for s in out.spans:
        assert prev_end <= s.start < s.end <= len(text)
        prev_end = s.end


@_SLOW
@given(messages)
def test_no_detected_value_survives_in_the_redacted_copy(
    redactor: Redactor, sample: tuple[str, str]
) -> None:
    """The planted value is detected, and neither it nor any detected value is left readable."""
    text, value = sample
    (out,) = redactor.redact_batch([Message("m", text)])
    folded = _alnum(out.redacted.translate({0xFF10 + i: str(i) for i in range(10)}))
    assert _alnum(value) not in folded, "planted value survived redaction"
    for s in out.spans:
        detected = _alnum(text[s.start : s.end])
        if len(detected) >= 6:
            assert detected not in _alnum(out.redacted), f"a detected {s.type} survived"


@_SLOW
@given(messages)
def test_redacting_twice_changes_nothing(redactor: Redactor, sample: tuple[str, str]) -> None:
    """Redacting an already redacted message leaves it exactly as it was."""
    text, _ = sample
    (once,) = redactor.redact_batch([Message("m", text)])
    (twice,) = redactor.redact_batch([Message("m", once.redacted)])
    assert twice.redacted == once.redacted


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_arbitrary_unicode_never_breaks_offsets(pattern_redactor: Redactor, text: str) -> None:
    """Any Unicode text (surrogates aside) gives spans inside the original text."""
    text = text.encode("utf-8", "ignore").decode("utf-8")
    (out,) = pattern_redactor.redact_batch([Message("m", text)])
    for s in out.spans:
        assert 0 <= s.start < s.end <= len(text)

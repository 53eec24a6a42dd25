"""The value every detector returns and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass

# Entity type names are a public contract (see DESIGN.md): never rename one.
ENTITY_TYPES: frozenset[str] = frozenset(
    {
        "CREDIT_CARD",
        "CARD_CVV",
        "CARD_EXPIRY",
        "IBAN",
        "BANK_ACCOUNT",
        "SWIFT_BIC",
        "US_SSN",
        "CN_RESIDENT_ID",
        "BR_CPF",
        "BR_CNPJ",
        "UK_NINO",
        "PASSPORT",
        "DRIVER_LICENSE",
        "TAX_ID",
        "DATE_OF_BIRTH",
        "EMAIL",
        "PHONE",
        "PERSON",
        "ADDRESS",
        "MESSENGER_HANDLE",
    }
)


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open character range ``[start, end)`` holding one sensitive value.

    ``score`` orders competing spans during resolution (checksum-validated patterns
    score highest, context-free NER lowest); ``detector`` names who found it, for
    diagnostics only.
    """

    start: int
    end: int
    type: str
    score: float = 1.0
    detector: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError("span must satisfy 0 <= start < end")

    def __len__(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

"""The values a compiled policy is made of. All frozen: a policy never changes after load."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Purposes, roles and actions named by DESIGN.md; policy files may add more purposes
# and roles, but these names are a public contract.
BUILTIN_PURPOSES = ("dispute_handling", "risk_control", "regulatory_request")
BUILTIN_ROLES = (
    "ingest",
    "dispute_agent",
    "risk_analyst",
    "compliance_officer",
    "auditor",
    "admin",
)


class Condition(StrEnum):
    """Under what case a grant lets a role read for a purpose."""

    NONE = "none"  # no case needed (a supplied case must still be live and match)
    ASSIGNED_CASE = "assigned_case"  # a live case of this purpose, assigned to the reader
    APPROVED_CASE = "approved_case"  # a live case of this purpose, approved by four eyes


class CaseState(StrEnum):
    """The state of the case a read is made under."""

    NONE = "none"  # no case given
    PENDING = "pending"  # filed, not yet approved
    APPROVED = "approved"  # approved (four eyes) and not expired
    EXPIRED = "expired"  # past its expiry
    CLOSED = "closed"  # closed by a compliance officer or admin


class ViewKind(StrEnum):
    """How one entity type is shown to a reader."""

    PLACEHOLDER = "placeholder"  # [IBAN_1]
    LAST4 = "last4"  # ****1234
    KEYED_HASH = "keyed_hash"  # <IBAN:3f9c2a1b7d0e>, same value -> same tag everywhere
    PLAINTEXT = "plaintext"  # the value itself; only under an approved case


class Action(StrEnum):
    """What a role may do besides reading messages."""

    INGEST = "messages.ingest"
    CASE_CREATE = "cases.create"
    CASE_APPROVE = "cases.approve"
    CASE_CLOSE = "cases.close"
    CASE_ASSIGN = "cases.assign"
    CASE_EXPORT = "cases.export"
    HOLD_MANAGE = "holds.manage"
    ERASURE_CREATE = "erasures.create"
    RETENTION_RUN = "retention.run"
    AUDIT_READ = "audit.read"
    DISCLOSURES_READ = "subjects.disclosures"
    POLICY_EXPLAIN = "policy.explain"


@dataclass(frozen=True, slots=True)
class Decision:
    """One policy decision; the audit record is built from it."""

    allow: bool
    reason: str
    rule: str


@dataclass(frozen=True, slots=True)
class CaseContext:
    """What a decision needs to know about the case a read is made under."""

    state: CaseState = CaseState.NONE
    purpose: str | None = None
    assigned_to_reader: bool = False


NO_CASE = CaseContext()


@dataclass(frozen=True, slots=True)
class Purpose:
    name: str
    description: str
    retention_days: int


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str
    actions: frozenset[Action]


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    role: str
    purpose: str
    condition: Condition
    source: str  # "file:line", for explain


@dataclass(frozen=True, slots=True)
class View:
    """Per-purpose rendering: entity type -> view kind, with a default for the rest."""

    purpose: str
    default: ViewKind
    by_type: tuple[tuple[str, ViewKind], ...]

    def kind(self, entity_type: str) -> ViewKind:
        for t, k in self.by_type:
            if t == entity_type:
                return k
        return self.default

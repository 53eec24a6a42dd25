"""The default decision table: every built-in role x purpose x case state, default deny."""

from __future__ import annotations

import itertools

import pytest

from policies.engine import DEFAULT_DENY
from policies.loader import Policy, load_default_policy
from policies.model import BUILTIN_PURPOSES, BUILTIN_ROLES, Action, CaseContext, CaseState

STATES = (CaseState.NONE, CaseState.PENDING, CaseState.APPROVED, CaseState.EXPIRED)

# The only (role, purpose, case state) triples the default policy allows. A case in a
# row is of the read's purpose and assigned to the reader; every other triple is denied.
ALLOWED = {
    ("dispute_agent", "dispute_handling", CaseState.APPROVED),  # only inside their assigned case
    ("risk_analyst", "risk_control", CaseState.NONE),  # risk monitoring needs no case
    ("risk_analyst", "risk_control", CaseState.APPROVED),  # a live risk case does not hinder
    ("compliance_officer", "regulatory_request", CaseState.APPROVED),  # four-eyes approved case
}

TRIPLES = list(itertools.product(BUILTIN_ROLES, BUILTIN_PURPOSES, STATES))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_default_policy()


def case(state: CaseState, purpose: str, assigned: bool = True) -> CaseContext:
    return CaseContext(state, None if state is CaseState.NONE else purpose, assigned)


@pytest.mark.parametrize(
    ("role", "purpose", "state"), TRIPLES, ids=[f"{r}-{p}-{s.value}" for r, p, s in TRIPLES]
)
def test_read_table(policy: Policy, role: str, purpose: str, state: CaseState) -> None:
    """Each built-in role, purpose and case state gets exactly the table's answer."""
    d = policy.table.decide_read(role, purpose, case(state, purpose))
    assert d.allow == ((role, purpose, state) in ALLOWED), d.reason
    assert d.reason and d.rule


def test_table_covers_every_grant(policy: Policy) -> None:
    """Every grant of the default policy is in the expected table: nothing allowed is unlisted."""
    assert {(g.role, g.purpose) for g in policy.grants} == {(r, p) for r, p, _ in ALLOWED}


def test_unassigned_case_is_denied_to_dispute_agent(policy: Policy) -> None:
    """A dispute agent cannot read under an approved case assigned to someone else."""
    d = policy.table.decide_read(
        "dispute_agent", "dispute_handling", case(CaseState.APPROVED, "dispute_handling", False)
    )
    assert not d.allow and "assigned" in d.reason


def test_case_of_another_purpose_is_denied(policy: Policy) -> None:
    """An approved regulatory case does not open risk-control reads."""
    d = policy.table.decide_read(
        "risk_analyst", "risk_control", CaseContext(CaseState.APPROVED, "regulatory_request", True)
    )
    assert not d.allow and "another purpose" in d.reason


def test_closed_case_is_denied(policy: Policy) -> None:
    """A closed case reads nothing."""
    d = policy.table.decide_read(
        "compliance_officer", "regulatory_request", case(CaseState.CLOSED, "regulatory_request")
    )
    assert not d.allow


def test_unknown_role_and_purpose_are_denied_by_default(policy: Policy) -> None:
    """Names the policy does not declare are denied with the default-deny rule."""
    assert policy.table.decide_read("intern", "risk_control").rule == DEFAULT_DENY
    assert not policy.table.decide_read("risk_analyst", "marketing").allow


def test_denial_names_the_grant_that_was_not_satisfied(policy: Policy) -> None:
    """A denial under an existing grant names that grant as its rule."""
    d = policy.table.decide_read("compliance_officer", "regulatory_request")
    assert not d.allow and d.rule == "grants.compliance_officer.regulatory_request"


ACTIONS = [
    ("ingest", Action.INGEST, True),  # the messaging service sends copies
    ("risk_analyst", Action.INGEST, False),  # nobody else ingests
    ("compliance_officer", Action.CASE_CREATE, True),  # officers file cases
    ("admin", Action.CASE_CREATE, False),  # admins approve, they do not file
    ("dispute_agent", Action.CASE_APPROVE, False),  # agents cannot approve
    ("admin", Action.ERASURE_CREATE, True),  # erasure is an admin task
    ("compliance_officer", Action.ERASURE_CREATE, False),  # not an officer's
    ("auditor", Action.AUDIT_READ, True),  # auditors read the trail
    ("risk_analyst", Action.AUDIT_READ, False),  # analysts do not
    ("admin", Action.RETENTION_RUN, True),  # retention is an admin task
    ("compliance_officer", Action.CASE_EXPORT, True),  # officers export evidence bundles
    ("admin", Action.CASE_EXPORT, False),  # admins approve cases, they do not export them
    ("risk_analyst", Action.CASE_EXPORT, False),  # nor do analysts
]


@pytest.mark.parametrize(
    ("role", "action", "allow"), ACTIONS, ids=[f"{r}-{a.value}" for r, a, _ in ACTIONS]
)
def test_action_table(policy: Policy, role: str, action: Action, allow: bool) -> None:
    """Each role may do exactly the actions its policy entry lists."""
    assert policy.table.decide_action(role, action).allow is allow


def test_self_approval_is_refused(policy: Policy) -> None:
    """Four eyes: the officer who filed a case can never approve it."""
    d = policy.table.decide_approval("compliance_officer", "alice", "alice")
    assert not d.allow and d.rule == "four-eyes"


def test_second_officer_or_admin_may_approve(policy: Policy) -> None:
    """A different compliance officer or an admin may approve."""
    assert policy.table.decide_approval("compliance_officer", "bob", "alice").allow
    assert policy.table.decide_approval("admin", "carol", "alice").allow


def test_role_without_approve_action_cannot_approve(policy: Policy) -> None:
    """An auditor cannot approve a case, even someone else's."""
    assert not policy.table.decide_approval("auditor", "dave", "alice").allow


def test_action_given_as_string_is_decided(policy: Policy) -> None:
    """The audit endpoints pass the action as a string; it is decided like the enum."""
    assert policy.table.decide_action("auditor", "audit.read").allow
    assert policy.table.decide_action("auditor", "audit.write").rule == DEFAULT_DENY

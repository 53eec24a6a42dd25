"""The decision table a policy compiles into, and the decisions it answers.

Default deny: a read is allowed only by a grant for exactly that (role, purpose) whose
condition the case satisfies; an action only when the role lists it. Every answer is a
:class:`Decision` value naming the rule that decided, so the audit record can be built
from it; nothing here raises for a denial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from policies.model import NO_CASE, Action, CaseContext, CaseState, Condition, Decision, Grant

DEFAULT_DENY = "default-deny"


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """(role, purpose) -> grant, and role -> actions; immutable once compiled."""

    grants: Mapping[tuple[str, str], Grant]
    actions: Mapping[str, frozenset[Action]]
    purposes: frozenset[str]

    @classmethod
    def compile(
        cls,
        grants: tuple[Grant, ...],
        actions: Mapping[str, frozenset[Action]],
        purposes: frozenset[str],
    ) -> DecisionTable:
        return cls(
            MappingProxyType({(g.role, g.purpose): g for g in grants}),
            MappingProxyType(dict(actions)),
            purposes,
        )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.actions)

    def decide_read(self, role: str, purpose: str, case: CaseContext = NO_CASE) -> Decision:
        """May ``role`` read messages for ``purpose`` under ``case``?"""
        if role not in self.actions:
            return Decision(False, "unknown role", DEFAULT_DENY)
        if purpose not in self.purposes:
            return Decision(False, "unknown purpose", DEFAULT_DENY)
        grant = self.grants.get((role, purpose))
        if grant is None:
            return Decision(
                False, f"no grant lets role {role} read for purpose {purpose}", DEFAULT_DENY
            )
        if case.state is CaseState.PENDING:
            return Decision(False, "the case is not approved yet", grant.id)
        if case.state is CaseState.EXPIRED:
            return Decision(False, "the case has expired", grant.id)
        if case.state is CaseState.CLOSED:
            return Decision(False, "the case is closed", grant.id)
        if case.state is CaseState.APPROVED and case.purpose != purpose:
            return Decision(False, "the case was opened for another purpose", grant.id)
        if grant.condition is Condition.NONE:
            return Decision(True, f"role {role} may read for {purpose}", grant.id)
        if case.state is CaseState.NONE:
            return Decision(
                False, f"reading for {purpose} needs a case ({grant.condition.value})", grant.id
            )
        if grant.condition is Condition.ASSIGNED_CASE and not case.assigned_to_reader:
            return Decision(False, "the case is not assigned to this reader", grant.id)
        return Decision(True, f"role {role} may read for {purpose} under this case", grant.id)

    def decide_action(self, role: str, action: Action | str) -> Decision:
        """May ``role`` perform ``action`` (an :class:`Action` or its string value)?"""
        if role not in self.actions:
            return Decision(False, "unknown role", DEFAULT_DENY)
        try:
            action = Action(action)
        except ValueError:
            return Decision(False, "unknown action", DEFAULT_DENY)
        if action in self.actions[role]:
            return Decision(True, f"role {role} may {action.value}", f"roles.{role}.actions")
        return Decision(False, f"role {role} may not {action.value}", DEFAULT_DENY)

    def decide_approval(self, role: str, approver: str, requester: str) -> Decision:
        """Four eyes: may ``approver`` (with ``role``) approve a case filed by ``requester``?"""
        d = self.decide_action(role, Action.CASE_APPROVE)
        if not d.allow:
            return d
        if approver == requester:
            return Decision(False, "the requester of a case can never approve it", "four-eyes")
        return Decision(True, "approved by a second, different officer", "four-eyes")

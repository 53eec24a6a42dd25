"""``chatwarden policy check FILE...`` and ``chatwarden policy explain --role R --purpose P``.

``check`` loads the files together as one policy (a grant may name a role declared in
another file) and exits 0 when it compiles, 1 with ``FILE:LINE: problem; fix`` when not.
``explain`` prints what a role may see for a purpose, under each case state, and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from policies.errors import PolicyError
from policies.loader import Policy, default_policy_files, load_policy
from policies.model import CaseContext, CaseState, ViewKind
from proxy.errors import UsageError
from redact.span import ENTITY_TYPES

# The case situations explain walks through, in the order it prints them.
_SITUATIONS: tuple[tuple[str, CaseState, bool], ...] = (
    ("no case", CaseState.NONE, False),
    ("pending case", CaseState.PENDING, True),
    ("approved case, assigned to the reader", CaseState.APPROVED, True),
    ("approved case, not assigned to the reader", CaseState.APPROVED, False),
    ("expired case", CaseState.EXPIRED, True),
    ("closed case", CaseState.CLOSED, True),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="check policy files, explain what a role may see")
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    c = psub.add_parser("check", help="validate policy files (loaded together as one policy)")
    c.add_argument("files", nargs="+", type=Path, metavar="FILE")
    c.set_defaults(func=run_check)
    e = psub.add_parser("explain", help="what a role may see for a purpose, and why")
    e.add_argument("--role", required=True)
    e.add_argument("--purpose", required=True)
    e.add_argument(
        "--policy",
        nargs="+",
        type=Path,
        default=None,
        metavar="FILE",
        help="policy files (default: the shipped ones)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=run_explain)


def run_check(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.files)
    except PolicyError as exc:
        print(f"chatwarden: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"ok: {len(policy.files)} file(s), {len(policy.purposes)} purposes, "
        f"{len(policy.roles)} roles, "
        f"{len(policy.grants)} grants, {len(policy.tagger.rules)} tagging rules"
    )
    return 0


def explain(policy: Policy, role: str, purpose: str) -> dict[str, Any]:
    """What ``role`` may see for ``purpose``, as a JSON-ready dict."""
    if role not in policy.roles:
        raise UsageError(f"unknown role; use one of: {', '.join(sorted(policy.roles))}")
    if purpose not in policy.purposes:
        raise UsageError(f"unknown purpose; use one of: {', '.join(sorted(policy.purposes))}")
    grant = policy.table.grants.get((role, purpose))
    decisions = []
    for label, state, assigned in _SITUATIONS:
        d = policy.table.decide_read(
            role,
            purpose,
            CaseContext(state, purpose if state is not CaseState.NONE else None, assigned),
        )
        decisions.append({"case": label, "allow": d.allow, "reason": d.reason, "rule": d.rule})
    view = policy.view(purpose)
    readable = any(d["allow"] for d in decisions)
    return {
        "role": role,
        "purpose": purpose,
        "grant": None
        if grant is None
        else {"id": grant.id, "condition": grant.condition.value, "defined_at": grant.source},
        "decisions": decisions,
        "view": {t: view.kind(t).value for t in sorted(ENTITY_TYPES)} if readable else {},
        "retention_days": policy.purposes[purpose].retention_days,
        "actions": sorted(a.value for a in policy.roles[role].actions),
        "tagging_rules": [r.id for r in policy.tagger.rules if r.purpose == purpose],
    }


def run_explain(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy or default_policy_files())
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    info = explain(policy, args.role, args.purpose)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"role {info['role']}, purpose {info['purpose']}")
    g = info["grant"]
    if g is None:
        print("grant: none -- default deny: this role never reads messages for this purpose")
    else:
        print(f"grant: {g['id']} (condition {g['condition']}), defined at {g['defined_at']}")
    for d in info["decisions"]:
        verdict = "allow" if d["allow"] else "deny "
        print(f"  {d['case']:<44} {verdict}  {d['reason']} [{d['rule']}]")
    if info["view"]:
        print("view (how each entity type is shown):")
        by_kind: dict[str, list[str]] = {}
        for t, k in info["view"].items():
            by_kind.setdefault(k, []).append(t)
        for k in (v.value for v in ViewKind):
            if k in by_kind:
                print(f"  {k:<12} {', '.join(by_kind[k])}")
    print(f"retention: {info['retention_days']} days")
    print(f"other actions: {', '.join(info['actions']) or 'none'}")
    print(f"tagging rules of this purpose: {', '.join(info['tagging_rules']) or 'none'}")
    return 0

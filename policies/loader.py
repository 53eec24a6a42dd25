"""Load policy files, validate them against the schema, and compile one :class:`Policy`.

A policy is the union of one or more TOML files (the defaults split the access rules
from the tagging rules). Each file::

    version = 1
    [purposes.NAME]      description, retention_days
    [retention]          untagged_days  (messages that serve no purpose)
    [roles.NAME]         description, actions = ["cases.create", ...]
    [[grants]]           role, purpose, condition = "none" | "assigned_case" | "approved_case", id?
    [views.PURPOSE]      default = KIND, ENTITY_TYPE = KIND
                         (KIND: placeholder | last4 | keyed_hash | plaintext)
    [[tagging.rules]]    id, purpose, description?, any, all, patterns, entities, metadata, unless

Every error names the file, the line and the fix (:class:`PolicyError`); nothing is
compiled from a file with an error, so a service never runs on a partial policy.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from policies.engine import DecisionTable
from policies.errors import PolicyError
from policies.locate import Path as KeyPath
from policies.locate import key_lines, locate
from policies.model import Action, Condition, Grant, Purpose, Role, View, ViewKind
from policies.prefilter import Filtered
from policies.tagging import PurposeTagger, TagRule, keywords_regex
from redact.span import ENTITY_TYPES

DEFAULT_DIR = Path(__file__).resolve().parent
MAX_FILE_BYTES = 1 << 20
MAX_PATTERN_CHARS = 1000
MAX_KEYWORDS = 2000
MAX_RETENTION_DAYS = 36_500
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RULE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
# A group ending in a repeat, itself repeated without bound -- (a+)+, (\w*)*, (x+){2,} --
# backtracks exponentially; Python's re has no time limit, so such patterns are refused.
# A bounded outer repeat such as (?:\w+\s+){0,3} stays cheap and is allowed.
_NESTED_REPEAT = re.compile(r"[+*}]\)(?:[+*]|\{\d*,\})")

_TOP_KEYS = {"version", "purposes", "retention", "roles", "grants", "views", "tagging"}
_PURPOSE_KEYS = {"description", "retention_days"}
_ROLE_KEYS = {"description", "actions"}
_GRANT_KEYS = {"id", "role", "purpose", "condition"}
_RULE_KEYS = {
    "id",
    "purpose",
    "description",
    "any",
    "all",
    "patterns",
    "entities",
    "metadata",
    "unless",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy. Immutable: compiled once, shared by every request."""

    files: tuple[str, ...]
    purposes: Mapping[str, Purpose]
    roles: Mapping[str, Role]
    grants: tuple[Grant, ...]
    views: Mapping[str, View]
    untagged_retention_days: int
    tagger: PurposeTagger
    table: DecisionTable

    def view(self, purpose: str) -> View:
        """The view of ``purpose``; placeholders for every type when the policy names none."""
        return self.views.get(purpose) or View(purpose, ViewKind.PLACEHOLDER, ())

    def retention_days(self, purposes: Iterable[str]) -> int:
        """How long a message serving ``purposes`` is kept: the longest purpose wins."""
        days = [self.purposes[p].retention_days for p in purposes if p in self.purposes]
        return max(days) if days else self.untagged_retention_days


class _File:
    """One parsed file and the means to blame a key path on a line of it."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._lines: Mapping[KeyPath, int] | None = None

    def line(self, path: KeyPath) -> int | None:
        if self._lines is None:
            self._lines = key_lines(self.text)
        return locate(self._lines, path) if path else None

    def error(self, path: KeyPath, problem: str, fix: str) -> PolicyError:
        return PolicyError(self.name, self.line(path) or 1, problem, fix)


def _dotted(path: KeyPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _read(path: Path) -> _File:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            name,
            None,
            f"cannot read the file ({exc.strerror})",
            "check the path and its permissions",
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyError(
            name,
            None,
            f"file is larger than {MAX_FILE_BYTES} bytes",
            "split it or remove unused rules",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(name, line, "not valid UTF-8", "save the file as UTF-8") from None
    return _File(name, text)


def _parse(f: _File) -> dict[str, Any]:
    try:
        return tomllib.loads(f.text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else f.text.count("\n") + 1
        kind = re.sub(r"\s*\(at [^)]*\)\s*$", "", msg)
        raise PolicyError(
            f.name, line, f"TOML syntax error: {kind}", "fix the TOML syntax at this line"
        ) from None
    except RecursionError:
        raise PolicyError(
            f.name, 1, "TOML nesting too deep", "flatten the nested arrays or tables"
        ) from None


def _table(f: _File, v: object, path: KeyPath) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise f.error(path, f"{_dotted(path)} must be a table", f"write it as [{_dotted(path)}]")
    return v


def _keys(f: _File, t: Mapping[str, Any], known: set[str], path: KeyPath) -> None:
    for k in t:
        if k not in known:
            raise f.error(
                (*path, k),
                f"unknown key {k!r} in {_dotted(path) or 'the top level'}",
                f"use one of: {', '.join(sorted(known))}",
            )


def _str(
    f: _File,
    t: Mapping[str, Any],
    key: str,
    path: KeyPath,
    *,
    required: bool = True,
    default: str = "",
) -> str:
    if key not in t:
        if required:
            raise f.error(path, f"{_dotted(path)} has no {key!r}", f'add {key} = "..."')
        return default
    v = t[key]
    if not isinstance(v, str):
        raise f.error((*path, key), f"{_dotted((*path, key))} must be a string", "quote the value")
    return v


def _int(f: _File, t: Mapping[str, Any], key: str, path: KeyPath, lo: int, hi: int) -> int:
    if key not in t:
        raise f.error(
            path,
            f"{_dotted(path)} has no {key!r}",
            f"add {key} = <a whole number from {lo} to {hi}>",
        )
    v = t[key]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise f.error(
            (*path, key),
            f"{_dotted((*path, key))} must be a whole number from {lo} to {hi}",
            "write a number without quotes",
        )
    return v


def _strs(f: _File, t: Mapping[str, Any], key: str, path: KeyPath) -> list[str]:
    v = t.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise f.error(
            (*path, key),
            f"{_dotted((*path, key))} must be a list of strings",
            f'write {key} = ["...", "..."]',
        )
    return v


def _name(f: _File, name: str, path: KeyPath, what: str) -> str:
    if not _NAME.match(name):
        raise f.error(
            path,
            f"{what} name {name!r} is not a valid name",
            "use lower-case letters, digits and '_', starting with a letter",
        )
    return name


@dataclass
class _Acc:
    """Everything collected from the files, with where each item was defined."""

    purposes: dict[str, tuple[Purpose, str]]
    roles: dict[str, tuple[Role, str]]
    grants: list[tuple[Grant, _File, KeyPath]]
    views: dict[str, tuple[View, _File, KeyPath]]
    rules: list[tuple[TagRule, _File, KeyPath]]
    untagged: tuple[int, str] | None


def _where(f: _File, path: KeyPath) -> str:
    return f"{f.name}:{f.line(path) or 1}"


def _collect(f: _File, doc: dict[str, Any], acc: _Acc) -> None:
    _keys(f, doc, _TOP_KEYS, ())
    if doc.get("version") != 1:
        raise f.error(
            ("version",),
            "missing or unsupported 'version'",
            "put version = 1 at the top of the file",
        )
    for name, t in _table(f, doc.get("purposes", {}), ("purposes",)).items():
        path: KeyPath = ("purposes", name)
        _name(f, name, path, "purpose")
        t = _table(f, t, path)
        _keys(f, t, _PURPOSE_KEYS, path)
        if name in acc.purposes:
            raise f.error(
                path,
                f"purpose {name!r} is already declared at {acc.purposes[name][1]}",
                "declare each purpose in one file only",
            )
        p = Purpose(
            name,
            _str(f, t, "description", path, required=False),
            _int(f, t, "retention_days", path, 1, MAX_RETENTION_DAYS),
        )
        acc.purposes[name] = (p, _where(f, path))
    if "retention" in doc:
        t = _table(f, doc["retention"], ("retention",))
        _keys(f, t, {"untagged_days"}, ("retention",))
        if acc.untagged is not None:
            raise f.error(
                ("retention",),
                f"[retention] is already set at {acc.untagged[1]}",
                "set it in one file only",
            )
        acc.untagged = (
            _int(f, t, "untagged_days", ("retention",), 1, MAX_RETENTION_DAYS),
            _where(f, ("retention",)),
        )
    known_actions = {a.value: a for a in Action}
    for name, t in _table(f, doc.get("roles", {}), ("roles",)).items():
        path = ("roles", name)
        _name(f, name, path, "role")
        t = _table(f, t, path)
        _keys(f, t, _ROLE_KEYS, path)
        if name in acc.roles:
            raise f.error(
                path,
                f"role {name!r} is already declared at {acc.roles[name][1]}",
                "declare each role in one file only",
            )
        actions = set()
        for i, a in enumerate(_strs(f, t, "actions", path)):
            if a not in known_actions:
                raise f.error(
                    (*path, "actions", i),
                    f"unknown action {a!r}",
                    f"use one of: {', '.join(sorted(known_actions))}",
                )
            actions.add(known_actions[a])
        acc.roles[name] = (
            Role(name, _str(f, t, "description", path, required=False), frozenset(actions)),
            _where(f, path),
        )
    grants = doc.get("grants", [])
    if not isinstance(grants, list):
        raise f.error(
            ("grants",), "grants must be an array of tables", "write each grant as [[grants]]"
        )
    for i, t in enumerate(grants):
        path = ("grants", i)
        t = _table(f, t, path)
        _keys(f, t, _GRANT_KEYS, path)
        role, purpose = _str(f, t, "role", path), _str(f, t, "purpose", path)
        cond = _str(f, t, "condition", path)
        try:
            condition = Condition(cond)
        except ValueError:
            raise f.error(
                (*path, "condition"),
                f"unknown condition {cond!r}",
                f"use one of: {', '.join(c.value for c in Condition)}",
            ) from None
        gid = _str(f, t, "id", path, required=False, default=f"grants.{role}.{purpose}")
        acc.grants.append((Grant(gid, role, purpose, condition, _where(f, path)), f, path))
    kinds = {k.value: k for k in ViewKind}
    for purpose, t in _table(f, doc.get("views", {}), ("views",)).items():
        path = ("views", purpose)
        t = _table(f, t, path)
        if purpose in acc.views:
            first = acc.views[purpose]
            raise f.error(
                path,
                f"views for {purpose!r} are already set at {_where(first[1], first[2])}",
                "set each purpose's views in one file only",
            )
        by_type: list[tuple[str, ViewKind]] = []
        default = ViewKind.PLACEHOLDER
        for etype, kind in t.items():
            kpath = (*path, etype)
            if not isinstance(kind, str) or kind not in kinds:
                raise f.error(
                    kpath,
                    f"view of {etype!r} must be one of {', '.join(kinds)}",
                    "write one of those names in quotes",
                )
            if etype == "default":
                default = kinds[kind]
            elif etype not in ENTITY_TYPES:
                raise f.error(
                    kpath,
                    f"unknown entity type {etype!r}",
                    f"use one of: {', '.join(sorted(ENTITY_TYPES))}",
                )
            else:
                by_type.append((etype, kinds[kind]))
        acc.views[purpose] = (View(purpose, default, tuple(by_type)), f, path)
    tagging = _table(f, doc.get("tagging", {}), ("tagging",))
    _keys(f, tagging, {"rules"}, ("tagging",))
    rules = tagging.get("rules", [])
    if not isinstance(rules, list):
        raise f.error(
            ("tagging", "rules"),
            "tagging.rules must be an array of tables",
            "write each rule as [[tagging.rules]]",
        )
    for i, t in enumerate(rules):
        path = ("tagging", "rules", i)
        acc.rules.append((_rule(f, _table(f, t, path), path), f, path))


def _terms(f: _File, t: Mapping[str, Any], key: str, path: KeyPath) -> Filtered | None:
    words = _strs(f, t, key, path)
    if not words:
        return None
    if len(words) > MAX_KEYWORDS:
        raise f.error((*path, key), f"more than {MAX_KEYWORDS} keywords", "split the rule")
    for j, w in enumerate(words):
        try:
            keywords_regex([w])
        except ValueError as exc:
            raise f.error(
                (*path, key, j), f"bad keyword in {key}: {exc}", "remove it or give it text"
            ) from None
    return Filtered.of(keywords_regex(words))


def _rule(f: _File, t: dict[str, Any], path: KeyPath) -> TagRule:
    _keys(f, t, _RULE_KEYS, path)
    rid = _str(f, t, "id", path)
    if not _RULE_ID.match(rid):
        raise f.error(
            (*path, "id"),
            "rule id must be 1-128 letters, digits, '.', '_' or '-'",
            "rename the rule",
        )
    purpose = _str(f, t, "purpose", path)
    _str(f, t, "description", path, required=False)
    groups: list[Filtered] = []
    anyg = _terms(f, t, "any", path)
    if anyg is not None:
        groups.append(anyg)
    allv = t.get("all", [])
    if not isinstance(allv, list) or not all(isinstance(g, list) for g in allv):
        raise f.error(
            (*path, "all"),
            "'all' must be a list of keyword lists",
            'write all = [["a", "b"], ["c"]]',
        )
    for j, g in enumerate(allv):
        if not g or not all(isinstance(w, str) for w in g):
            raise f.error(
                (*path, "all", j),
                "each group in 'all' must be a non-empty list of strings",
                "fill or remove the group",
            )
        g_re = _terms(f, {"all": g}, "all", path)
        assert g_re is not None
        groups.append(g_re)
    patterns: list[Filtered] = []
    for j, p in enumerate(_strs(f, t, "patterns", path)):
        ppath = (*path, "patterns", j)
        if len(p) > MAX_PATTERN_CHARS:
            raise f.error(
                ppath,
                f"pattern longer than {MAX_PATTERN_CHARS} characters",
                "split it into several patterns",
            )
        if _NESTED_REPEAT.search(p):
            raise f.error(
                ppath,
                "pattern repeats a group that itself repeats (slow on long text)",
                "rewrite it without a nested repeat such as (a+)+",
            )
        try:
            regex = re.compile(p)
        except re.error as exc:
            raise f.error(
                ppath,
                f"invalid regular expression ({exc.msg})",
                "fix the pattern; write it in '''...''' to avoid escaping",
            ) from None
        patterns.append(Filtered.of(regex))
    entities = _strs(f, t, "entities", path)
    for j, e in enumerate(entities):
        if e not in ENTITY_TYPES:
            raise f.error(
                (*path, "entities", j),
                f"unknown entity type {e!r}",
                f"use one of: {', '.join(sorted(ENTITY_TYPES))}",
            )
    metadata = _strs(f, t, "metadata", path)
    if not (groups or patterns or entities or metadata):
        raise f.error(
            path,
            f"rule {rid!r} has no condition",
            "give it any, all, patterns, entities or metadata",
        )
    return TagRule(
        rid,
        purpose,
        tuple(groups),
        tuple(patterns),
        frozenset(entities),
        tuple(metadata),
        _terms(f, t, "unless", path),
    )


def _check(acc: _Acc) -> None:
    """Cross-file checks: every reference resolves, nothing is granted twice."""
    seen: dict[tuple[str, str], str] = {}
    for g, f, path in acc.grants:
        if g.role not in acc.roles:
            raise f.error(
                (*path, "role"),
                f"grant names undeclared role {g.role!r}",
                "declare it under [roles] or fix the name",
            )
        if g.purpose not in acc.purposes:
            raise f.error(
                (*path, "purpose"),
                f"grant names undeclared purpose {g.purpose!r}",
                "declare it under [purposes] or fix the name",
            )
        key = (g.role, g.purpose)
        if key in seen:
            raise f.error(
                path,
                f"role {g.role!r} is already granted {g.purpose!r} at {seen[key]}",
                "keep one grant per role and purpose",
            )
        seen[key] = g.source
    for purpose, (view, f, path) in acc.views.items():
        if purpose not in acc.purposes:
            raise f.error(
                path,
                f"views for undeclared purpose {purpose!r}",
                "declare it under [purposes] or fix the name",
            )
        plain = [t for t, k in view.by_type if k is ViewKind.PLAINTEXT] + (
            ["default"] if view.default is ViewKind.PLAINTEXT else []
        )
        loose = [
            g
            for g, _, _ in acc.grants
            if g.purpose == purpose and g.condition is not Condition.APPROVED_CASE
        ]
        if plain and loose:
            raise f.error(
                (*path, plain[0]),
                f"plaintext view for {purpose!r}, but role {loose[0].role!r} reads it"
                " without an approved case",
                "use keyed_hash, last4 or placeholder, or make every grant of this purpose"
                ' condition = "approved_case"',
            )
    ids: dict[str, str] = {}
    for r, f, path in acc.rules:
        if r.purpose not in acc.purposes:
            raise f.error(
                (*path, "purpose"),
                f"rule {r.id!r} tags undeclared purpose {r.purpose!r}",
                "declare it under [purposes] or fix the name",
            )
        if r.id in ids:
            raise f.error(
                (*path, "id"),
                f"rule id {r.id!r} is already used at {ids[r.id]}",
                "give every rule its own id",
            )
        ids[r.id] = _where(f, path)


def load_policy(paths: Sequence[Path | str]) -> Policy:
    """Load, validate and compile the policy made of ``paths``; raise :class:`PolicyError`."""
    if not paths:
        raise PolicyError(
            "(no files)", None, "no policy file given", "name at least one policy file"
        )
    acc = _Acc({}, {}, [], {}, [], None)
    files = [_read(Path(p)) for p in paths]
    for f in files:
        _collect(f, _parse(f), acc)
    _check(acc)
    untagged = (
        acc.untagged[0]
        if acc.untagged
        else min((p.retention_days for p, _ in acc.purposes.values()), default=30)
    )
    grants = tuple(g for g, _, _ in acc.grants)
    purposes = MappingProxyType({k: v for k, (v, _) in acc.purposes.items()})
    roles = MappingProxyType({k: v for k, (v, _) in acc.roles.items()})
    return Policy(
        files=tuple(f.name for f in files),
        purposes=purposes,
        roles=roles,
        grants=grants,
        views=MappingProxyType({k: v for k, (v, _, _) in acc.views.items()}),
        untagged_retention_days=untagged,
        tagger=PurposeTagger.compiled(r for r, _, _ in acc.rules),
        table=DecisionTable.compile(
            grants, {r.name: r.actions for r in roles.values()}, frozenset(purposes)
        ),
    )


def default_policy_files() -> tuple[Path, ...]:
    return tuple(sorted(DEFAULT_DIR.glob("*.toml")))


def load_default_policy() -> Policy:
    """The policy of the files shipped in ``policies/``."""
    return load_policy(default_policy_files())

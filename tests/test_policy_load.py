"""Policy files: the defaults compile; every kind of bad file is refused naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.errors import PolicyError
from policies.loader import MAX_FILE_BYTES, default_policy_files, load_default_policy, load_policy
from policies.model import BUILTIN_PURPOSES, BUILTIN_ROLES, ViewKind

BASE = """version = 1
[purposes.dispute_handling]
retention_days = 30
[purposes.regulatory_request]
retention_days = 30
[roles.dispute_agent]
actions = []
[roles.compliance_officer]
actions = ["cases.create"]
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def load_error(*paths: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy(paths)
    return info.value


def test_default_policy_declares_builtin_purposes_and_roles() -> None:
    """The shipped files declare every built-in purpose and role."""
    p = load_default_policy()
    assert set(BUILTIN_PURPOSES) <= set(p.purposes)
    assert set(BUILTIN_ROLES) <= set(p.roles)


def test_default_policy_is_split_over_files() -> None:
    """The defaults are more than one file, loaded together."""
    assert len(default_policy_files()) >= 2


def test_default_views_match_the_promises() -> None:
    """Dispute agents see card last four, risk analysts keyed hashes, regulators plaintext."""
    p = load_default_policy()
    assert p.view("dispute_handling").kind("CREDIT_CARD") is ViewKind.LAST4
    assert p.view("dispute_handling").kind("IBAN") is ViewKind.PLACEHOLDER
    assert p.view("risk_control").kind("IBAN") is ViewKind.KEYED_HASH
    assert p.view("risk_control").kind("PERSON") is ViewKind.PLACEHOLDER
    plain = {
        pur
        for pur in p.purposes
        if any(p.view(pur).kind(t) is ViewKind.PLAINTEXT for t in ("IBAN", "PERSON"))
    }
    assert plain == {"regulatory_request"}


def test_retention_longest_purpose_wins() -> None:
    """Two purposes keep a message for the longer term; untagged ones for the untagged term."""
    p = load_default_policy()
    both = p.retention_days(["dispute_handling", "risk_control"])
    assert both == max(
        p.purposes["dispute_handling"].retention_days, p.purposes["risk_control"].retention_days
    )
    assert p.retention_days([]) == p.untagged_retention_days


def test_policy_is_immutable() -> None:
    """A compiled policy's tables cannot be changed."""
    p = load_default_policy()
    with pytest.raises(TypeError):
        p.purposes["x"] = p.purposes["risk_control"]  # type: ignore[index]
    with pytest.raises(TypeError):
        p.table.grants[("admin", "risk_control")] = p.grants[0]  # type: ignore[index]


# (file text, expected line, a word the problem names) -- one kind of mistake per row.
BAD = [
    (BASE + '[[grants]]\nrole = "dispute_agent"\npurpose = \n', 12, "syntax"),  # TOML syntax error
    ("[purposes.x]\nretention_days = 3\n", 1, "version"),  # no version
    (BASE + "colour = 1\n", 10, "colour"),  # unknown top-level key
    (
        BASE + '[[grants]]\nrole = "dispute_agent"\npurpose = "dispute_handling"\n'
        'condition = "sometimes"\n',
        13,
        "condition",
    ),  # bad condition
    (
        BASE
        + '[[grants]]\npurpose = "dispute_handling"\nrole = "dispute_agnt"\ncondition = "none"\n',
        12,
        "dispute_agnt",
    ),  # undeclared role
    (
        BASE + '[[grants]]\nrole = "dispute_agent"\npurpose = "disputes"\ncondition = "none"\n',
        12,
        "disputes",
    ),  # undeclared purpose
    (
        BASE + '[views.dispute_handling]\ndefault = "placeholder"\nCREDIT_CRAD = "last4"\n',
        12,
        "CREDIT_CRAD",
    ),  # unknown entity type
    (BASE + '[views.dispute_handling]\nIBAN = "cleartext"\n', 11, "IBAN"),  # unknown view kind
    (
        BASE + '[[grants]]\nrole = "dispute_agent"\npurpose = "dispute_handling"\n'
        'condition = "assigned_case"\n'
        '[views.dispute_handling]\nIBAN = "plaintext"\n',
        15,
        "plaintext",
    ),  # plaintext without approval
    (
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\n'
        "patterns = [\n  'ok',\n  '(unclosed',\n]\n",
        15,
        "regular expression",
    ),  # bad regex in a multi-line array
    (
        BASE
        + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\npatterns = [\'(a+)+b\']\n',
        13,
        "repeats",
    ),  # catastrophic backtracking
    (
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\n',
        10,
        "no condition",
    ),  # rule that never says when
    (
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\nany = ["a"]\n'
        '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\nany = ["b"]\n',
        15,
        "already used",
    ),  # duplicate rule id
    (
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\nentities = ["CARD"]\n',
        13,
        "CARD",
    ),  # unknown entity in a rule
    (
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\nany = ["*"]\n',
        13,
        "keyword",
    ),  # empty keyword
    (
        BASE.replace("retention_days = 30\n[purposes.reg", 'retention_days = "30"\n[purposes.reg'),
        3,
        "retention_days",
    ),  # quoted number
    (
        BASE.replace('["cases.create"]', '["cases.create", "cases.delete"]'),
        9,
        "cases.delete",
    ),  # unknown action
    (BASE + "[roles.Admin]\nactions = []\n", 10, "Admin"),  # bad role name
    (BASE + "grants = 3\n", 10, "grants"),  # grants not an array of tables
    (
        BASE
        + '[[grants]]\nrole = "dispute_agent"\npurpose = "dispute_handling"\ncondition = "none"\n'
        '[[grants]]\nrole = "dispute_agent"\npurpose = "dispute_handling"\ncondition = "none"\n',
        14,
        "already granted",
    ),  # duplicate grant
]


@pytest.mark.parametrize(("text", "line", "word"), BAD, ids=[f"row{i}" for i in range(len(BAD))])
def test_bad_file_names_file_and_line(tmp_path: Path, text: str, line: int, word: str) -> None:
    """Each kind of mistake is refused with the file's name, the right line and the fix."""
    p = write(tmp_path, text)
    err = load_error(p)
    assert err.file == str(p)
    assert err.line == line, str(err)
    assert word in str(err)
    assert str(err).startswith(f"{p}:{line}: ")
    assert err.fix


def test_purpose_declared_twice_names_both_files(tmp_path: Path) -> None:
    """A purpose declared in two files is refused at the second, naming the first."""
    a = write(tmp_path, BASE, "a.toml")
    b = write(
        tmp_path, "version = 1\n\n[purposes.dispute_handling]\nretention_days = 5\n", "b.toml"
    )
    err = load_error(a, b)
    assert err.file == str(b) and err.line == 3
    assert f"{a}:2" in str(err)


def test_grant_may_name_role_from_another_file(tmp_path: Path) -> None:
    """Files form one policy: a grant may refer to a role declared in another file."""
    a = write(tmp_path, BASE, "a.toml")
    b = write(
        tmp_path,
        'version = 1\n[[grants]]\nrole = "dispute_agent"\npurpose = "dispute_handling"\n'
        'condition = "none"\n',
        "b.toml",
    )
    assert load_policy([a, b]).table.decide_read("dispute_agent", "dispute_handling").allow


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused with the line of the first bad byte."""
    p = tmp_path / "p.toml"
    p.write_bytes(b"version = 1\n# ok\n# \xff\xfe bad\n")
    err = load_error(p)
    assert err.line == 3 and "UTF-8" in str(err)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    """A file above the size limit is refused before it is parsed."""
    p = write(tmp_path, "version = 1\n" + "#" * MAX_FILE_BYTES)
    assert "larger" in str(load_error(p))


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    """A hostile, deeply nested array is refused, not a crash."""
    p = write(tmp_path, "version = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    err = load_error(p)
    assert err.file == str(p)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A path that does not exist is refused with its name."""
    err = load_error(tmp_path / "nope.toml")
    assert "cannot read" in str(err) and "nope.toml" in str(err)


def test_no_files_is_refused() -> None:
    """A policy of no files is refused rather than defaulting to allow-nothing silently."""
    with pytest.raises(PolicyError):
        load_policy([])


def test_error_never_quotes_keyword_or_pattern_text(tmp_path: Path) -> None:
    """A bad pattern is located by line, its text is not echoed into the message."""
    p = write(
        tmp_path,
        BASE + '[[tagging.rules]]\nid = "r1"\npurpose = "dispute_handling"\n'
        "patterns = ['secretword(']\n",
    )
    assert "secretword" not in str(load_error(p))

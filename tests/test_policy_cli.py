"""``chatwarden policy check`` and ``chatwarden policy explain``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.loader import default_policy_files
from proxy.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_check_accepts_the_default_files(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped policy files pass check with exit code 0."""
    code, out, _ = run(["policy", "check", *map(str, default_policy_files())], capsys)
    assert code == 0 and out.startswith("ok:")


def test_check_names_file_and_line_of_a_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed file fails check with exit 1 and FILE:LINE on stderr."""
    p = tmp_path / "bad.toml"
    p.write_text("version = 1\n[purposes.x]\nretention_days = -1\n", encoding="utf-8")
    code, out, err = run(["policy", "check", str(p)], capsys)
    assert code == 1 and not out
    assert f"{p}:3:" in err


def test_check_refuses_binary_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A hostile binary file is refused cleanly, never a traceback."""
    p = tmp_path / "junk.toml"
    p.write_bytes(bytes(range(256)) * 8)
    code, _, err = run(["policy", "check", str(p)], capsys)
    assert code == 1 and str(p) in err and "Traceback" not in err


def test_check_refuses_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory given as a file is refused with its name."""
    code, _, err = run(["policy", "check", str(tmp_path)], capsys)
    assert code == 1 and str(tmp_path) in err


def test_check_validates_files_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A grant that names an undeclared role fails even when the other files are fine."""
    extra = tmp_path / "extra.toml"
    extra.write_text(
        'version = 1\n[[grants]]\nrole = "intern"\npurpose = "risk_control"\ncondition = "none"\n',
        encoding="utf-8",
    )
    code, _, err = run(["policy", "check", *map(str, default_policy_files()), str(extra)], capsys)
    assert code == 1 and f"{extra}:3:" in err


def test_explain_shows_grant_decisions_and_view(capsys: pytest.CaptureFixture[str]) -> None:
    """explain lists the grant, a decision per case state, and the view per entity type."""
    code, out, _ = run(
        ["policy", "explain", "--role", "risk_analyst", "--purpose", "risk_control"], capsys
    )
    assert code == 0
    assert "grants.risk_analyst.risk_control" in out
    assert "keyed_hash" in out and "IBAN" in out
    assert "expired case" in out


def test_explain_json_for_a_role_without_grant(capsys: pytest.CaptureFixture[str]) -> None:
    """A role with no grant is explained as default deny in every case state, with no view."""
    code, out, _ = run(
        ["policy", "explain", "--role", "auditor", "--purpose", "regulatory_request", "--json"],
        capsys,
    )
    info = json.loads(out)
    assert code == 0 and info["grant"] is None and info["view"] == {}
    assert not any(d["allow"] for d in info["decisions"])


def test_explain_unknown_role_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown role is a usage error that names the valid roles."""
    code, _, err = run(
        ["policy", "explain", "--role", "intern", "--purpose", "risk_control"], capsys
    )
    assert code == 2 and "risk_analyst" in err


def test_explain_with_malformed_policy_names_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain over a malformed policy file fails naming the file and line."""
    p = tmp_path / "p.toml"
    p.write_text("version = 1\nroles = 3\n", encoding="utf-8")
    code, _, err = run(
        ["policy", "explain", "--role", "a", "--purpose", "b", "--policy", str(p)], capsys
    )
    assert code == 2 and f"{p}:2:" in err

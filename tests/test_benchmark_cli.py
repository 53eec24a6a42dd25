"""The benchmark suite's command line: help and bad arguments never start a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import suite

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("-h",)])
def test_help_prints_usage_and_starts_nothing(args: tuple[str, ...]) -> None:
    out = _bench(*args)
    assert out.returncode == 0
    assert "--quick" in out.stdout or "run" in out.stdout
    assert "baseline" not in out.stderr  # no scenario was started (they log to stderr)


@pytest.mark.parametrize(
    "args", [(), ("walk",), ("run", "--quik"), ("run", "--quick", "extra"), ("run", "-" * 5000)]
)
def test_bad_arguments_exit_2_with_usage(args: tuple[str, ...]) -> None:
    out = _bench(*args)
    assert out.returncode == 2
    assert "usage: python -m benchmarks" in out.stderr
    assert "baseline" not in out.stderr


def test_parse_args_reads_quick() -> None:
    assert suite.parse_args(["run", "--quick"]).quick is True
    assert suite.parse_args(["run"]).quick is False

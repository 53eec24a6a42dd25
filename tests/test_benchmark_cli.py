"""The benchmark suite's command line: help and bad arguments never start a run."""

from __future__ import annotations

import json
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


def test_fsync_probe_reports_ordered_percentiles_and_leaves_nothing(tmp_path: Path) -> None:
    """The probe of the database's disk: count syncs, percentiles in order, and its
    scratch file is gone afterwards."""
    f = suite.fsync_probe(tmp_path, count=20, pause_s=0)
    assert f["count"] == 20
    assert 0 <= f["p50"] <= f["p99"] <= f["p99.9"] <= f["max"]
    assert list(tmp_path.iterdir()) == []


def test_the_report_names_the_disk_when_it_was_probed() -> None:
    """The Markdown report states the disk's sync latency beside the machine; a report
    from before the probe renders without that line."""
    ref = ROOT / "benchmarks" / "reference" / "suite-20261130T020136Z.json"
    rep = json.loads(ref.read_text(encoding="utf-8"))
    assert "Disk under the database" not in suite.markdown(rep)
    rep["machine"]["fsync_ms"] = {"count": 300, "p50": 0.3, "p99": 0.9, "p99.9": 93.0, "max": 93.0}
    md = suite.markdown(rep)
    assert "fsync of 4 KiB p50 0.3 ms, p99 0.9 ms, p99.9 93.0 ms, max 93.0 ms (300 syncs" in md


def test_the_report_states_the_host_speed_at_both_sides_of_the_ratio() -> None:
    """The saturation ratio compares the batched steps with the standalone command,
    minutes apart on a host whose speed drifts: the report gives the calibration loop
    before each, and a report from before that renders without the line."""
    ref = ROOT / "benchmarks" / "reference" / "suite-20261130T020136Z.json"
    rep = json.loads(ref.read_text(encoding="utf-8"))
    assert "host speed" not in suite.markdown(rep)
    rep["calibration_s"] = {"batch_steps": 0.151, "redact": 0.16}
    md = suite.markdown(rep)
    assert "* host speed: calibration loop 0.151 s before the batched steps, 0.16 s before" in md

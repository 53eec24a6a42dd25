"""``chatwarden redact``: the batch contract, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.cli import main


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _run(tmp_path: Path, lines: list[bytes], *extra: str) -> tuple[int, Path]:
    src = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "redact",
            "--input",
            str(src),
            "--output",
            str(out),
            "--workers",
            "0",
            "--no-progress",
            *extra,
        ]
    )
    return code, out


GOOD = json.dumps({"id": "m1", "text": "hello there", "conversation_id": "c1", "seq": 0}).encode()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{not json", "line 2: not valid JSON"),  # malformed JSON line
        (b'{"text": "hi"}', "line 2: missing or empty 'id'"),  # missing id
        (b'{"id": "m2"}', "line 2: missing 'text'"),  # missing text
        (b'["id", "text"]', "line 2: expected a JSON object"),  # not an object
        (b'{"id": "m2", "text": "\xff\xfe"}', "line 2: not valid UTF-8"),  # invalid UTF-8
        (b"", "line 2: empty line"),  # blank line
        (GOOD, "line 2: duplicate 'id'"),  # duplicate id
        (b'{"id": "m2", "text": "x", "seq": "one"}', "line 2: 'seq' must be an integer"),  # bad seq
    ],
)
def test_bad_line_is_named_and_no_output_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: bytes, expected: str
) -> None:
    """A bad line stops the run with an error naming it, and no output file appears."""
    code, out = _run(tmp_path, [GOOD, line])
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".chatwarden-*"))


def test_oversized_message_is_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 1 MB message is refused with the limit and the option that raises it."""
    big = json.dumps({"id": "m2", "text": "a" * 1_000_000}).encode()
    code, out = _run(tmp_path, [GOOD, big])
    err = capsys.readouterr().err
    assert code == 2 and "line 2" in err and "--max-chars" in err
    assert not out.exists()


def test_error_message_never_echoes_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors name the problem, never the message content."""
    code, _ = _run(tmp_path, [GOOD, b'{"id": "m2", "text": "4111 1111 1111 1111", "seq": "x"}'])
    assert code == 2 and "4111" not in capsys.readouterr().err


def test_existing_output_survives_a_failed_run(tmp_path: Path) -> None:
    """A failed run leaves an existing output file exactly as it was."""
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    src = _write(tmp_path / "in.jsonl", [GOOD, b"{bad"])
    assert main(["redact", "--input", str(src), "--output", str(out), "--workers", "0"]) == 2
    assert out.read_text() == "previous\n"


def test_missing_input_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing input file is reported as such."""
    code = main(
        ["redact", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")]
    )
    assert code == 2 and "cannot open --input" in capsys.readouterr().err


def test_output_has_one_line_per_input_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Output keeps input order and the contract's fields; empty text passes with a warning."""
    lines = [
        json.dumps({"id": "b", "text": "second", "conversation_id": "c", "seq": 1}).encode(),
        json.dumps(
            {"id": "a", "text": "mail me at ann.lee@example.org", "conversation_id": "c", "seq": 0}
        ).encode(),
        json.dumps({"id": "e", "text": ""}).encode(),
    ]
    code, out = _run(tmp_path, lines)
    assert code == 0
    assert "line 3: empty 'text'" in capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["b", "a", "e"]
    assert set(rows[0]) == {"id", "redacted", "entities", "purposes"}
    assert rows[2]["redacted"] == "" and rows[2]["entities"] == []

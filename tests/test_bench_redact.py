"""The standalone redaction benchmark's steady-state corpus and its command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_redact import distinct_copies, repeated

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    {"id": "c1-m0", "conversation_id": "c1", "seq": 0, "text": "hi, ship to Oslo"},
    {"id": "c1-m1", "conversation_id": "c1", "seq": 1, "text": "card 4111 1111 1111 1111"},
    {"id": "c2-m0", "conversation_id": "c2", "seq": 0, "text": "hi, ship to Oslo"},
]


def test_repeated_copies_are_new_conversations_with_new_texts() -> None:
    """Each copy renames its conversations and messages (no copy continues another's
    conversation) and changes every text by trailing spaces only, so that the
    command, which detects each distinct text once, does all the work again."""
    out = repeated(ROWS, 3)
    assert len(out) == 9
    assert out[:3] == ROWS  # the first copy is the corpus itself
    assert len({r["id"] for r in out}) == 9
    copies = [out[k * 3 : (k + 1) * 3] for k in range(3)]
    convs = [{r["conversation_id"] for r in c} for c in copies]
    assert all(len(a & b) == 0 for i, a in enumerate(convs) for b in convs[i + 1 :])
    for k, copy in enumerate(copies):
        assert [r["seq"] for r in copy] == [r["seq"] for r in ROWS]
        assert [r["text"] for r in copy] == [r["text"] + " " * k for r in ROWS]
    texts = [r["text"] for r in out]
    # Distinct wherever the corpus's texts are distinct: 2 distinct texts per copy.
    assert len(set(texts)) == 2 * 3


def test_distinct_copies_make_every_text_distinct_with_spaces_only() -> None:
    """Every message of every copy gets a text of its own, made of the original text and
    spaces around it only; ids and conversations are renamed per copy as repeated()
    does. (The corpus has a text held by 40 messages: more repeats than one kind of
    space could number in a few characters.)"""
    rows = ROWS + [
        {"id": f"c3-m{i}", "conversation_id": "c3", "seq": i, "text": "ok"} for i in range(40)
    ]
    out = distinct_copies(rows, 3)
    assert len(out) == 3 * len(rows)
    assert len({r["text"] for r in out}) == len(out)
    assert len({r["id"] for r in out}) == len(out)
    for k in range(3):
        copy = out[k * len(rows) : (k + 1) * len(rows)]
        assert [r["text"].strip(" ") for r in copy] == [r["text"] for r in rows]
        assert all(r["conversation_id"].endswith(f"~{k}") for r in copy)
        assert max(len(r["text"]) - len(r["text"].strip(" ")) for r in copy) <= 12 + 13 * k + 3

@pytest.mark.parametrize("args", [("--best-of", "0"), ("--best-of", "x"), ("--limit",)])
def test_bad_arguments_exit_2_before_any_run(args: tuple[str, ...]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_redact", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "usage:" in out.stderr

"""``chatwarden redact --input IN.jsonl --output OUT.jsonl``: batch redaction.

Input lines hold at least ``id`` and ``text`` and may hold ``conversation_id``, ``seq``,
``sender``, ``lang`` (and ``order_id``/``dispute_id`` metadata for purpose tagging).
Output: one line per input line, same order:
``{"id", "redacted", "entities": [{"start", "end", "type"}], "purposes": [...]}``.

The whole input is validated before anything is written, and the output is written to
a temporary file renamed into place only on success: a bad line never leaves a
truncated output file behind.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from policies.tagging import PurposeTagger, TagInput, load_default_tagger
from proxy.errors import InputError, UsageError
from redact import Message, RedactConfig, Redactor
from redact.span import Span

DEFAULT_MAX_CHARS = 100_000
_META_KEYS = ("order_id", "dispute_id", "case_id", "sender", "lang")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("redact", help="redact a JSONL file of chat messages")
    p.add_argument("--input", required=True, type=Path, help="JSONL input (- for stdin)")
    p.add_argument("--output", required=True, type=Path, help="JSONL output (- for stdout)")
    p.add_argument(
        "--workers", type=int, default=None, help="detection processes (default: CPU count)"
    )
    p.add_argument("--model", default=None, help="spaCy model package (default: en_core_web_sm)")
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="longest accepted text")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(func=run)


def read_messages(lines: Iterator[bytes], max_chars: int) -> list[dict[str, Any]]:
    """Parse and validate every line; raise :class:`InputError` naming the first bad one."""
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8; re-encode the file as UTF-8", lineno) from None
        if not line.strip():
            raise InputError("empty line; every line must be one JSON object", lineno)
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg} at column {exc.colno})", lineno) from None
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object with 'id' and 'text'", lineno)
        mid = rec.get("id")
        if isinstance(mid, int) and not isinstance(mid, bool):
            mid = str(mid)
        if not isinstance(mid, str) or not mid:
            raise InputError("missing or empty 'id' (a string)", lineno)
        if mid in seen:
            raise InputError("duplicate 'id'; ids must be unique in one file", lineno)
        seen.add(mid)
        text = rec.get("text")
        if not isinstance(text, str):
            raise InputError("missing 'text' (a string; may be empty)", lineno)
        if len(text) > max_chars:
            raise InputError(
                f"'text' is longer than {max_chars} characters; split it or raise --max-chars",
                lineno,
            )
        conv = rec.get("conversation_id")
        if conv is not None and not isinstance(conv, str | int):
            raise InputError("'conversation_id' must be a string", lineno)
        seq = rec.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
            raise InputError("'seq' must be an integer", lineno)
        if not text.strip():
            # Not fatal: an attachment-only chat message has no text. Said, not hidden.
            print(
                f"chatwarden: warning: line {lineno}: empty 'text'; written through unchanged",
                file=sys.stderr,
            )
        rec["id"] = mid
        records.append(rec)
    return records


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled and sys.stderr.isatty()
        self.t0 = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        frac = self.done / self.total if self.total else 1.0
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} messages  {rate:,.0f}/s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _chunks_by_conversation(records: Sequence[dict[str, Any]], size: int) -> Iterator[list[int]]:
    """Index lists of whole conversations, about ``size`` messages each."""
    convs: dict[object, list[int]] = {}
    for i, r in enumerate(records):
        convs.setdefault(r.get("conversation_id", ("solo", i)), []).append(i)
    chunk: list[int] = []
    for idxs in convs.values():
        chunk.extend(idxs)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class _Job:
    """Everything the work needs; set before the worker processes fork, so they inherit
    it (the loaded model included) instead of receiving it through a pipe."""

    records: list[dict[str, Any]]
    unique: list[str]  # distinct texts: each is analysed once
    redactor: Redactor
    tagger: PurposeTagger


_JOB: _Job | None = None

# Work items: distinct texts per detection task, messages per redaction task. Small
# enough that both workers stay busy to the end, large enough for nlp.pipe batching.
_DETECT_CHUNK = 64
_REDACT_CHUNK = 160


def _detect(bounds: tuple[int, int]) -> list[tuple[Span, ...]]:
    """Spans of the distinct texts ``unique[a:b]`` (worker side)."""
    assert _JOB is not None
    return _JOB.redactor.analyze(_JOB.unique[bounds[0] : bounds[1]])


def _redact(part: tuple[list[int], list[tuple[Span, ...]]]) -> list[str]:
    """Output lines, one per message, of whole conversations whose spans are known
    (worker side): conversation window, placeholders, purposes, JSON."""
    assert _JOB is not None
    idxs, spans = part
    records = _JOB.records
    msgs = [
        Message(
            records[i]["id"],
            records[i]["text"],
            None
            if records[i].get("conversation_id") is None
            else str(records[i]["conversation_id"]),
            records[i].get("seq"),
            records[i].get("lang"),
            records[i].get("sender"),
        )
        for i in idxs
    ]
    redactions = _JOB.redactor.finish(msgs, spans)
    tag_inputs = [
        TagInput(
            m.text,
            frozenset(s.type for s in r.spans),
            m.conversation_id,
            {k: str(records[i][k]) for k in _META_KEYS if records[i].get(k) is not None},
        )
        for i, m, r in zip(idxs, msgs, redactions, strict=True)
    ]
    purposes = _JOB.tagger.tag_conversations(tag_inputs)
    return [
        json.dumps(
            {
                "id": r.id,
                "redacted": r.redacted,
                "entities": [{"start": s.start, "end": s.end, "type": s.type} for s in r.spans],
                "purposes": list(p),
            },
            ensure_ascii=False,
        )
        + "\n"
        for r, p in zip(redactions, purposes, strict=True)
    ]


def _process(job: _Job, workers: int, progress: Progress) -> list[str]:
    """One output line per record, in input order.

    Two passes over a pool of forked workers: detection over the distinct texts, then
    redaction (window, placeholders, tagging, JSON) over whole conversations.
    """
    global _JOB
    _JOB = job
    n = len(job.unique)
    ranges = [(a, min(a + _DETECT_CHUNK, n)) for a in range(0, n, _DETECT_CHUNK)]
    chunks = list(_chunks_by_conversation(job.records, _REDACT_CHUNK))
    out: list[str] = [""] * len(job.records)
    pool = None
    try:
        if workers > 1 and "fork" in mp.get_all_start_methods():
            pool = mp.get_context("fork").Pool(workers)
            found = [s for part in pool.imap(_detect, ranges) for s in part]
        else:
            found = [s for r in ranges for s in _detect(r)]
        by_text = dict(zip(job.unique, found, strict=True))
        parts = [(idxs, [by_text[job.records[i]["text"]] for i in idxs]) for idxs in chunks]
        done = pool.imap(_redact, parts) if pool is not None else map(_redact, parts)
        for idxs, lines in zip(chunks, done, strict=True):
            for i, line in zip(idxs, lines, strict=True):
                out[i] = line
            progress.advance(len(idxs))
        return out
    finally:
        _JOB = None
        if pool is not None:
            pool.terminate()
            pool.join()


def run(args: argparse.Namespace) -> int:
    if args.max_chars < 1:
        raise UsageError("--max-chars must be positive")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 0:
        raise UsageError("--workers must be 0 or more")
    src: IO[bytes]
    if str(args.input) == "-":
        src = sys.stdin.buffer
    else:
        try:
            src = open(args.input, "rb")  # noqa: SIM115 -- closed below
        except OSError as exc:
            raise UsageError(f"cannot open --input: {exc.strerror}") from None
    with src:
        records = read_messages(iter(src), args.max_chars)

    # The engine loads here, once; worker processes fork from this one and share it.
    cfg_kwargs: dict[str, Any] = {"workers": 0}
    if args.model:
        cfg_kwargs["spacy_model"] = args.model
    tagger = load_default_tagger()
    progress = Progress(len(records), not args.no_progress)
    with Redactor(RedactConfig(**cfg_kwargs)) as redactor:
        unique = list(dict.fromkeys(r["text"] for r in records))
        lines = _process(_Job(records, unique, redactor, tagger), workers, progress)
    _write_atomically(args.output, "".join(lines))
    return 0


def _write_atomically(path: Path, lines: str) -> None:
    if str(path) == "-":
        sys.stdout.write(lines)
        sys.stdout.flush()
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".chatwarden-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write --output: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

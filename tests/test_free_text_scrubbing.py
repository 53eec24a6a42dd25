"""Free text typed into requests (a reader's X-Justification, a case's authority and legal
basis) reaches storage only after the full redactor -- NER included -- replaced every
detected value by ``<TYPE>``: on SQLite and on PostgreSQL, through the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # no stubs published
import pytest

from proxy.app import Overrides
from proxy.cases import CaseStatus, SQLiteCaseStore
from proxy.scrubbing import redactor_scrubber
from redact import RedactConfig, Redactor
from tests.app_testing import (
    PG_BASE,
    BrokenRedactor,
    Env,
    make_env,
    postgres_env,
    regulatory_case,
    serve,
)

NAME = "Maria Kowalczyk"
EMAIL = "maria.k@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
# What must never be stored: the name (each part), the e-mail, the IBAN in both spellings.
VALUES = ("Maria", "Kowalczyk", EMAIL, IBAN, IBAN.replace(" ", ""))

JUSTIFICATION = f"per request of {NAME}, reply to {EMAIL}, refund to {IBAN}"
AUTHORITY = f"District court, per request of {NAME} ({EMAIL})"
LEGAL_BASIS = f"Refund order for account {IBAN} held by {NAME}"


def _leaks(text: str) -> list[int]:
    """Indices (never the values) of VALUES found in ``text``."""
    return [i for i, v in enumerate(VALUES) if v in text]


async def test_scrubber_replaces_a_name_an_iban_and_an_email(redactor: Redactor) -> None:
    """The scrubber runs NER as well as the patterns: the name goes, not only the numbers."""
    scrubbed = await redactor_scrubber(lambda: redactor)(JUSTIFICATION)
    # Compared as a bool: a failure must not print the values the test is about.
    exact = scrubbed == "per request of <PERSON>, reply to <EMAIL>, refund to <IBAN>"
    assert exact, f"not scrubbed as expected; values #{_leaks(scrubbed)} left in clear"


async def test_scrubber_refuses_when_the_redactor_is_not_running() -> None:
    """A redactor that was never started is an error (the caller stores nothing), not a pass."""
    idle = Redactor(RedactConfig(ner=False, workers=0), state_key=b"k" * 32)
    with pytest.raises(RuntimeError):
        await redactor_scrubber(lambda: idle)("per request of Jan Nowak")


@pytest.fixture(params=["sqlite", "postgres"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    if request.param == "sqlite":
        yield make_env(tmp_path)
        return
    async with postgres_env(tmp_path, "cw_scrub") as pg:
        yield pg


async def _stored_text(env: Env) -> str:
    """Every audit event body and every case row, as text (after the app has stopped)."""
    url = env.config.storage.url
    if url.startswith("sqlite"):
        # Raw bytes of the database and its WAL: rows, free pages and journal alike.
        raw = b"".join(
            p.read_bytes() for p in env.dir.iterdir() if p.name.startswith("chatwarden.db")
        )
        return raw.decode("utf-8", "replace")
    schema = url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(PG_BASE)
    try:
        events = await conn.fetch(f'SELECT body FROM "{schema}".audit_events')
        cases = await conn.fetch(f'SELECT body FROM "{schema}".cases')
    finally:
        await conn.close()
    assert events and cases
    return "\n".join([bytes(r["body"]).decode() for r in events] + [r["body"] for r in cases])


async def test_names_and_values_in_free_text_never_reach_storage(
    env: Env, redactor: Redactor
) -> None:
    """A name with context, an IBAN and an e-mail in the justification, the authority and the
    legal basis are stored as <PERSON>, <IBAN>, <EMAIL> in the audit store and cases table."""
    case = regulatory_case(AUTHORITY, LEGAL_BASIS)
    async with serve(env, Overrides(redactor=redactor)) as client:
        r = await client.post("/v1/cases", json=case, headers=env.auth("compliance_officer"))
        assert r.status == 201
        filed = await r.json()
        r = await client.get(
            "/v1/messages",
            params={"purpose": "risk_control"},
            headers={**env.auth("risk_analyst"), "X-Justification": JUSTIFICATION},
        )
        assert r.status == 200
    # Checked as bools and indices: a failure must not print the values themselves.
    answered = (filed["authority"], filed["legal_basis"])
    in_answer = _leaks(" ".join(answered))
    assert not in_answer, f"values #{in_answer} of the case fields were kept in clear"
    exact = answered == (
        "District court, per request of <PERSON> (<EMAIL>)",
        "Refund order for account <IBAN> held by <PERSON>",
    )
    assert exact, "case fields scrubbed, but not to the expected placeholders"
    stored = await _stored_text(env)
    leaked = _leaks(stored)
    assert not leaked, f"values #{leaked} of the free text were stored in clear"
    kept = [
        "per request of <PERSON>, reply to <EMAIL>, refund to <IBAN>" in stored,
        "per request of <PERSON> (<EMAIL>)" in stored,
        "held by <PERSON>" in stored,
    ]
    assert kept == [True, True, True], "the scrubbed free text was not stored"


async def test_failing_redactor_stores_no_free_text(tmp_path: Path) -> None:
    """When detection fails, filing a case and a justified read answer 503 and store nothing."""
    env = make_env(tmp_path)
    broken = BrokenRedactor(RedactConfig(ner=False, workers=0), state_key=b"k" * 32)
    case = regulatory_case(AUTHORITY, LEGAL_BASIS)
    async with serve(env, Overrides(redactor=broken)) as client:
        broken.fail = True
        filed = await client.post("/v1/cases", json=case, headers=env.auth("compliance_officer"))
        read = await client.get(
            "/v1/messages",
            params={"purpose": "risk_control"},
            headers={**env.auth("risk_analyst"), "X-Justification": JUSTIFICATION},
        )
        assert (filed.status, read.status) == (503, 503)
        assert "Retry-After" in filed.headers and "Retry-After" in read.headers
    cases = await SQLiteCaseStore(tmp_path / "chatwarden.db").open()
    try:
        assert await cases.list_cases(None, CaseStatus.PENDING) == []
    finally:
        await cases.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("chatwarden.db"))
    leaked = _leaks(raw.decode("utf-8", "replace"))
    assert not leaked, f"values #{leaked} were stored although detection failed"

"""`chatwarden audit` subcommands: verify, prove, consistency, verify-proof, settings."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from proxy import cli
from proxy.audit.log import AuditTrail, CheckpointPolicy
from proxy.audit.runtime import signer_of
from proxy.audit.settings import load_settings
from proxy.audit.store import SQLiteAuditStore
from proxy.audit.testing import FrozenClock, make_event
from proxy.keys import generate_keyring

KEYDIR = Path(tempfile.mkdtemp(prefix="cw-audit-cli-"))
RING = generate_keyring(KEYDIR / "keys.json")
SIGNER = signer_of(RING)
PUB = str(KEYDIR / "audit.pub")


@pytest.fixture(scope="module", autouse=True)
def public_key_file() -> None:
    """The public key file an auditor would hold, written by `audit public-key`."""
    cfg = KEYDIR / "keys-only.toml"
    cfg.write_text(f'[keys]\nfile = "{KEYDIR / "keys.json"}"\n')
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["audit", "public-key", "--config", str(cfg)]) == 0
    Path(PUB).write_text(out.getvalue())


def _make_log(db: Path, n: int, every: int = 4, start: int = 0) -> None:
    async def go() -> None:
        s = SQLiteAuditStore(db)
        await s.open()
        t = AuditTrail(
            s, SIGNER, policy=CheckpointPolicy(every=every, interval=None), clock=FrozenClock()
        )
        for i in range(start, start + n):
            await t.record(make_event(i))
        await s.close()

    asyncio.run(go())


def _config(tmp_path: Path, db: Path) -> Path:
    cfg = tmp_path / "chatwarden.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{db}"\n\n[audit]\nverify_state = "pin.json"\n'
        f'timeout = 1.5\ncheckpoint_every = 10\n\n[keys]\nfile = "{KEYDIR / "keys.json"}"\n'
    )
    return cfg


def test_verify_ok_prints_summary_and_writes_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An intact log verifies (exit 0) and the pin file records what was seen."""
    db = tmp_path / "audit.db"
    _make_log(db, 9)
    code = cli.main(["audit", "verify", "--config", str(_config(tmp_path, db))])
    out = capsys.readouterr().out
    assert code == 0 and "OK: 9 events, 2 signed checkpoints" in out
    assert json.loads((tmp_path / "pin.json").read_text())["size"] == 9


def test_verify_rejects_a_restored_older_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the pin saw 9 events, a store restored to 4 fails at index 4."""
    db = tmp_path / "audit.db"
    _make_log(db, 4)
    shutil.copy(db, tmp_path / "old.db")
    _make_log(db, 5, start=4)
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "old.db", db)
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 1
    assert "event index 4: log shrank" in capsys.readouterr().err


def test_verify_without_store_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """No config and no --store: exit 2 with a message naming the fix."""
    assert cli.main(["audit", "verify"]) == 2
    assert "--store" in capsys.readouterr().err


def test_prove_prints_a_proof_that_verifies_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prove EVENT_ID prints a document verify-proof accepts."""
    db = tmp_path / "audit.db"
    _make_log(db, 8)
    assert cli.main(["audit", "prove", "ev000005", "--store", str(db), "--public-key", PUB]) == 0
    proof = tmp_path / "proof.json"
    proof.write_text(capsys.readouterr().out)
    assert json.loads(proof.read_text())["index"] == 5
    assert cli.main(["audit", "verify-proof", str(proof), "--public-key", PUB]) == 0
    assert "event ev000005 is entry 5 of the log of 8 events" in capsys.readouterr().out


def test_verify_proof_rejects_an_altered_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing the proven entry (here its purpose) makes verify-proof exit 1."""
    db = tmp_path / "audit.db"
    _make_log(db, 8)
    cli.main(["audit", "prove", "ev000002", "--store", str(db), "--public-key", PUB])
    doc = json.loads(capsys.readouterr().out)
    doc["entry"] = doc["entry"].replace("dispute_handling", "risk_control")
    doc.pop("leaf_hash")
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(doc))
    assert cli.main(["audit", "verify-proof", str(proof), "--public-key", PUB]) == 1
    assert "does not lead to the checkpoint's root" in capsys.readouterr().err


def test_prove_unknown_event_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An id that is not in the log is reported, exit 2."""
    db = tmp_path / "audit.db"
    _make_log(db, 4)
    assert cli.main(["audit", "prove", "nope", "--store", str(db), "--public-key", PUB]) == 2
    assert "no audit event has this id" in capsys.readouterr().err


def test_prove_uncovered_event_asks_for_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event after the latest checkpoint cannot be proven yet; the message says how."""
    db = tmp_path / "audit.db"
    _make_log(db, 6)  # checkpoint at 4; events 4 and 5 uncovered
    assert cli.main(["audit", "prove", "ev000005", "--store", str(db), "--public-key", PUB]) == 2
    assert "audit checkpoint" in capsys.readouterr().err


def test_consistency_between_checkpoints_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """consistency --from 1 --to 3 prints a proof that verify-proof accepts."""
    db = tmp_path / "audit.db"
    _make_log(db, 12, every=4)
    assert (
        cli.main(
            [
                "audit",
                "consistency",
                "--store",
                str(db),
                "--public-key",
                PUB,
                "--from",
                "1",
                "--to",
                "3",
            ]
        )
        == 0
    )
    proof = tmp_path / "c.json"
    proof.write_text(capsys.readouterr().out)
    assert cli.main(["audit", "verify-proof", str(proof), "--public-key", PUB]) == 0
    assert "log of 12 events extends the one of 4" in capsys.readouterr().out


def test_consistency_proof_fails_for_a_forked_old_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A consistency proof whose old checkpoint is from another history fails."""
    db = tmp_path / "audit.db"
    _make_log(db, 12, every=4)
    cli.main(
        [
            "audit",
            "consistency",
            "--store",
            str(db),
            "--public-key",
            PUB,
            "--from",
            "1",
            "--to",
            "3",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    other = tmp_path / "other.db"
    _make_log(other, 4, every=4)
    cli.main(
        [
            "audit",
            "consistency",
            "--store",
            str(other),
            "--public-key",
            PUB,
            "--from",
            "1",
            "--to",
            "1",
        ]
    )
    doc["old"] = json.loads(capsys.readouterr().out)["old"]
    proof = tmp_path / "c.json"
    proof.write_text(json.dumps(doc))
    assert cli.main(["audit", "verify-proof", str(proof), "--public-key", PUB]) == 1


def test_settings_read_config_and_resolve_relative_paths(tmp_path: Path) -> None:
    """Relative paths in the config are relative to its directory; flags override."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[storage]\nurl = "sqlite:data/cw.db"\n[audit]\npublic_key = "audit.pub"\n'
        'checkpoint_every = 7\n[keys]\nfile = "keys.json"\n'
    )
    s = load_settings(cfg, timeout=0.5)
    assert s.store_url == f"sqlite:///{tmp_path / 'data/cw.db'}"
    assert s.public_key_file == tmp_path / "audit.pub"
    assert s.keys_file == tmp_path / "keys.json"
    assert (s.checkpoint_every, s.timeout) == (7, 0.5)


def test_settings_reject_a_mistyped_value(tmp_path: Path) -> None:
    """A string where a number belongs is a usage error naming the key."""
    from proxy.errors import UsageError

    cfg = tmp_path / "c.toml"
    cfg.write_text('[audit]\ntimeout = "soon"\n')
    with pytest.raises(UsageError, match=r"\[audit\] timeout"):
        load_settings(cfg)


def test_public_key_file_round_trips_to_the_signing_key() -> None:
    """The exported key file parses back to the keyring's audit public key."""
    from proxy.audit.signing import load_public_key

    assert load_public_key(Path(PUB)).public_key == SIGNER.public_key  # type: ignore[attr-defined]


def test_verify_with_another_public_key_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints signed by the keyring do not verify under a stranger's key."""
    from proxy.audit.signing import format_public_key

    db = tmp_path / "audit.db"
    _make_log(db, 5)
    other = generate_keyring(tmp_path / "other-keys.json")
    key = tmp_path / "other.pub"
    key.write_text(format_public_key(signer_of(other).public_key))  # type: ignore[attr-defined]
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", str(key)]) == 1
    assert "checkpoint #1: forged or damaged checkpoint" in capsys.readouterr().err


def test_checkpoint_command_signs_the_current_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit checkpoint` covers events written since the last checkpoint, once."""
    db = tmp_path / "audit.db"
    _make_log(db, 6)  # checkpoint at 4
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "checkpoint", "--config", str(cfg)]) == 0
    assert "signed checkpoint of 6 events" in capsys.readouterr().out
    assert cli.main(["audit", "checkpoint", "--config", str(cfg)]) == 0
    assert "already covers" in capsys.readouterr().out
    assert cli.main(["audit", "prove", "ev000005", "--config", str(cfg)]) == 0


def _real_bundle(tmp_path: Path) -> Path:
    from proxy.audit.bundle import build_bundle
    from proxy.audit.events import Actor
    from proxy.audit.log import AuditQuery

    db = tmp_path / "audit.db"
    _make_log(db, 8, every=8)

    async def go() -> dict[str, object]:
        s = SQLiteAuditStore(db, read_only=True)
        await s.open()
        cp = (await s.checkpoints())[-1]
        rows = await s.query(AuditQuery(case_id="case-1"))
        leaves = await s.leaf_hashes(cp.checkpoint.size)
        await s.close()
        return build_bundle(
            case_id="case-1",
            messages=[{"message_id": "m1", "text": "[CARD_1] refund"}],
            events=rows,
            leaves=leaves,
            checkpoint=cp,
            signer=SIGNER,
            exported_by=Actor("tok-co", "compliance_officer"),
            now=FrozenClock().now,
        )

    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(asyncio.run(go())))
    return path


def test_verify_bundle_needs_only_the_bundle_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify-bundle runs with no config and no database, and exits 0 for a good bundle."""
    bundle = _real_bundle(tmp_path)
    (tmp_path / "audit.db").unlink()
    assert cli.main(["audit", "verify-bundle", str(bundle), "--public-key", PUB]) == 0
    assert "1 messages and 4 audit events verified" in capsys.readouterr().out


def test_verify_bundle_rejects_an_edited_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One changed word in an exported message makes verify-bundle exit 1."""
    bundle = _real_bundle(tmp_path)
    bundle.write_text(bundle.read_text().replace("refund", "refunds"))
    assert cli.main(["audit", "verify-bundle", str(bundle), "--public-key", PUB]) == 1
    assert "message #0 does not match" in capsys.readouterr().err


def test_consistency_from_a_pinned_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A verifier's pin is the start of a consistency proof to the newest checkpoint."""
    db = tmp_path / "audit.db"
    _make_log(db, 4, every=4)
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    _make_log(db, 8, every=4, start=4)
    capsys.readouterr()
    pin = str(tmp_path / "pin.json")
    assert cli.main(["audit", "consistency", "--config", str(cfg), "--from-pin", pin]) == 0
    proof = tmp_path / "c.json"
    proof.write_text(capsys.readouterr().out)
    assert cli.main(["audit", "verify-proof", str(proof), "--public-key", PUB]) == 0
    assert "log of 12 events extends the one of 4" in capsys.readouterr().out


def test_damaged_pin_leaves_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pin whose leaves no longer hash to its root is not trusted (exit 2, named)."""
    db = tmp_path / "audit.db"
    _make_log(db, 5)
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    leaves = tmp_path / "pin.json.leaves"
    data = bytearray(leaves.read_bytes())
    data[0] ^= 1
    leaves.write_bytes(bytes(data))
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 2
    assert "pin leaves file does not match" in capsys.readouterr().err


def test_dropped_audit_tables_fail_verification_against_a_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dropping every audit table is reported as a log that shrank to nothing (exit 1)."""
    import sqlite3

    db = tmp_path / "audit.db"
    _make_log(db, 5)
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    conn = sqlite3.connect(db)
    for table in (
        "audit_events",
        "audit_subjects",
        "audit_checkpoints",
        "audit_head",
        "audit_meta",
    ):
        conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 1
    assert "log shrank: the pin saw 5 events" in capsys.readouterr().err


def test_dropped_events_table_fails_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trail whose events table is gone fails (exit 1) with a message, not a traceback."""
    import sqlite3

    db = tmp_path / "audit.db"
    _make_log(db, 5)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE audit_events")
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", PUB]) == 1
    assert "cannot be read" in capsys.readouterr().err


def test_key_file_with_old_and_new_keys_verifies_across_a_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints signed before and after an audit key rotation verify with a key file
    listing both keys; with only the new key, the old checkpoint is named."""
    from proxy import crypto
    from proxy.audit.signing import Ed25519Signer, format_public_key

    old, new = (Ed25519Signer(crypto.generate_signing_key()) for _ in range(2))
    db = tmp_path / "audit.db"

    async def go() -> None:
        s = SQLiteAuditStore(db)
        await s.open()
        for signer, start in ((old, 0), (new, 4)):
            t = AuditTrail(
                s, signer, policy=CheckpointPolicy(every=4, interval=None), clock=FrozenClock()
            )
            for i in range(start, start + 4):
                await t.record(make_event(i))
        await s.close()

    asyncio.run(go())
    both = tmp_path / "both.pub"
    both.write_text(format_public_key(old.public_key) + format_public_key(new.public_key))
    only_new = tmp_path / "new.pub"
    only_new.write_text(format_public_key(new.public_key))
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", str(both)]) == 0
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", str(only_new)]) == 1
    assert "checkpoint #1" in capsys.readouterr().err


def test_verify_json_output_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one object with ok, size and the problem's index."""
    import sqlite3

    db = tmp_path / "audit.db"
    _make_log(db, 6)
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", PUB, "--json"]) == 0
    good = json.loads(capsys.readouterr().out)
    assert good["ok"] and good["size"] == 6 and good["problem"] is None
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_events_no_delete")
    conn.execute("DELETE FROM audit_events WHERE idx = 2")
    conn.commit()
    conn.close()
    assert cli.main(["audit", "verify", "--store", str(db), "--public-key", PUB, "--json"]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert not bad["ok"] and bad["problem"]["index"] == 2


def test_pin_survives_a_crash_between_its_two_files(tmp_path: Path) -> None:
    """Leaves written for a newer pin, JSON still the older one: the older pin loads."""
    from proxy.audit.verify import Pin

    db = tmp_path / "audit.db"
    _make_log(db, 4)
    cfg = _config(tmp_path, db)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    old_json = (tmp_path / "pin.json").read_text()
    _make_log(db, 3, start=4)
    assert cli.main(["audit", "verify", "--config", str(cfg)]) == 0
    (tmp_path / "pin.json").write_text(old_json)  # the crash: JSON not yet replaced
    pin = Pin.load(tmp_path / "pin.json")
    assert pin is not None and pin.size == 4 and len(pin.leaves) == 4 * 32

"""``chatwarden init``: a ready config, keys readable only by their owner, tokens printed once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from proxy import crypto
from proxy.auth import Authenticator
from proxy.cli import main
from proxy.commands.serve import ensure_dev_config
from proxy.config import ROLES, load_config
from proxy.keys import load_keyring


def _init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["init", str(tmp_path / "cw")]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_prints_one_token_per_role_as_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stdout is exactly one JSON object with a token for every built-in role."""
    tokens = _init(tmp_path, capsys)
    assert sorted(tokens) == sorted(ROLES)
    assert len(set(tokens.values())) == len(ROLES)


def test_config_loads_and_stores_only_hashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The written config validates, and no token appears in it."""
    tokens = _init(tmp_path, capsys)
    text = (tmp_path / "cw" / "chatwarden.toml").read_text()
    cfg = load_config(tmp_path / "cw" / "chatwarden.toml")
    assert len(cfg.auth.tokens) == len(ROLES)
    assert "\nlatency_headroom = 2.0 " in text  # every [server] key is written out
    # A token is cw_<id>_<secret>; the secret itself may contain "_", so split twice only.
    assert not [r for r, t in tokens.items() if t in text or t.split("_", 2)[2] in text]


def test_printed_tokens_authenticate_with_their_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each printed token checks against the stored hashes and carries its role."""
    tokens = _init(tmp_path, capsys)
    cfg = load_config(tmp_path / "cw" / "chatwarden.toml")
    key = load_keyring(cfg.keys.file).hmac_key("token")
    auth = Authenticator(cfg.auth.tokens, lambda b: crypto.keyed_digest(key, b))
    assert {role: auth.check(f"Bearer {t}").role for role, t in tokens.items()} == {
        r: r for r in ROLES
    }


def test_key_and_config_files_are_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keys.json and chatwarden.toml have mode 0600."""
    _init(tmp_path, capsys)
    for name in ("keys.json", "chatwarden.toml"):
        mode = stat.S_IMODE((tmp_path / "cw" / name).stat().st_mode)
        assert mode == 0o600, name


def test_default_storage_is_sqlite_in_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --storage-url the database is a SQLite file next to the config."""
    _init(tmp_path, capsys)
    cfg = load_config(tmp_path / "cw" / "chatwarden.toml")
    db = (tmp_path / "cw" / "chatwarden.db").resolve()
    assert cfg.storage.url == "sqlite:///" + str(db).lstrip("/")


def test_refuses_to_overwrite_an_existing_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second init in the same directory fails with a clear error and keeps the files."""
    _init(tmp_path, capsys)
    before = (tmp_path / "cw" / "keys.json").read_bytes()
    assert main(["init", str(tmp_path / "cw")]) == 2
    captured = capsys.readouterr()
    assert "refusing to overwrite" in captured.err
    assert captured.out == ""
    assert (tmp_path / "cw" / "keys.json").read_bytes() == before


def test_dev_config_writes_tokens_file_owner_only(tmp_path: Path) -> None:
    """Dev mode creates its config once and keeps the tokens in tokens.json (0600)."""
    cfg = ensure_dev_config(tmp_path / "dev")
    tokens_file = tmp_path / "dev" / "tokens.json"
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert sorted(json.loads(tokens_file.read_text())) == sorted(ROLES)
    assert ensure_dev_config(tmp_path / "dev") == cfg

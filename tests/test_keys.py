"""proxy.keys: the local key file, rotation, rewrap and the ``keys`` command."""

from __future__ import annotations

import json
import os
import pickle
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy import crypto
from proxy.cli import main
from proxy.errors import DecryptionError, KeyringError
from proxy.keys import HMAC_KEY_NAMES, KeyStore, generate_keyring, load_keyring
from proxy.sealing import SealContext, Sealer, rewrap_data_keys
from proxy.storage import Storage, open_storage
from proxy.testing import FakeKeyStore, FrozenClock

CTX = SealContext("t1", "c1", "m1", "eu")


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "keys.json"


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await open_storage(f"sqlite://{tmp_path}/cw.db")
    yield s
    await s.close()


def _material_strings(path: Path) -> list[str]:
    doc = json.loads(path.read_text())
    out = [v["key"] for vs in doc["keks"].values() for v in vs]
    out += [*doc["hmac"].values(), doc["audit_signing"]["key"]]
    return out


def test_generated_key_file_is_mode_0600(key_path: Path) -> None:
    """The key file is created readable and writable by its owner only."""
    generate_keyring(key_path, ["eu"])
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_generated_keyring_has_every_key(key_path: Path) -> None:
    """A new keyring holds one KEK per region, the HMAC keys and an audit signing key."""
    ring = generate_keyring(key_path, ["us", "eu"])
    assert ring.regions == ("eu", "us")
    assert [i.key_id for i in ring.kek_infos()] == ["eu:1", "us:1"]
    assert all(ring.hmac_key(n).key_id == n for n in HMAC_KEY_NAMES)
    assert crypto.verify(
        crypto.public_key_bytes(ring.audit_signing_key()),
        b"m",
        crypto.sign(ring.audit_signing_key(), b"m"),
    )


def test_generated_keys_are_distinct(key_path: Path) -> None:
    """No two keys in a fresh keyring are equal."""
    generate_keyring(key_path, ["eu", "us"])
    keys = _material_strings(key_path)
    assert len(set(keys)) == len(keys)


def test_generate_refuses_to_overwrite(key_path: Path) -> None:
    """Generating over an existing key file raises and leaves the file unchanged."""
    generate_keyring(key_path, ["eu"])
    before = key_path.read_bytes()
    with pytest.raises(KeyringError):
        generate_keyring(key_path, ["eu"])
    assert key_path.read_bytes() == before


def test_loaded_keyring_has_the_same_keys(key_path: Path) -> None:
    """A blob sealed with the generated keyring's KEK opens with the loaded one."""
    ring = generate_keyring(key_path, ["eu"])
    aad = crypto.RecordAad("t", "c", "m", 1)
    blob = crypto.seal(ring.current_kek("eu"), b"x", aad)
    again = load_keyring(key_path)
    assert crypto.open(again.kek, blob, aad) == b"x"
    assert again.audit_signing_key().key_id == ring.audit_signing_key().key_id


def test_group_readable_key_file_is_refused(key_path: Path) -> None:
    """A key file others can read is not loaded."""
    generate_keyring(key_path, ["eu"])
    os.chmod(key_path, 0o640)
    with pytest.raises(KeyringError, match="chmod 600"):
        load_keyring(key_path)


def test_missing_key_file_names_the_config_key(tmp_path: Path) -> None:
    """A missing key file points at the [keys] file setting."""
    with pytest.raises(KeyringError, match=r"\[keys\] file"):
        load_keyring(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(format="other"),  # not a chatwarden key file
        lambda d: d.update(version=99),  # a future format
        lambda d: d["keks"]["eu"][0].update(key="!!"),  # KEK not base64
        lambda d: d["keks"]["eu"][0].update(key="QUJD"),  # KEK of the wrong length
        lambda d: d.pop("hmac"),  # a section missing
        lambda d: d["keks"].update(eu=[]),  # a region without versions
        lambda d: d["audit_signing"].update(created_at="yesterday"),  # bad time
    ],
)
def test_malformed_key_file_raises_without_key_material(key_path: Path, edit: object) -> None:
    """Every kind of damage gives KeyringError; the message quotes no key."""
    generate_keyring(key_path, ["eu"])
    doc = json.loads(key_path.read_text())
    secrets = _material_strings(key_path)
    edit(doc)  # type: ignore[operator]
    key_path.write_text(json.dumps(doc))
    os.chmod(key_path, 0o600)
    with pytest.raises(KeyringError) as info:
        load_keyring(key_path)
    assert not any(s[:12] in str(info.value) for s in secrets if s)


def test_keyring_repr_shows_no_key_bytes(key_path: Path) -> None:
    """repr of a keyring names the path and versions, never key material."""
    ring = generate_keyring(key_path, ["eu"])
    text = repr(ring)
    assert "kek_versions" in text
    assert not any(s[:12] in text for s in _material_strings(key_path))


def test_pickling_a_keyring_raises(key_path: Path) -> None:
    """A keyring refuses pickling."""
    with pytest.raises(TypeError):
        pickle.dumps(generate_keyring(key_path, ["eu"]))


def test_keyring_is_a_key_store(key_path: Path) -> None:
    """The local keyring satisfies the KeyStore protocol, as does the test fake."""
    assert isinstance(generate_keyring(key_path, ["eu"]), KeyStore)
    assert isinstance(FakeKeyStore(), KeyStore)


async def test_wrap_for_an_unknown_region_raises(key_path: Path) -> None:
    """Wrapping for a region without a KEK names the fix."""
    ring = generate_keyring(key_path, ["eu"])
    with pytest.raises(KeyringError, match="keys rotate"):
        await ring.wrap("us", crypto.new_data_key(), b"")


async def test_rotate_adds_a_version_and_makes_it_current(key_path: Path) -> None:
    """rotate persists a new KEK version that becomes current."""
    clock = FrozenClock()
    ring = generate_keyring(key_path, ["eu"], clock=clock)
    assert await ring.rotate("eu") == "eu:2"
    assert await ring.current("eu") == "eu:2"
    assert await load_keyring(key_path).current("eu") == "eu:2"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


async def test_rotate_creates_a_new_region(key_path: Path) -> None:
    """Rotating a region that has no KEK yet creates its first version."""
    ring = generate_keyring(key_path, ["eu"])
    assert await ring.rotate("ap") == "ap:1"


async def test_rotate_by_two_processes_keeps_both_versions(key_path: Path) -> None:
    """Two keyring instances rotating in turn never lose a version (read-modify-write)."""
    a = generate_keyring(key_path, ["eu"])
    b = load_keyring(key_path)
    await a.rotate("eu")
    await b.rotate("eu")
    assert [i.key_id for i in load_keyring(key_path).kek_infos()] == ["eu:1", "eu:2", "eu:3"]


async def test_data_sealed_before_rotation_still_opens(key_path: Path, storage: Storage) -> None:
    """After rotate, messages sealed under the old KEK version open."""
    ring = generate_keyring(key_path, ["eu"])
    blob = await Sealer(ring, storage).seal(CTX, b"before")
    await ring.rotate("eu")
    assert await Sealer(ring, storage).open(CTX, blob) == b"before"


async def test_another_process_picks_up_a_rotation(key_path: Path, storage: Storage) -> None:
    """A keyring loaded before a rotation re-reads the file on meeting the new key id."""
    early = generate_keyring(key_path, ["eu"])
    later = load_keyring(key_path)
    await later.rotate("eu")
    blob = await Sealer(later, storage).seal(CTX, b"x")
    assert await Sealer(early, storage).open(CTX, blob) == b"x"


async def test_rewrap_moves_every_data_key_to_the_newest_version(
    key_path: Path, storage: Storage
) -> None:
    """After rotate + rewrap, all data keys are wrapped under the new version and open."""
    ring = generate_keyring(key_path, ["eu", "us"])
    sealer = Sealer(ring, storage)
    ctxs = [SealContext("t1", f"c{i}", f"m{i}", "eu" if i % 2 else "us") for i in range(5)]
    blobs = [await sealer.seal(c, b"p%d" % i) for i, c in enumerate(ctxs)]
    await ring.rotate("eu")
    await ring.rotate("us")
    report = await rewrap_data_keys(ring, storage)
    assert (report.seen, report.rewrapped, report.current) == (5, 5, 0)
    assert {r.key_id async for r in storage.iter_data_keys()} == {"eu:2", "us:2"}
    fresh = Sealer(ring, storage)
    assert [await fresh.open(c, b) for c, b in zip(ctxs, blobs, strict=True)] == [
        b"p%d" % i for i in range(5)
    ]


async def test_rewrap_twice_has_nothing_left_to_do(key_path: Path, storage: Storage) -> None:
    """A second rewrap finds every key already current."""
    ring = generate_keyring(key_path, ["eu"])
    await Sealer(ring, storage).seal(CTX, b"x")
    await ring.rotate("eu")
    await rewrap_data_keys(ring, storage)
    report = await rewrap_data_keys(ring, storage)
    assert (report.seen, report.rewrapped, report.current) == (1, 0, 1)


async def test_rewrapped_key_no_longer_needs_the_old_version(storage: Storage) -> None:
    """Once rewrapped, data opens even with a key store that lost the old KEK version."""
    keys = FakeKeyStore(regions=("eu",))
    blob = await Sealer(keys, storage).seal(CTX, b"x")
    await keys.rotate("eu")
    await rewrap_data_keys(keys, storage)
    keys._keks["eu"] = keys._keks["eu"][1:]  # the old version is retired
    assert await Sealer(keys, storage).open(CTX, blob) == b"x"


async def test_without_rewrap_retiring_the_old_version_breaks_opening(storage: Storage) -> None:
    """Control for the test above: the old version is really needed before a rewrap."""
    keys = FakeKeyStore(regions=("eu",))
    blob = await Sealer(keys, storage).seal(CTX, b"x")
    await keys.rotate("eu")
    keys._keks["eu"] = keys._keks["eu"][1:]
    with pytest.raises(DecryptionError):
        await Sealer(keys, storage).open(CTX, blob)


# --------------------------------------------------------------------------- CLI


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "chatwarden.toml"
    cfg.write_text('[keys]\nfile = "keys.json"\n\n[storage]\nurl = "sqlite:data/cw.db"\n')
    generate_keyring(tmp_path / "keys.json", ["eu", "us"])
    return cfg


def test_keys_rotate_command_prints_new_key_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys rotate --region eu` adds eu:2 and prints it as JSON."""
    cfg = _config(tmp_path)
    assert main(["keys", "rotate", "--config", str(cfg), "--region", "eu"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rotated": {"eu": "eu:2"}}


def test_keys_list_command_shows_no_key_material(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys list` shows ids and dates only."""
    cfg = _config(tmp_path)
    assert main(["keys", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert [k["key_id"] for k in json.loads(out)["keks"]] == ["eu:1", "us:1"]
    assert not any(s[:12] in out for s in _material_strings(tmp_path / "keys.json"))


async def test_keys_rewrap_command_uses_the_configured_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys rewrap` re-wraps the data keys in the storage named by the config."""
    cfg = _config(tmp_path)
    ring = load_keyring(tmp_path / "keys.json")
    s = await open_storage(f"sqlite://{tmp_path}/data/cw.db")
    await Sealer(ring, s).seal(CTX, b"x")
    await s.close()
    assert main(["keys", "rotate", "--config", str(cfg)]) == 0
    import asyncio

    code = await asyncio.get_running_loop().run_in_executor(
        None, main, ["keys", "rewrap", "--config", str(cfg)]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["rewrap"]["rewrapped"] == 1


def test_keys_command_without_a_key_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --config or --keys-file the command says what to pass."""
    assert main(["keys", "list"]) == 2
    assert "--keys-file" in capsys.readouterr().err


async def test_retire_refuses_while_data_keys_use_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keys retire` refuses a KEK version that still wraps stored data keys."""
    cfg = _config(tmp_path)
    ring = load_keyring(tmp_path / "keys.json")
    s = await open_storage(f"sqlite://{tmp_path}/data/cw.db")
    await Sealer(ring, s).seal(CTX, b"x")
    await s.close()
    await ring.rotate("eu")
    code = await _cli(["keys", "retire", "--config", str(cfg), "--key-id", "eu:1"])
    assert code == 2 and "keys rewrap" in capsys.readouterr().err
    assert load_keyring(tmp_path / "keys.json").kek("eu:1") is not None


async def test_retire_after_rewrap_destroys_the_old_version(tmp_path: Path) -> None:
    """After rewrap, retiring the old version removes it and data still opens."""
    cfg = _config(tmp_path)
    ring = load_keyring(tmp_path / "keys.json")
    s = await open_storage(f"sqlite://{tmp_path}/data/cw.db")
    blob = await Sealer(ring, s).seal(CTX, b"x")
    await ring.rotate("eu")
    await rewrap_data_keys(ring, s)
    code = await _cli(["keys", "retire", "--config", str(cfg), "--key-id", "eu:1"])
    after = load_keyring(tmp_path / "keys.json")
    assert code == 0 and after.kek("eu:1") is None
    assert await Sealer(after, s).open(CTX, blob) == b"x"
    await s.close()


def test_current_version_cannot_be_retired(key_path: Path) -> None:
    """Retiring the version that wraps new data keys is refused."""
    ring = generate_keyring(key_path, ["eu"])
    with pytest.raises(KeyringError, match="rotate first"):
        ring.retire_sync("eu:1")


async def _cli(argv: list[str]) -> int:
    """Run the CLI off the event loop (it runs its own loop for storage work)."""
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, main, argv)

"""The keyring: key-encryption keys per region, HMAC keys, the audit signing key.

:class:`KeyStore` is the small interface the sealing code needs (wrap and unwrap a data
key, rotate a region's KEK, name its current version), so an external KMS can sit behind
it. :class:`Keyring` is the local implementation: one JSON key file, mode 0600, written
atomically (temporary file in the same directory, fsync, rename, fsync of the directory)
under an exclusive ``flock`` on ``<file>.lock`` so two ``keys rotate`` never lose a version.

Key file (JSON, all keys standard base64 of raw bytes)::

    {"format": "chatwarden.keyring", "version": 1, "created_at": "<RFC 3339>",
     "keks":  {"<region>": [{"version": 1, "key": "<32 bytes>", "created_at": "..."}, ...]},
     "hmac":  {"view": "<32 bytes>", "placeholder": "<32 bytes>", "token": "<32 bytes>"},
     "audit_signing": {"key": "<32-byte Ed25519 seed>", "created_at": "..."}}

A KEK's key id is ``<region>:<version>`` (e.g. ``eu:2``); the newest version wraps new
data keys, older versions stay so existing data keys still unwrap until
``chatwarden keys rewrap`` has moved them to the newest version. HMAC keys: ``view`` for
keyed-hash views, ``placeholder`` for per-conversation placeholder state, ``token`` as the
pepper of API token hashes. A file readable by group or others is refused.

Other replicas pick up a rotation when they meet a key id they do not know: the file is
re-read once before an unwrap gives up.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from proxy import crypto
from proxy.crypto import AeadKey, HmacKey, SigningKey
from proxy.errors import KeyringError

__all__ = [
    "HMAC_KEY_NAMES",
    "KekInfo",
    "KeyStore",
    "Keyring",
    "generate_keyring",
    "kek_key_id",
    "load_keyring",
    "parse_kek_key_id",
]

FORMAT = "chatwarden.keyring"
FORMAT_VERSION = 1
HMAC_KEY_NAMES = ("view", "placeholder", "token")
_REGION = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@runtime_checkable
class KeyStore(Protocol):
    """Key-encryption keys behind a small interface (local file or an external KMS)."""

    async def wrap(self, region: str, dek: AeadKey, aad: bytes) -> tuple[str, bytes]:
        """Wrap ``dek`` under ``region``'s current KEK, binding ``aad`` (and the DEK id);
        return ``(key_id, wrapped)`` where ``key_id`` names the KEK version used."""
        ...

    async def unwrap(self, key_id: str, dek_id: bytes, wrapped: bytes, aad: bytes) -> AeadKey:
        """Inverse of :meth:`wrap`. Raises DecryptionError for any mismatch, including an
        unknown ``key_id``."""
        ...

    async def rotate(self, region: str) -> str:
        """Add a new KEK version for ``region`` and make it current; return its key id."""
        ...

    async def current(self, region: str) -> str:
        """The key id of ``region``'s current KEK; KeyringError for an unknown region."""
        ...


def kek_key_id(region: str, version: int) -> str:
    return f"{region}:{version}"


def parse_kek_key_id(key_id: str) -> tuple[str, int]:
    region, _, version = key_id.rpartition(":")
    if not _REGION.fullmatch(region) or not version.isdigit():
        raise KeyringError("not a KEK key id; expected <region>:<version>")
    return region, int(version)


@dataclass(frozen=True, slots=True)
class KekInfo:
    """What ``keys list`` shows about one KEK version (no key bytes)."""

    key_id: str
    region: str
    version: int
    created_at: datetime
    current: bool


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(
            f"key file: {what} is not base64; restore the file from backup"
        ) from None


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC)
    except ValueError:
        raise KeyringError("key file: a created_at is not an RFC 3339 time") from None


def _check_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise KeyringError("a region name is 1-32 lower-case letters, digits, - or _")
    return region


class Keyring:
    """The local key file, loaded. Implements :class:`KeyStore`.

    Build with :func:`load_keyring` or :func:`generate_keyring`. Never pickles; its repr
    shows the path, regions and versions only.
    """

    __slots__ = ("_clock", "_hmac", "_kek_times", "_keks", "_path", "_signing", "_signing_time")

    def __init__(
        self,
        path: Path,
        keks: dict[str, list[AeadKey]],
        kek_times: dict[str, datetime],
        hmac_keys: dict[str, HmacKey],
        signing: SigningKey,
        signing_time: datetime,
        clock: Clock = _utcnow,
    ) -> None:
        self._path = path
        self._keks = keks
        self._kek_times = kek_times
        self._hmac = hmac_keys
        self._signing = signing
        self._signing_time = signing_time
        self._clock = clock

    # -- inspection
    @property
    def path(self) -> Path:
        return self._path

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self._keks))

    def kek_infos(self) -> list[KekInfo]:
        out = []
        for region in self.regions:
            versions = self._keks[region]
            for i, k in enumerate(versions):
                _, v = parse_kek_key_id(k.key_id)
                out.append(KekInfo(k.key_id, region, v, self._kek_times[k.key_id],
                                   i == len(versions) - 1))
        return out

    def __repr__(self) -> str:
        versions = {r: len(v) for r, v in sorted(self._keks.items())}
        return f"Keyring(path={str(self._path)!r}, kek_versions={versions!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a Keyring holds key material and cannot be pickled")

    # -- keys
    def current_kek(self, region: str) -> AeadKey:
        try:
            return self._keks[region][-1]
        except KeyError:
            raise KeyringError(
                "no key-encryption key for this region; add the region with "
                "`chatwarden keys rotate --region NAME`"
            ) from None

    def kek(self, key_id: str) -> AeadKey | None:
        """The KEK named ``key_id`` (any version), or None."""
        try:
            region, _version = parse_kek_key_id(key_id)
        except KeyringError:
            return None
        for k in self._keks.get(region, ()):
            if k.key_id == key_id:
                return k
        return None

    def hmac_key(self, name: str) -> HmacKey:
        """One of :data:`HMAC_KEY_NAMES`."""
        try:
            return self._hmac[name]
        except KeyError:
            raise KeyringError(f"no HMAC key named {name!r} in the key file") from None

    def audit_signing_key(self) -> SigningKey:
        return self._signing

    # -- KeyStore
    async def wrap(self, region: str, dek: AeadKey, aad: bytes) -> tuple[str, bytes]:
        kek = self.current_kek(region)
        return kek.key_id, crypto.wrap_data_key(kek, dek, aad)

    async def unwrap(self, key_id: str, dek_id: bytes, wrapped: bytes, aad: bytes) -> AeadKey:
        return self.unwrap_sync(key_id, dek_id, wrapped, aad)

    def unwrap_sync(self, key_id: str, dek_id: bytes, wrapped: bytes, aad: bytes) -> AeadKey:
        kek = self.kek(key_id)
        if kek is None:
            # Perhaps another process rotated: re-read the file once.
            with contextlib.suppress(KeyringError, OSError):
                self.reload()
            kek = self.kek(key_id)
        if kek is None:
            raise crypto.DecryptionError(crypto.DECRYPTION_FAILED)
        return crypto.unwrap_data_key(kek, dek_id, wrapped, aad)

    async def rotate(self, region: str) -> str:
        return self.rotate_sync(region)

    async def current(self, region: str) -> str:
        return self.current_kek(region).key_id

    # -- file operations
    def rotate_sync(self, region: str) -> str:
        """Add a KEK version for ``region`` (creating the region) and persist it."""
        _check_region(region)
        with _locked(self._path):
            self._replace_from(load_keyring(self._path, clock=self._clock))
            versions = self._keks.setdefault(region, [])
            version = (parse_kek_key_id(versions[-1].key_id)[1] + 1) if versions else 1
            kek = AeadKey.generate(kek_key_id(region, version))
            versions.append(kek)
            self._kek_times[kek.key_id] = self._clock()
            _write_atomic(self._path, self._to_json())
        return kek.key_id

    def retire_sync(self, key_id: str) -> None:
        """Destroy an old KEK version (not the current one) and persist the file.

        Callers check first that no stored data key is still wrapped under it (``keys
        retire`` does, via storage): afterwards such keys could never be unwrapped. This
        is what makes shredding final even where deleted rows linger (PostgreSQL dead
        tuples, backups): a wrapped data key copy is useless once its KEK is gone.
        """
        region, _ = parse_kek_key_id(key_id)
        with _locked(self._path):
            self._replace_from(load_keyring(self._path, clock=self._clock))
            versions = self._keks.get(region, [])
            if not any(k.key_id == key_id for k in versions):
                raise KeyringError("no such KEK version in the key file; see `keys list`")
            if versions[-1].key_id == key_id:
                raise KeyringError("cannot retire a region's current KEK; rotate first")
            self._keks[region] = [k for k in versions if k.key_id != key_id]
            del self._kek_times[key_id]
            _write_atomic(self._path, self._to_json())

    def reload(self) -> None:
        """Re-read the key file (after another process rotated)."""
        self._replace_from(load_keyring(self._path, clock=self._clock))

    def _replace_from(self, other: Keyring) -> None:
        self._keks, self._kek_times = other._keks, other._kek_times
        self._hmac, self._signing = other._hmac, other._signing
        self._signing_time = other._signing_time

    def _to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "keks": {
                region: [
                    {
                        "version": parse_kek_key_id(k.key_id)[1],
                        "key": _b64(crypto.key_material(k)),
                        "created_at": self._kek_times[k.key_id].isoformat(),
                    }
                    for k in versions
                ]
                for region, versions in sorted(self._keks.items())
            },
            "hmac": {name: _b64(crypto.key_material(k)) for name, k in sorted(self._hmac.items())},
            "audit_signing": {
                "key": _b64(crypto.key_material(self._signing)),
                "created_at": self._signing_time.isoformat(),
            },
        }
        return (json.dumps(doc, indent=1) + "\n").encode("ascii")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically and durably."""
    directory = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def generate_keyring(
    path: Path, regions: Iterable[str] = ("default",), *, clock: Clock = _utcnow
) -> Keyring:
    """Create a new key file at ``path`` (mode 0600) with one KEK per region, the HMAC
    keys and an audit signing key. Refuses to overwrite an existing file."""
    path = Path(path)
    regions = sorted({_check_region(r) for r in regions})
    if not regions:
        raise KeyringError("a keyring needs at least one region")
    if path.exists():
        raise KeyringError("the key file already exists; refusing to overwrite keys")
    now = clock()
    keks = {r: [AeadKey.generate(kek_key_id(r, 1))] for r in regions}
    ring = Keyring(
        path,
        keks,
        {k[0].key_id: now for k in keks.values()},
        {name: HmacKey.generate(name) for name in HMAC_KEY_NAMES},
        crypto.generate_signing_key(),
        now,
        clock,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if path.exists():
            raise KeyringError("the key file already exists; refusing to overwrite keys")
        _write_atomic(path, ring._to_json())
    return ring


def load_keyring(path: Path, *, clock: Clock = _utcnow) -> Keyring:
    """Load the key file at ``path``; KeyringError (naming the problem, never a key) if it
    is missing, readable by others or malformed."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        raise KeyringError("cannot read the key file; check [keys] file in the config") from None
    try:
        st = os.fstat(fd)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError("the key file is accessible by group or others; chmod 600 it")
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read()
    finally:
        os.close(fd)
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError("not a chatwarden key file")
        if doc.get("version") != FORMAT_VERSION:
            raise KeyringError("unsupported key file version; upgrade chatwarden")
        keks: dict[str, list[AeadKey]] = {}
        times: dict[str, datetime] = {}
        for region, versions in dict(doc["keks"]).items():
            _check_region(region)
            seen = []
            for entry in sorted(versions, key=lambda e: int(e["version"])):
                kid = kek_key_id(region, int(entry["version"]))
                seen.append(AeadKey(kid, _unb64(entry["key"], "a KEK")))
                times[kid] = _time(entry["created_at"])
            if not seen:
                raise KeyringError("key file: a region has no KEK versions")
            keks[region] = seen
        hmac_keys = {
            str(name): HmacKey(str(name), _unb64(v, "an HMAC key"))
            for name, v in dict(doc["hmac"]).items()
        }
        sig = dict(doc["audit_signing"])
        signing = crypto.load_signing_key(_unb64(sig["key"], "the audit signing key"))
        signing_time = _time(sig["created_at"])
    except KeyringError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyringError("the key file is malformed; restore it from backup") from None
    return Keyring(path, keks, times, hmac_keys, signing, signing_time, clock)

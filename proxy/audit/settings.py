"""The audit trail's settings, read from the service's TOML configuration.

Keys read (all optional; relative paths are relative to the config file's directory)::

    [storage]
    url = "sqlite:///var/lib/chatwarden/chatwarden.db"   # the audit tables live here too

    [audit]
    url = "..."                 # a separate audit database, if wanted (default: storage url)
    public_key = "audit.pub"    # the audit Ed25519 public key file, for verifiers
    verify_state = "audit-verify-state.json"   # the verifier's pin (see audit verify)
    timeout = 2.0               # seconds a read waits for its audit record, then 503
    checkpoint_every = 100      # sign a checkpoint every N events...
    checkpoint_interval = 60    # ...and at least this often (seconds) while events arrive
    max_pending = 64            # audit writes in flight before reads fail fast

    [keys]
    file = "keys.json"          # the keyring holding the audit signing key

Command-line flags override the file; a missing section is not an error, a wrong type is.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from proxy.audit.log import CheckpointPolicy
from proxy.errors import UsageError


@dataclass(frozen=True, slots=True)
class AuditSettings:
    store_url: str | None = None
    public_key_file: Path | None = None
    state_file: Path | None = None
    keys_file: Path | None = None
    timeout: float = 2.0
    checkpoint_every: int = 100
    checkpoint_interval: float | None = 60.0
    max_pending: int = 64

    @property
    def policy(self) -> CheckpointPolicy:
        interval = timedelta(seconds=self.checkpoint_interval) if self.checkpoint_interval else None
        return CheckpointPolicy(every=self.checkpoint_every, interval=interval)


def load_settings(config: Path | None, **overrides: Any) -> AuditSettings:
    """Settings from ``config`` (TOML) with non-None ``overrides`` applied on top."""
    values: dict[str, Any] = {}
    if config is not None:
        try:
            doc = tomllib.loads(config.read_text(encoding="utf-8"))
        except OSError:
            raise UsageError("cannot read the config file; check --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"config file is not valid TOML ({exc})") from None
        base = config.resolve().parent
        storage = _table(doc, "storage")
        audit = _table(doc, "audit")
        keys = _table(doc, "keys")
        url = audit.get("url", storage.get("url"))
        if url is None and "path" in storage:
            url = str(_path(base, storage["path"], "[storage] path"))
        if url is not None:
            values["store_url"] = _resolve_url(base, _str(url, "[storage] url"))
        for key, name in (("public_key", "public_key_file"), ("verify_state", "state_file")):
            if key in audit:
                values[name] = _path(base, audit[key], f"[audit] {key}")
        if "file" in keys:
            values["keys_file"] = _path(base, keys["file"], "[keys] file")
        for key, kind in (
            ("timeout", float),
            ("checkpoint_every", int),
            ("checkpoint_interval", float),
            ("max_pending", int),
        ):
            if key in audit:
                v = audit[key]
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise UsageError(f"[audit] {key} must be a number")
                values[key] = kind(v)
    values.update({k: v for k, v in overrides.items() if v is not None})
    s = AuditSettings(**values)
    if s.timeout <= 0 or s.checkpoint_every < 1 or s.max_pending < 1:
        raise UsageError("[audit] timeout, checkpoint_every and max_pending must be positive")
    return s


def _table(doc: dict[str, Any], name: str) -> dict[str, Any]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise UsageError(f"[{name}] must be a table")
    return t


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise UsageError(f"{what} must be a non-empty string")
    return v


def _path(base: Path, v: Any, what: str) -> Path:
    p = Path(_str(v, what)).expanduser()
    return p if p.is_absolute() else base / p


def _resolve_url(base: Path, url: str) -> str:
    """Make a relative SQLite path in the url relative to the config directory."""
    if url.startswith("sqlite:///") or url.startswith("postgres"):
        return url
    if url.startswith("sqlite:"):
        rest = url[len("sqlite:") :].removeprefix("//")
        return "sqlite:///" + str(_path(base, rest, "[storage] url"))
    if "://" not in url:
        return "sqlite:///" + str(_path(base, url, "[storage] url"))
    return url

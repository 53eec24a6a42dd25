"""``chatwarden init DIR``: a ready configuration in DIR.

Creates ``DIR/keys.json`` (fresh keys: a KEK per region, HMAC keys, the audit signing
key; mode 0600), one API token per built-in role, and ``DIR/chatwarden.toml`` (mode
0600) holding only keyed hashes of the tokens and storage on SQLite in DIR. The tokens
are printed once, as one JSON object ``{"role": "token", ...}`` on stdout; they cannot
be recovered later. Refuses to touch an existing config or key file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from proxy import crypto
from proxy.auth import mint_token
from proxy.config import ROLES, TokenEntry, render_config
from proxy.errors import UsageError
from proxy.keys import generate_keyring

__all__ = ["CONFIG_NAME", "KEYS_NAME", "Created", "add_parser", "init_dir"]

CONFIG_NAME = "chatwarden.toml"
KEYS_NAME = "keys.json"
DB_NAME = "chatwarden.db"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="create a config, keys and API tokens in a directory")
    p.add_argument(
        "dir", type=Path, help="directory for chatwarden.toml, keys.json and the database"
    )
    p.add_argument(
        "--region",
        action="append",
        default=None,
        help="key region (repeatable; the first is the default region)",
    )
    p.add_argument("--tenant", default="default", help="tenant id")
    p.add_argument(
        "--storage-url", default=None, help=f"storage URL (default: sqlite:{DB_NAME} in DIR)"
    )
    p.add_argument("--workers", type=int, default=1, help="detection processes")
    p.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class Created:
    config: Path
    tokens: dict[str, str]

    def __repr__(self) -> str:  # never show the tokens
        return f"Created(config={str(self.config)!r}, roles={sorted(self.tokens)})"


def _write_new(path: Path, data: str) -> None:
    """Write ``data`` to a file that must not exist yet, mode 0600, durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def init_dir(
    directory: Path,
    *,
    regions: tuple[str, ...] = ("default",),
    tenant: str = "default",
    storage_url: str | None = None,
    workers: int = 1,
    port: int = 8080,
) -> Created:
    """Create the config, keys and tokens (see the module docstring)."""
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    keys_path = directory / KEYS_NAME
    if config_path.exists():
        raise UsageError(
            f"{config_path} already exists; refusing to overwrite it. Use another directory, "
            "or remove the old config and keys on purpose first"
        )
    if keys_path.exists():
        raise UsageError(
            f"{keys_path} already exists; refusing to overwrite keys. Use another directory"
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ring = generate_keyring(keys_path, regions)
    token_key = ring.hmac_key("token")
    tokens: dict[str, str] = {}
    entries: list[TokenEntry] = []
    for role in ROLES:
        token, entry = mint_token(role, lambda b: crypto.keyed_digest(token_key, b))
        tokens[role] = token
        entries.append(entry)
    text = render_config(
        keys_file=KEYS_NAME,
        storage_url=storage_url or f"sqlite:{DB_NAME}",
        tokens=tuple(entries),
        tenant=tenant,
        regions=regions,
        workers=workers,
        port=port,
    )
    try:
        _write_new(config_path, text)
    except FileExistsError:
        raise UsageError(f"{config_path} appeared meanwhile; refusing to overwrite it") from None
    return Created(config_path, tokens)


def run(args: argparse.Namespace) -> int:
    regions = tuple(dict.fromkeys(args.region or ["default"]))
    if args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    created = init_dir(
        args.dir,
        regions=regions,
        tenant=args.tenant,
        storage_url=args.storage_url,
        workers=args.workers,
    )
    print(json.dumps(created.tokens))
    print(
        f"chatwarden: wrote {created.config} and {created.config.parent / KEYS_NAME}; the tokens "
        "above are shown only once. Start with: chatwarden serve --config "
        f"{created.config}",
        file=sys.stderr,
    )
    return 0

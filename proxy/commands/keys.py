"""``chatwarden keys``: manage the keyring.

* ``keys list --config C``                 KEK versions per region (ids and dates, no keys)
* ``keys rotate --config C [--region R]``  add a new KEK version (all regions by default);
  data sealed before still opens — its data keys stay wrapped under the old version until
* ``keys rewrap --config C [--region R]``  re-wraps every stored data key under the newest
  KEK version of its region. Needs the storage; safe to run while the proxy serves.
* ``keys retire --config C --key-id eu:1``  destroys an old KEK version, after checking
  that no stored data key is still wrapped under it (run ``rewrap`` first). Needs the
  storage. Copies of shredded data keys that linger in backups or PostgreSQL dead tuples
  become useless once the KEK version they were wrapped under is retired.

Config keys read: ``[keys] file`` and ``[storage] url`` (relative paths are relative to
the config file's directory); ``--keys-file`` / ``--storage-url`` override them. Output is
one JSON object on stdout.

Every ``rotate``, ``rewrap`` and ``retire`` is an audit event (``key.rotate``,
``key.rewrap``, ``key.retire``) in the trail of ``[audit] url`` / ``[storage] url``.
``rotate`` and ``retire`` are recorded *before* they act: if the trail cannot take the
event the command fails (exit 2) and the keyring is unchanged. ``rewrap`` changes no key
material anyone depends on, so it is recorded after it ran, with its counts; a failed
record exits 2 and a rerun (which has nothing left to do) records it. Without a config or
storage URL there is no trail and the command says so on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from proxy.errors import UsageError
from proxy.keys import Keyring, load_keyring


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="list, rotate and rewrap encryption keys")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    for name, help_ in (
        ("list", "show KEK versions per region"),
        ("rotate", "add a new KEK version"),
        ("rewrap", "re-wrap stored data keys under the newest KEK version"),
        ("retire", "destroy an old KEK version no data key uses any more"),
    ):
        q = ksub.add_parser(name, help=help_)
        q.add_argument("--config", type=Path, default=None, help="chatwarden.toml")
        q.add_argument("--keys-file", type=Path, default=None, help="key file (overrides config)")
        if name in ("rotate", "rewrap"):
            q.add_argument("--region", action="append", default=None,
                           help="region to act on (repeatable; default: every region)")
        if name == "retire":
            q.add_argument("--key-id", required=True, help="KEK version to destroy, e.g. eu:1")
        if name in ("rewrap", "retire"):
            q.add_argument("--storage-url", default=None, help="storage URL (overrides config)")
        q.set_defaults(func=run)


def _resolve(base: Path, url: str) -> str:
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        rest = url[len("sqlite:") :].removeprefix("//")
        if rest not in (":memory:",):
            return "sqlite:///" + str((base / rest).resolve())
    if "://" not in url and not url.startswith("sqlite:"):
        return "sqlite:///" + str((base / url).resolve())
    return url


def read_config(config: Path | None) -> tuple[Path | None, str | None]:
    """``([keys] file, [storage] url)`` from the config, resolved against its directory."""
    if config is None:
        return None, None
    try:
        doc: dict[str, Any] = tomllib.loads(config.read_text(encoding="utf-8"))
    except OSError:
        raise UsageError("cannot read the config file; check --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file is not valid TOML ({exc})") from None
    base = config.resolve().parent
    keys_file = doc.get("keys", {}).get("file")
    url = doc.get("storage", {}).get("url")
    if url is None and "path" in doc.get("storage", {}):
        url = str(doc["storage"]["path"])
    if keys_file is not None and not isinstance(keys_file, str):
        raise UsageError("[keys] file must be a string path")
    if url is not None and not isinstance(url, str):
        raise UsageError("[storage] url must be a string")
    return (
        (base / keys_file) if keys_file else None,
        _resolve(base, url) if url else None,
    )


def _actor() -> Any:
    from proxy.audit.events import Actor

    try:
        user = getpass.getuser() or "unknown"
    except (KeyError, OSError):
        user = "unknown"
    return Actor(token_id=f"cli:{user}"[:200], role="admin")


def _recorder(args: argparse.Namespace, ring: Keyring, storage_url: str | None) -> Any:
    """A function recording one key event, or None when there is no audit store."""
    from proxy.audit.events import AuditEvent, Decision
    from proxy.audit.runtime import record_once
    from proxy.audit.settings import AuditSettings, load_settings

    settings = load_settings(args.config) if args.config is not None else AuditSettings()
    if settings.store_url is None and storage_url is not None:
        settings = AuditSettings(store_url=storage_url)
    if settings.store_url is None:
        return None
    actor = _actor()

    def record(kind: str, reason: str, detail: tuple[tuple[str, str | int], ...]) -> None:
        event = AuditEvent(
            kind=kind,
            actor=actor,
            decision=Decision(allow=True, rule=f"cli.{kind}", reason=reason),
            detail=detail,
        )
        try:
            _run_sync(lambda: record_once(settings, ring, event))
        except Exception as exc:  # any store failure: the key change must not go unrecorded
            raise UsageError(
                f"the audit trail cannot record this key change ({type(exc).__name__}); "
                "nothing was changed -- check [audit] url / [storage] url and retry"
            ) from None

    return record


def _run_sync(make: Any) -> Any:
    """``asyncio.run(make())``, in a helper thread when this thread already runs a loop
    (the command called from async code, as tests do)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def run(args: argparse.Namespace) -> int:
    cfg_keys, cfg_url = read_config(args.config)
    keys_file = args.keys_file or cfg_keys
    if keys_file is None:
        raise UsageError("no key file: give --config with [keys] file, or --keys-file")
    ring = load_keyring(keys_file)
    regions = tuple(args.region) if getattr(args, "region", None) else ring.regions
    url = getattr(args, "storage_url", None) or cfg_url
    record = None
    if args.keys_command != "list":
        record = _recorder(args, ring, url)
        if record is None:
            print(
                "note: no [storage] url or [audit] url, so this key change is not audited; "
                "pass --config",
                file=sys.stderr,
            )
    out: dict[str, Any]
    if args.keys_command == "list":
        out = {"keks": [
            {**asdict(i), "created_at": i.created_at.isoformat()} for i in ring.kek_infos()
        ]}
    elif args.keys_command == "rotate":
        if record is not None:
            record(
                "key.rotate",
                "a new key-encryption key version was requested",
                (("regions", ",".join(regions)[:200]), ("region_count", len(regions))),
            )
        out = {"rotated": {r: ring.rotate_sync(r) for r in regions}}
    else:
        if url is None:
            raise UsageError("no storage: give --config with [storage] url, or --storage-url")
        if args.keys_command == "rewrap":
            report = asyncio.run(_rewrap(ring, url, regions))
            out = {"rewrap": report}
            if record is not None:
                record(
                    "key.rewrap",
                    "data keys re-wrapped under the newest key versions",
                    tuple(sorted(report.items())),
                )
        else:
            in_use = asyncio.run(_count_wrapped_under(url, args.key_id))
            if in_use:
                raise UsageError(
                    f"{in_use} stored data key(s) are still wrapped under this KEK version; "
                    "run `chatwarden keys rewrap` first"
                )
            if record is not None:
                record(
                    "key.retire",
                    "an unused key-encryption key version is destroyed",
                    (("key_id", str(args.key_id)[:200]),),
                )
            ring.retire_sync(args.key_id)
            out = {"retired": args.key_id}
    print(json.dumps(out, sort_keys=True))
    return 0


async def _rewrap(ring: Keyring, url: str, regions: tuple[str, ...]) -> dict[str, int]:
    from proxy.sealing import rewrap_data_keys
    from proxy.storage import open_storage

    storage = await open_storage(url)
    try:
        report = await rewrap_data_keys(ring, storage, regions=regions)
    finally:
        await storage.close()
    return asdict(report)


async def _count_wrapped_under(url: str, key_id: str) -> int:
    from proxy.storage import open_storage

    storage = await open_storage(url)
    try:
        return sum([1 async for rec in storage.iter_data_keys() if rec.key_id == key_id])
    finally:
        await storage.close()

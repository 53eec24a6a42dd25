"""``chatwarden retention run --config DIR/chatwarden.toml [--now TIME]``.

One retention pass outside ``serve`` (which also runs one periodically): expires cases
past their expiry and releases their holds, deletes messages past their purpose's
retention unless held, shreds the data key of every conversation left empty, and records
it all in the audit trail first. Prints the counts as one JSON object. ``--now`` runs the
pass as of another time (a dry look at what a date would destroy is NOT offered: every
run destroys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from proxy.errors import UsageError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retention", help="destroy messages past their retention")
    psub = p.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    r = psub.add_parser("run", help="one retention pass")
    r.add_argument("--config", required=True, type=Path, help="chatwarden.toml")
    r.add_argument("--now", default=None, help="run as of this ISO 8601 time (default: now)")
    r.set_defaults(func=run)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError("--now must be an ISO 8601 time such as 2027-01-01T00:00:00Z") from None
    if t.tzinfo is None:
        raise UsageError("--now needs a UTC offset, e.g. 2027-01-01T00:00:00Z")
    return t.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    now = _now(args.now)
    report = asyncio.run(_run(args.config, now))
    print(json.dumps(report))
    return 0


async def _run(config_path: Path, now: datetime) -> dict[str, int]:
    from proxy.audit.log import AuditTrail
    from proxy.audit.runtime import signer_of
    from proxy.audit.settings import load_settings as audit_settings
    from proxy.audit.store import store_from_url
    from proxy.config import load_config
    from proxy.keys import load_keyring
    from proxy.policy_runtime import load_service_policy, load_settings, open_case_store
    from proxy.retention import run_retention
    from proxy.sealing import Sealer
    from proxy.storage import open_storage

    config = load_config(config_path)
    policy = load_service_policy(load_settings(config.path))  # a bad file stops the run too
    ring = load_keyring(config.keys.file)
    storage = await open_storage(config.storage.url)
    try:
        cases = await open_case_store(config.storage.url)
        if cases is None:
            raise UsageError("retention needs a file or PostgreSQL storage, not an in-memory one")
        settings = audit_settings(config_path)
        url = settings.store_url or config.storage.url
        store = store_from_url(url, timeout=settings.timeout)
        await store.open()
        try:
            trail = AuditTrail(
                store, signer_of(ring), timeout=settings.timeout, policy=settings.policy
            )
            report = await run_retention(
                cases, Sealer(ring, storage), trail, now, retention_days=policy.retention_days
            )
        finally:
            await store.close()
            await cases.close()
    finally:
        await storage.close()
    return {
        "cases_expired": report.cases_expired,
        "messages_deleted": report.messages_deleted,
        "messages_kept_on_hold": report.messages_kept_on_hold,
        "conversations_shredded": report.conversations_shredded,
    }

"""``chatwarden audit ...``: verify the trail, prove events, prove consistency, check
bundles and proofs offline.

    chatwarden audit verify [--config C] [--store URL] [--public-key K] [--state FILE]
        Recompute everything; exit 1 at the first broken link, naming the event index
        and id or the checkpoint number and what is wrong. With --state, the verifier
        pins what it saw and next time rejects a log that shrank or forked.
    chatwarden audit prove EVENT_ID [...]
        Print an inclusion proof (JSON) of the event against the latest checkpoint.
    chatwarden audit consistency [--from N | --from-pin FILE] [--to M] [...]
        Print a consistency proof between checkpoints #N (or the one a verifier pinned)
        and #M (default: first, latest). A pin holder checks it with verify-proof and so
        learns, without reading the log, that the log only grew since it last looked.
    chatwarden audit verify-proof FILE --public-key K
        Check an inclusion or consistency proof offline.
    chatwarden audit verify-bundle BUNDLE --public-key K
        Check an evidence bundle offline.
    chatwarden audit public-key [--config C]
        Print the audit public key file (for auditors).
    chatwarden audit checkpoint [--config C]
        Sign a checkpoint of the current log now.

Exit codes: 0 verified, 1 verification failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from proxy.audit.checkpoint import SignatureVerifier, SignedCheckpoint
from proxy.audit.errors import AuditError, EventNotFound, VerificationFailed
from proxy.audit.log import AuditStore
from proxy.audit.proofs import (
    build_consistency,
    build_inclusion,
    check_consistency,
    check_inclusion,
)
from proxy.audit.settings import AuditSettings, load_settings
from proxy.audit.store import store_from_url
from proxy.audit.verify import Pin, verify_store
from proxy.errors import UsageError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="verify the audit trail, prove events, check bundles")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser, *, state: bool = False) -> None:
        q.add_argument("--config", type=Path, help="chatwarden.toml")
        q.add_argument("--store", help="audit store url (overrides the config)")
        q.add_argument("--public-key", type=Path, help="audit public key file")
        if state:
            q.add_argument("--state", type=Path, help="verifier pin file (read, then updated)")

    v = asub.add_parser("verify", help="recompute the whole trail; name the first broken link")
    common(v, state=True)
    v.add_argument("--no-update", action="store_true", help="do not update the pin file")
    v.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    v.set_defaults(func=run_verify)

    pr = asub.add_parser("prove", help="inclusion proof of an event against the latest checkpoint")
    pr.add_argument("event_id")
    common(pr)
    pr.set_defaults(func=run_prove)

    c = asub.add_parser("consistency", help="consistency proof between two checkpoints")
    common(c)
    c.add_argument("--from", dest="old", type=int, default=1, help="older checkpoint number")
    c.add_argument("--to", dest="new", type=int, default=0, help="newer checkpoint (0: latest)")
    c.add_argument(
        "--from-pin",
        type=Path,
        help="start from the checkpoint pinned in this verifier state file instead of --from",
    )
    c.set_defaults(func=run_consistency)

    vp = asub.add_parser("verify-proof", help="check an inclusion or consistency proof offline")
    vp.add_argument("proof", type=Path)
    vp.add_argument("--public-key", type=Path, required=True)
    vp.set_defaults(func=run_verify_proof)

    vb = asub.add_parser("verify-bundle", help="check an evidence bundle offline")
    vb.add_argument("bundle", type=Path)
    vb.add_argument("--public-key", type=Path, required=True)
    vb.set_defaults(func=run_verify_bundle)

    pk = asub.add_parser("public-key", help="print the audit public key file")
    pk.add_argument("--config", type=Path)
    pk.set_defaults(func=run_public_key)

    cp = asub.add_parser("checkpoint", help="sign a checkpoint of the current log now")
    cp.add_argument("--config", type=Path)
    cp.add_argument("--store", help="audit store url (overrides the config)")
    cp.set_defaults(func=run_checkpoint)


# --------------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace) -> AuditSettings:
    settings = load_settings(
        getattr(args, "config", None),
        store_url=getattr(args, "store", None),
        public_key_file=getattr(args, "public_key", None),
        state_file=getattr(args, "state", None),
    )
    if settings.store_url is None:
        raise UsageError("no audit store: give --config with [storage] url, or --store URL")
    return settings


def verifier_for(settings: AuditSettings) -> SignatureVerifier:
    """The audit public key: the configured file, else derived from the keyring."""
    from proxy.audit import signing

    if settings.public_key_file is not None:
        return signing.load_public_key(settings.public_key_file)
    return signing.signer_from_settings(settings).verifier()


def _open_store(settings: AuditSettings, *, read_only: bool) -> AuditStore:
    if settings.store_url is None:
        raise UsageError("no audit store: give --config with [storage] url, or --store URL")
    return store_from_url(settings.store_url, read_only=read_only, timeout=settings.timeout)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _fail(message: str) -> int:
    print(f"chatwarden audit: FAILED: {message}", file=sys.stderr)
    return 1


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise UsageError("cannot read the file; check its path") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationFailed("file is not JSON (damaged or not a chatwarden proof)") from None


# --------------------------------------------------------------------- commands


def run_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    verifier = verifier_for(settings)
    pin = Pin.load(settings.state_file) if settings.state_file else None

    async def go() -> Any:
        store = _open_store(settings, read_only=True)
        try:
            await store.open()
        except AuditError:
            if pin is not None and pin.size > 0:
                # The pin saw a trail; a database without one is the ultimate truncation.
                raise VerificationFailed(
                    f"event index 0: log shrank: the pin saw {pin.size} events, the "
                    "database holds no audit trail (tables dropped or another database)"
                ) from None
            raise
        try:
            return await verify_store(store, verifier, pin), store.origin
        except Exception as exc:
            if isinstance(exc, AuditError):
                raise
            raise VerificationFailed(
                f"the audit tables cannot be read ({type(exc).__name__}): dropped or damaged"
            ) from None
        finally:
            await store.close()

    try:
        report, origin = _run(go())
    except VerificationFailed as exc:
        if args.json:
            print(json.dumps({"ok": False, "problem": {"what": str(exc)}}))
        return _fail(str(exc))
    if args.json:
        p = report.problem
        print(
            json.dumps(
                {
                    "ok": p is None,
                    "size": report.size,
                    "root": report.root.hex(),
                    "checkpoints": report.checkpoints,
                    "problem": None
                    if p is None
                    else {
                        "index": p.index,
                        "event_id": p.event_id,
                        "checkpoint": p.checkpoint,
                        "what": p.what,
                    },
                }
            )
        )
    if report.problem is not None:
        return _fail(str(report.problem))
    if settings.state_file is not None and not args.no_update:
        report.pin(origin).save(settings.state_file)
    latest = report.latest.checkpoint.size if report.latest else 0
    if args.json:
        return 0
    print(
        f"chatwarden audit: OK: {report.size} events, {report.checkpoints} signed checkpoints "
        f"(latest covers {latest}), root {report.root.hex()}"
    )
    if settings.state_file is None:
        print(
            "chatwarden audit: note: no --state file, so a restored older copy of the whole "
            "store cannot be told apart; pin with --state FILE",
            file=sys.stderr,
        )
    return 0


def run_prove(args: argparse.Namespace) -> int:
    settings = _settings(args)
    verifier = verifier_for(settings)

    async def go() -> dict[str, Any]:
        store = _open_store(settings, read_only=True)
        await store.open()
        try:
            row = await store.find(args.event_id)
            if row is None:
                raise EventNotFound("no audit event has this id")
            cps = await store.checkpoints()
            covering = [c for c in cps if c.checkpoint.size > row.index]
            if not covering:
                raise UsageError(
                    "no checkpoint covers this event yet; run `chatwarden audit checkpoint`"
                )
            latest = cps[-1]
            leaves = await store.leaf_hashes(latest.checkpoint.size)
            return build_inclusion(row, leaves, latest)
        finally:
            await store.close()

    doc = _run(go())
    try:
        check_inclusion(doc, verifier)  # never print a proof that does not verify
    except VerificationFailed as exc:
        return _fail(f"the proof built from the store does not verify: {exc}; run audit verify")
    print(json.dumps(doc, indent=2))
    return 0


def run_consistency(args: argparse.Namespace) -> int:
    settings = _settings(args)
    verifier = verifier_for(settings)

    async def go() -> dict[str, Any]:
        store = _open_store(settings, read_only=True)
        await store.open()
        try:
            cps = await store.checkpoints()
            new = _pick(cps, args.new or len(cps))
            if args.from_pin is not None:
                pin = Pin.load(args.from_pin)
                if pin is None or pin.checkpoint is None:
                    raise UsageError("the pin file holds no checkpoint; run audit verify --state")
                old = pin.checkpoint
            else:
                old = _pick(cps, args.old)
            leaves = await store.leaf_hashes(new.checkpoint.size)
            return build_consistency(old, new, leaves)
        finally:
            await store.close()

    doc = _run(go())
    try:
        check_consistency(doc, verifier)
    except VerificationFailed as exc:
        return _fail(f"the two checkpoints are not consistent: {exc}")
    print(json.dumps(doc, indent=2))
    return 0


def _pick(cps: list[SignedCheckpoint], n: int) -> SignedCheckpoint:
    if not 1 <= n <= len(cps):
        raise UsageError(f"checkpoint numbers run from 1 to {len(cps)}")
    return cps[n - 1]


def run_verify_proof(args: argparse.Namespace) -> int:
    from proxy.audit import signing

    verifier = signing.load_public_key(args.public_key)
    doc = _load_json(args.proof)
    try:
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "inclusion":
            entry, cp = check_inclusion(doc, verifier)
            print(
                f"chatwarden audit: OK: event {entry.event.event_id} is entry {entry.index} "
                f"of the log of {cp.size} events signed at {cp.time.isoformat()}"
            )
        elif kind == "consistency":
            old, new = check_consistency(doc, verifier)
            print(
                f"chatwarden audit: OK: the log of {new.size} events extends the one of {old.size}"
            )
        else:
            return _fail("not a chatwarden inclusion or consistency proof")
    except VerificationFailed as exc:
        return _fail(str(exc))
    return 0


def run_verify_bundle(args: argparse.Namespace) -> int:
    from proxy.audit import signing
    from proxy.audit.bundle import verify_bundle

    verifier = signing.load_public_key(args.public_key)
    try:
        summary = verify_bundle(_load_json(args.bundle), verifier)
    except VerificationFailed as exc:
        return _fail(str(exc))
    print(f"chatwarden audit: OK: {summary}")
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    from proxy.audit import signing

    settings = load_settings(args.config)
    signer = signing.signer_from_settings(settings)
    sys.stdout.write(signing.format_public_key(signer.public_key))
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    from proxy.audit import signing
    from proxy.audit.log import AuditTrail

    settings = load_settings(args.config, store_url=args.store)
    signer = signing.signer_from_settings(settings)

    async def go() -> SignedCheckpoint | None:
        store = _open_store(settings, read_only=False)
        await store.open()
        try:
            trail = AuditTrail(store, signer, timeout=settings.timeout, policy=settings.policy)
            return await trail.checkpoint(force=True)
        finally:
            await store.close()

    cp = _run(go())
    if cp is None:
        print("chatwarden audit: the latest checkpoint already covers the whole log")
    else:
        print(f"chatwarden audit: signed checkpoint of {cp.checkpoint.size} events")
    return 0


__all__ = ["AuditError", "add_parser"]

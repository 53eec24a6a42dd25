"""Wiring the policy engine into ``chatwarden serve``.

The app factory calls :func:`install` once, after the audit trail's context::

    from proxy import policy_runtime
    policy_runtime.install(app, config=config, ring=ring, auth=auth, clock=overrides.clock)

It loads the policy *at creation*, so a malformed policy file stops ``serve`` before it
listens, with ``FILE:LINE: problem; fix`` (never a partial policy). It registers the read,
case and erasure endpoints (:mod:`proxy.policy_http`), and adds one cleanup context that
opens the case store next to the message storage, builds the :class:`PolicyService` and
runs retention periodically (``[policies] retention_interval`` seconds; 0 turns it off).

``chatwarden.toml`` section (optional)::

    [policies]
    files = ["policies/default.toml", "policies/tagging.toml"]   # relative to this file
    retention_interval = 3600
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from policies.errors import PolicyError
from policies.loader import Policy, default_policy_files, load_policy
from policies.views import hash_message
from proxy import crypto
from proxy.audit.errors import AuditUnavailable
from proxy.audit.events import Actor, AuditEvent, Decision
from proxy.audit.http import ExportCase, ExportMessage
from proxy.cases import CaseStatus, CaseStore, SQLiteCaseStore
from proxy.errors import UsageError
from proxy.policy_http import (
    MAX_PAGE,
    POLICY_SERVICE,
    PolicyService,
    register_routes,
    render_message,
)
from proxy.retention import run_retention
from proxy.scrubbing import redactor_scrubber

__all__ = [
    "PolicyCaseSource",
    "PolicySettings",
    "install",
    "load_service_policy",
    "load_settings",
    "open_case_store",
]


@dataclass(frozen=True, slots=True)
class PolicySettings:
    files: tuple[Path, ...]
    retention_interval: float = 3600.0


def load_settings(config_path: Path | None) -> PolicySettings:
    """The ``[policies]`` section of the config file (defaults when absent)."""
    if config_path is None:
        return PolicySettings(default_policy_files())
    try:
        doc = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise UsageError(
            f"{config_path}: cannot read the config file; run chatwarden init"
        ) from None
    sec = doc.get("policies", {})
    if not isinstance(sec, dict) or set(sec) - {"files", "retention_interval"}:
        raise UsageError(f"{config_path}: [policies] takes only files and retention_interval")
    files = sec.get("files")
    if files is None:
        paths = default_policy_files()
    elif isinstance(files, list) and files and all(isinstance(f, str) for f in files):
        paths = tuple((config_path.parent / f).resolve() for f in files)
    else:
        raise UsageError(f"{config_path}: [policies] files must be a non-empty list of paths")
    interval = sec.get("retention_interval", 3600)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval < 0:
        raise UsageError(f"{config_path}: [policies] retention_interval must be seconds, 0 or more")
    return PolicySettings(paths, float(interval))


def load_service_policy(settings: PolicySettings) -> Policy:
    """The compiled policy, or a UsageError naming the file and line (serve stops)."""
    try:
        return load_policy(settings.files)
    except PolicyError as exc:
        raise UsageError(f"policy not loaded, service not started: {exc}") from None


async def open_case_store(storage_url: str) -> CaseStore | None:
    """The case store beside the message storage (None for an in-memory SQLite database)."""
    if urlparse(storage_url).scheme in ("postgresql", "postgres"):
        from proxy.cases_pg import PostgresCaseStore

        return await PostgresCaseStore(storage_url).open()
    if urlparse(storage_url).scheme != "sqlite":
        return None
    from proxy.storage import sqlite_path

    path = sqlite_path(storage_url)
    if path == ":memory:":
        return None  # another connection would see another, empty database
    return await SQLiteCaseStore(path).open()


class _TrailOf:
    """The app's audit trail, looked up per event; with no trail every record fails closed."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def record(self, event: AuditEvent) -> Any:
        from proxy.audit.http import AUDIT_TRAIL

        trail = self._app.get(AUDIT_TRAIL)
        if trail is None:
            raise AuditUnavailable("no audit trail is running; reads are refused", "unwritable")
        return await trail.record(event)


def view_hasher(ring: Any) -> Callable[[str, str], str]:
    """Keyed hash of an entity value for views, under the keyring's ``view`` HMAC key."""
    key = ring.hmac_key("view")

    def h(entity_type: str, value: str) -> str:
        digest: bytes = crypto.keyed_digest(key, hash_message(entity_type, value))
        return digest.hex()[:16]

    return h


def install(
    app: web.Application,
    *,
    config: Any,
    ring: Any,
    auth: Any,
    clock: Callable[[], datetime],
) -> Policy:
    """Load the policy, register the endpoints and the service context (see above)."""
    settings = load_settings(config.path)
    policy = load_service_policy(settings)
    register_routes(app)
    if settings.files != default_policy_files():
        # Files named in [policies] tag at ingest too, not only the shipped defaults.
        from proxy.app import TAGGER

        app[TAGGER] = policy.tagger

    async def authenticate(request: web.Request) -> Any:
        return auth.authenticate(request)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from proxy.app import REDACTOR, SEALER, STORAGE
        from proxy.audit.runtime import subject_hasher

        cases = await open_case_store(config.storage.url)
        trail = _TrailOf(app)
        svc = PolicyService(
            policy=policy,
            storage=app[STORAGE],
            cases=cases,
            sealer=app[SEALER],
            audit=trail,
            authenticate=authenticate,
            view_hasher=view_hasher(ring),
            subject_hasher=subject_hasher(ring),
            tenant=config.tenant,
            clock=clock,
            scrub=redactor_scrubber(lambda: app[REDACTOR]),
        )
        app[POLICY_SERVICE] = svc
        with contextlib.suppress(AuditUnavailable):  # reads fail closed on their own
            await trail.record(
                AuditEvent(
                    kind="policy.load",
                    actor=Actor(token_id="system", role="admin"),
                    decision=Decision(allow=True, rule="policy.load", reason="policy compiled"),
                    time=clock(),
                    detail=(
                        ("files", len(policy.files)),
                        ("grants", len(policy.grants)),
                        ("tagging_rules", len(policy.tagger.rules)),
                    ),
                )
            )
        task = None
        if cases is not None and settings.retention_interval > 0:
            task = asyncio.create_task(_periodic(svc, cases, settings.retention_interval))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if cases is not None:
                await cases.close()

    app.cleanup_ctx.append(ctx)
    return policy


async def _periodic(svc: PolicyService, cases: CaseStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        # A failed pass (audit or storage down) is retried at the next interval; nothing
        # is destroyed without its audit record.
        with contextlib.suppress(Exception):
            await run_retention(
                cases, svc.sealer, svc.audit, svc.clock(), retention_days=svc.policy.retention_days
            )


class PolicyCaseSource:
    """The audit export's view of the policies' case store (:class:`proxy.audit.http.CaseSource`).

    Looks the :class:`PolicyService` up per call (it exists once the app has started). A
    case's state is the one reads see at the service clock's now (an approved case past its
    expiry is ``expired``); its export holds every in-scope message -- the case's subjects or
    conversations, inside its time range, tagged with its purpose -- rendered in the view
    of the case's purpose from the sealed original, in ingest order per conversation.
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def _service(self) -> PolicyService:
        svc = self._app.get(POLICY_SERVICE)
        if svc is None or svc.cases is None:
            raise AuditUnavailable("the case store is not running", "unwritable")
        return svc

    async def get_case(self, case_id: str) -> ExportCase | None:
        svc = self._service()
        assert svc.cases is not None
        case = await svc.cases.get_case(svc.tenant, case_id)
        if case is None:
            return None
        state = "refused" if case.status is CaseStatus.REFUSED else case.state(svc.clock()).value
        return ExportCase(case.case_id, case.purpose, state, case.requested_by, case.approved_by)

    async def export_messages(self, case_id: str, actor: Actor) -> list[ExportMessage]:
        svc = self._service()
        assert svc.cases is not None
        case = await svc.cases.get_case(svc.tenant, case_id)
        if case is None:
            return []
        view = svc.policy.view(case.purpose)
        out: list[ExportMessage] = []
        for cid in await svc.cases.conversations_in_scope(case):
            cursor: str | None = None
            while True:
                page = await svc.storage.query_messages(
                    svc.tenant,
                    purpose=case.purpose,
                    conversation_id=cid,
                    since=case.since,
                    until=case.until,
                    after=cursor,
                    limit=MAX_PAGE,
                )
                for m in page.items:
                    if case.in_scope(m.sender_id, m.recipient_id, m.conversation_id, m.sent_at):
                        subjects = (m.sender_id, *((m.recipient_id,) if m.recipient_id else ()))
                        out.append(ExportMessage(await render_message(svc, m, view), subjects))
                cursor = page.next_cursor
                if cursor is None:
                    break
        return out

"""Wiring the audit trail into ``chatwarden serve``.

The app factory adds one cleanup context and registers the endpoints::

    from proxy.audit import runtime
    app.cleanup_ctx.append(runtime.trail_context(settings, ring))
    runtime.register_http(app, ring=ring, authenticate=..., cases=...)
    # a read handler: await request.app[runtime.AUDIT_TRAIL].record(event), then answer

The context opens the audit store, builds the :class:`AuditTrail` (timeout, checkpoint
policy and backlog limit from ``[audit]``), runs a periodic task that signs a checkpoint
whenever the interval says one is due, and on shutdown signs a last checkpoint (best
effort) and closes the store, in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from proxy.audit.checkpoint import Signer
from proxy.audit.errors import AuditUnavailable
from proxy.audit.events import Actor
from proxy.audit.http import AUDIT_TRAIL, AuditService, CaseSource, register
from proxy.audit.log import AuditTrail
from proxy.audit.settings import AuditSettings
from proxy.audit.signing import Ed25519Signer
from proxy.audit.store import store_from_url
from proxy.errors import UsageError

_SUBJECT_LABEL = b"chatwarden/audit-subject/v1\x00"


def subject_hasher(ring: Any) -> Callable[[str], str]:
    """Keyed hash of a data subject id for audit events: HMAC-SHA256 under the keyring's
    ``view`` HMAC key, domain-separated so it never equals a view hash of the same string.
    Stable for the life of the key file: disclosure look-ups depend on it."""
    from proxy import crypto

    key = ring.hmac_key("view")

    def ref(subject_id: str) -> str:
        digest: bytes = crypto.keyed_digest(key, _SUBJECT_LABEL + subject_id.encode("utf-8"))
        return digest.hex()

    return ref


def signer_of(ring: Any) -> Signer:
    return Ed25519Signer(ring.audit_signing_key())


def trail_context(
    settings: AuditSettings,
    ring: Any,
    *,
    scrub: Callable[[str], Awaitable[str]] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx generator that owns the audit store and trail for the app's life.
    ``scrub`` redacts the reader's free-text justification before it is stored (the
    service passes :func:`proxy.scrubbing.redactor_scrubber`, the full redactor); without
    it the justification is stored as given."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if settings.store_url is None:
            raise UsageError("no audit store: set [storage] url (or [audit] url)")
        store = store_from_url(settings.store_url, timeout=settings.timeout)
        await store.open()
        trail = AuditTrail(
            store,
            signer_of(ring),
            timeout=settings.timeout,
            policy=settings.policy,
            max_pending=settings.max_pending,
            scrub=scrub,
        )
        app[AUDIT_TRAIL] = trail
        task = None
        if settings.checkpoint_interval:
            task = asyncio.create_task(_periodic(trail, settings.checkpoint_interval))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(AuditUnavailable):
                await trail.checkpoint(force=True)
            # A hung disk must not hang shutdown: give up on a clean close after a while
            # (everything acknowledged is already committed).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store.close(), max(settings.timeout * 2, 1.0))

    return ctx


async def _periodic(trail: AuditTrail, interval: float) -> None:
    # Checks a few times per interval; the policy decides whether one is due.
    while True:
        await asyncio.sleep(max(interval / 4, 0.5))
        with contextlib.suppress(AuditUnavailable):
            await trail.checkpoint()


def register_http(
    app: web.Application,
    *,
    ring: Any,
    authenticate: Callable[[web.Request], Awaitable[Actor]],
    cases: CaseSource | None,
    authorize: Callable[[str, str], Any] | None = None,
) -> None:
    """Register the audit endpoints; the trail comes from :func:`trail_context`.
    ``authorize(role, action)`` is the policy engine's ``decide_action`` (the action is
    ``"audit.read"``); without it the built-in role sets decide."""
    register(
        app,
        AuditService(
            signer_of(ring), authenticate, subject_hasher(ring), cases, authorize=authorize
        ),
    )


__all__ = [
    "AUDIT_TRAIL",
    "metrics_text",
    "record_once",
    "register_http",
    "subject_hasher",
    "trail_context",
]


def metrics_text(app: web.Application) -> str:
    """The audit counters in Prometheus text ("" before the trail starts), for the
    service's ``/metrics`` handler to append to its own."""
    trail = app.get(AUDIT_TRAIL)
    return trail.metrics.prometheus() if trail is not None else ""


async def record_once(settings: AuditSettings, ring: Any, event: Any) -> None:
    """Record one event from a command outside ``serve`` (``keys rotate``, ``retention
    run``, ``policy`` loads...): open the store, append durably, close. Raises
    AuditUnavailable like a read would, so the command can refuse to proceed."""
    if settings.store_url is None:
        raise UsageError("no audit store: set [storage] url (or [audit] url)")
    store = store_from_url(settings.store_url, timeout=settings.timeout)
    await store.open()
    try:
        trail = AuditTrail(store, signer_of(ring), timeout=settings.timeout, policy=settings.policy)
        await trail.record(event)
    finally:
        await store.close()

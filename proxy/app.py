"""The app factory: :func:`create_app` builds the aiohttp application from a :class:`Config`.

State lives behind typed ``web.AppKey``s. Every resource is an async generator in
``cleanup_ctx``, started in this order and torn down in reverse:

1. the redactor (spaCy loaded once, then the detection process pool, warmed up);
2. storage (:func:`proxy.storage.open_storage`), the sealer and the ingest pipeline;
3. the audit trail (when enabled; :mod:`proxy.audit.runtime`);
4. the outbox worker (only when ``[upstream] url`` is set).

Routes come from the modules in :data:`ROUTE_MODULES` (each has ``register(app)``);
another component adds endpoints by adding its module there or by calling its own
``register`` on the returned app before it starts. Handlers reach the services through
the keys below (``request.app[STORAGE]``...) and authenticate with
:func:`proxy.auth.require_role`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from policies.loader import Policy
from policies.tagging import PurposeTagger, load_default_tagger
from proxy import crypto, policy_runtime
from proxy.audit.settings import AuditSettings
from proxy.auth import AUTHENTICATOR, Authenticator, Principal
from proxy.config import Config
from proxy.handlers.health import READINESS, Readiness
from proxy.handlers.ingest import INGESTOR, LIMITS, MAX_BODY
from proxy.handlers.validation import Limits
from proxy.keys import Keyring, KeyStore, load_keyring
from proxy.logging import get_logger
from proxy.metrics import METRICS, Metrics
from proxy.middlewares import (
    ADMISSION,
    ERROR_SETTINGS,
    SHED_LOG,
    Admission,
    ErrorSettings,
    ShedLog,
    admission,
    errors,
    observe,
)
from proxy.outbox import OUTBOX, OutboxWorker, outbox_context
from proxy.pipeline import Ingestor
from proxy.scrubbing import redactor_scrubber
from proxy.sealing import Sealer
from proxy.storage import Storage, open_storage
from redact import OperatorTable, Placeholder, RedactConfig, Redactor, build_operator
from redact.operators import Operator

__all__ = [
    "CONFIG",
    "KEYRING",
    "REDACTOR",
    "ROUTE_MODULES",
    "SEALER",
    "STORAGE",
    "Overrides",
    "build_redactor",
    "create_app",
    "replay_digester",
]

ROUTE_MODULES = ("proxy.handlers.health", "proxy.handlers.ingest")

CONFIG = web.AppKey("chatwarden.config", Config)
KEYRING = web.AppKey("chatwarden.keyring", Keyring)
STORAGE = web.AppKey("chatwarden.storage", Storage)
REDACTOR = web.AppKey("chatwarden.redactor", Redactor)
SEALER = web.AppKey("chatwarden.sealer", Sealer)
TAGGER = web.AppKey("chatwarden.tagger", PurposeTagger)
POLICY = web.AppKey("chatwarden.policy", Policy)

log = get_logger("chatwarden.app")

_STATE_LABEL = b"chatwarden/placeholder-state/v1"
_HASH_LABEL = b"chatwarden/redact-hash-operator/v1"
_REPLAY_LABEL = b"chatwarden/ingest-replay-digest/v1\x00"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PolicyRetention:
    """The policy's retention terms, for the ingest pipeline's ``retention_until``: the one
    source the retention pass also judges by (``[retention]`` in the config is not used)."""

    policy: Policy

    def days_for(self, purposes: frozenset[str]) -> int:
        return self.policy.retention_days(purposes)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Replacements for tests and embedding: a storage opener, a redactor (started and
    closed by the app), a key store for sealing, a tagger, a clock, and whether to run
    the audit trail."""

    open_storage: Callable[[str], Awaitable[Storage]] | None = None
    redactor: Redactor | None = None
    keystore: KeyStore | None = None
    tagger: PurposeTagger | None = None
    clock: Callable[[], datetime] = _utcnow
    audit: bool = True


def build_redactor(config: Config, ring: Keyring) -> Redactor:
    """The redactor the config describes, keyed by the keyring (placeholder state and the
    ``hash`` operator use keys derived from its HMAC keys, never stored elsewhere)."""
    r = config.redact
    hash_key = crypto.keyed_digest(ring.hmac_key("view"), _HASH_LABEL)
    by_type: dict[str, Operator] = {
        etype: build_operator(spec, hash_key) for etype, spec in r.operators.items()
    }
    default = by_type.pop("default", Placeholder())
    return Redactor(
        RedactConfig(spacy_model=r.spacy_model, ner=r.ner, workers=r.workers),
        operators=OperatorTable(by_type, default),
        state_key=crypto.keyed_digest(ring.hmac_key("placeholder"), _STATE_LABEL),
    )


def replay_digester(ring: Keyring) -> Callable[[str, str], bytes]:
    """(message_id, text) -> the keyed digest ingest stores with a record to tell a replay
    from a reused message_id: HMAC-SHA256 under the keyring's ``view`` key, domain-separated
    from view hashes and subject refs. The message_id is part of the input, so equal texts
    of different messages get different digests (the column links nothing)."""
    key = ring.hmac_key("view")

    def digest(message_id: str, text: str) -> bytes:
        mid = message_id.encode("utf-8")
        return crypto.keyed_digest(
            key, _REPLAY_LABEL + len(mid).to_bytes(4, "big") + mid + text.encode("utf-8")
        )

    return digest


def _redactor_ctx(redactor: Redactor) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # Loading spaCy takes seconds: off the loop. The warm-up forks the pool's workers
        # now, before other threads (the storage executor) exist.
        await asyncio.to_thread(redactor.start)
        await redactor.analyze_async(["warm up"])
        app[REDACTOR] = redactor
        try:
            yield
        finally:
            await asyncio.to_thread(redactor.close)

    return ctx


def _services_ctx(
    config: Config, ring: Keyring, overrides: Overrides
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        opener = overrides.open_storage or open_storage
        storage = await opener(config.storage.url)
        try:
            app[STORAGE] = storage
            sealer = Sealer(overrides.keystore or ring, storage)
            app[SEALER] = sealer
            redactor = app[REDACTOR]
            worker = app.get(OUTBOX)
            app[INGESTOR] = Ingestor(
                tenant=config.tenant,
                storage=storage,
                redactor=redactor,
                tagger=app[TAGGER],
                sealer=sealer,
                retention=PolicyRetention(app[POLICY]),
                text_digest=replay_digester(ring),
                upstream_url=config.upstream.url,
                on_enqueue=worker.notify if worker is not None else None,
                clock=overrides.clock,
            )

            async def model() -> None:
                pool = redactor._pool
                if redactor.engine is None or pool is None or getattr(pool, "_broken", False):
                    raise RuntimeError("model not loaded")

            app[READINESS] = Readiness(
                {"model": model, "storage": storage.ping}, retry_after=config.server.retry_after
            )
            yield
        finally:
            await storage.close()

    return ctx


def _config_digest(config: Config) -> str:
    """SHA-256 of the config file's bytes (of the parsed config when there is no file)."""
    if config.path is not None:
        try:
            return hashlib.sha256(config.path.read_bytes()).hexdigest()
        except OSError:
            pass
    return hashlib.sha256(repr(config).encode("utf-8")).hexdigest()


def _config_event_ctx(
    config: Config, clock: Callable[[], datetime]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Record the configuration the service starts with (``config.change``, its digest):
    comparing consecutive digests in the trail shows when the configuration changed."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from proxy.audit.errors import AuditUnavailable
        from proxy.audit.events import Actor, AuditEvent, Decision
        from proxy.audit.http import AUDIT_TRAIL

        trail = app.get(AUDIT_TRAIL)
        if trail is not None:
            event = AuditEvent(
                kind="config.change",
                actor=Actor(token_id="system", role="admin"),
                decision=Decision(allow=True, rule="serve.start", reason="service started"),
                time=clock(),
                detail=(
                    ("config_sha256", _config_digest(config)),
                    ("tokens", len(config.auth.tokens)),
                ),
            )
            try:
                await trail.record(event)
            except AuditUnavailable:
                # Ingest does not need the trail; every read will fail closed on its own.
                log.warning("audit.config_event_not_recorded")
        yield

    return ctx


def _audit(
    app: web.Application, config: Config, ring: Keyring, clock: Callable[[], datetime]
) -> AuditSettings:
    from proxy.audit import runtime
    from proxy.audit.settings import load_settings

    settings = load_settings(config.path) if config.path else AuditSettings()
    if settings.store_url is None:
        settings = AuditSettings(store_url=config.storage.url)
    # The reader's justification goes through the full redactor (NER too) before storing.
    scrub = redactor_scrubber(lambda: app[REDACTOR])
    app.cleanup_ctx.append(runtime.trail_context(settings, ring, scrub=scrub))
    app.cleanup_ctx.append(_config_event_ctx(config, clock))
    return settings


def _audit_http(app: web.Application, ring: Keyring, auth: Authenticator, policy: Policy) -> None:
    from proxy.audit import runtime
    from proxy.audit.events import Actor

    async def authenticate(request: web.Request) -> Actor:
        p: Principal = auth.authenticate(request)
        return Actor(p.token_id, p.role)

    runtime.register_http(
        app,
        ring=ring,
        authenticate=authenticate,
        cases=policy_runtime.PolicyCaseSource(app),
        authorize=policy.table.decide_action,  # (role, "audit.read") -> Decision
    )


def create_app(
    config: Config, *, keyring: Keyring | None = None, overrides: Overrides = Overrides()
) -> web.Application:
    """The service application; see the module docstring."""
    ring = keyring if keyring is not None else load_keyring(config.keys.file)
    s = config.server
    app = web.Application(
        middlewares=[observe, errors, admission],
        client_max_size=s.max_body_bytes,
    )
    app[CONFIG] = config
    app[KEYRING] = ring
    app[METRICS] = Metrics()
    app[ERROR_SETTINGS] = ErrorSettings(s.retry_after)
    app[SHED_LOG] = ShedLog()
    app[ADMISSION] = Admission(
        s.max_in_flight,
        s.request_timeout,
        s.max_in_flight_messages,
        latency_target=s.latency_target_ms / 1000,
        per_message=s.latency_target_per_message_ms / 1000,
        # Enough requests in flight to keep every detection worker busy.
        floor=2 * max(1, config.redact.workers),
        headroom=s.latency_headroom,
        # No more in flight than workers: each request starts on a worker at once.
        parallel=max(1, config.redact.workers),
    )
    app[METRICS].admission_limit.set(app[ADMISSION].limit)
    app[METRICS].admission_target.set(app[ADMISSION].current_target())
    token_key = ring.hmac_key("token")
    auth = Authenticator(config.auth.tokens, lambda b: crypto.keyed_digest(token_key, b))
    app[AUTHENTICATOR] = auth
    app[MAX_BODY] = s.max_body_bytes
    app[LIMITS] = Limits(
        max_batch=s.max_batch,
        max_text_chars=config.redact.max_text_chars,
        regions=config.keys.regions,
        default_region=config.keys.default_region,
    )
    app[TAGGER] = overrides.tagger if overrides.tagger is not None else load_default_tagger()

    worker: OutboxWorker | None = None
    if config.upstream.url:
        worker = OutboxWorker(
            storage=None,  # set by outbox_context when storage opens
            metrics=app[METRICS],
            timeout=config.upstream.timeout,
            max_attempts=config.upstream.max_attempts,
            batch=config.upstream.batch,
            clock=overrides.clock,
        )
        app[OUTBOX] = worker

    redactor = (
        overrides.redactor if overrides.redactor is not None else build_redactor(config, ring)
    )
    app.cleanup_ctx.append(_redactor_ctx(redactor))
    app.cleanup_ctx.append(_services_ctx(config, ring, overrides))
    if overrides.audit:
        _audit(app, config, ring, overrides.clock)
    # The policy loads now: a malformed file stops the factory (and serve) with FILE:LINE.
    policy = policy_runtime.install(app, config=config, ring=ring, auth=auth, clock=overrides.clock)
    app[POLICY] = policy
    if overrides.audit:
        _audit_http(app, ring, auth, policy)
    if worker is not None:
        app.cleanup_ctx.append(outbox_context(worker, lambda a: a[STORAGE]))

    for name in ROUTE_MODULES:
        importlib.import_module(name).register(app)
    return app

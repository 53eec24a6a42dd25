"""HTTP endpoints of the audit trail, registered on the service's app by :func:`register`.

``GET /v1/audit`` (auditor, admin)
    Audit events in log order. Filters: ``actor`` (token id), ``role``, ``purpose``,
    ``case_id``, ``kind``, ``since``/``until`` (RFC 3339), ``after`` (the ``next_after``
    cursor of the previous page), ``limit`` (1..500, default 100).
``GET /v1/audit/checkpoint``, ``GET /v1/audit/proofs/{event_id}``,
``GET /v1/audit/consistency?from=N&to=M`` (auditor, admin)
    The latest signed checkpoint, an event's inclusion proof, a consistency proof: the
    documents ``chatwarden audit verify-proof`` checks offline with the public key.
``GET /v1/subjects/{subject_id}/disclosures`` (auditor, compliance_officer, admin)
    Every allowed read or export that touched the subject's messages: who, when, for
    which purpose, under which case. The subject id is hashed with the audit subject key
    on arrival and never stored or logged.
``POST /v1/cases/{case_id}/exports`` (the policy's ``cases.export`` action)
    For an approved, unexpired regulatory case whose approver is not its requester: the
    evidence bundle (see :mod:`proxy.audit.bundle`), after the export itself is recorded
    and a checkpoint covering it is signed. A role without the action gets 403 before the
    case is looked up (so it learns nothing about which cases exist); 404 is for an
    unknown case asked by a role that may export.

Every answer that returns audit data is itself audited first (``audit.query``,
``subject.disclosures``, ``case.export``), and fails closed with 503 if that record
cannot be written.

The service supplies three things through :class:`AuditService`: ``authenticate``
(request -> :class:`Actor`, raising its own 401/403), ``hash_subject`` (keyed hash of a
subject id, HMAC under the audit subject key) and ``cases`` (:class:`CaseSource`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from aiohttp import web

from proxy.audit.bundle import build_bundle
from proxy.audit.checkpoint import SignedCheckpoint, Signer
from proxy.audit.errors import AuditUnavailable, InvalidEvent
from proxy.audit.events import Actor, AuditEvent, Decision, parse_time, subject_refs
from proxy.audit.log import AuditQuery, AuditTrail, LogRow, decode_entry
from proxy.audit.proofs import build_consistency, build_inclusion

T = TypeVar("T")

MAX_PAGE = 500
AUDIT_READERS = frozenset({"auditor", "admin"})
DISCLOSURE_READERS = frozenset({"auditor", "compliance_officer", "admin"})
EXPORTERS = frozenset({"compliance_officer"})  # without a policy (authorize) only
# Event kinds that disclosed message content to someone.
DISCLOSING_KINDS = frozenset({"read", "case.export"})


@dataclass(frozen=True, slots=True)
class ExportCase:
    """What the export needs to know about a case, from the policies' case store."""

    case_id: str
    purpose: str
    state: str  # "pending" | "approved" | "refused" | "expired" | "closed"
    requested_by: str  # token id
    approved_by: str | None  # token id


@dataclass(frozen=True, slots=True)
class ExportMessage:
    """One in-scope message rendered in the case's view, and its data subjects' ids."""

    message: dict[str, Any]
    subject_ids: tuple[str, ...]


class CaseSource(Protocol):
    async def get_case(self, case_id: str) -> ExportCase | None: ...

    async def export_messages(self, case_id: str, actor: Actor) -> Sequence[ExportMessage]: ...


@dataclass(slots=True)
class AuditService:
    """What the endpoints need from the service. The trail itself is ``app[AUDIT_TRAIL]``,
    set by :func:`proxy.audit.runtime.trail_context` when the app starts."""

    signer: Signer
    authenticate: Callable[[web.Request], Awaitable[Actor]]
    hash_subject: Callable[[str], str]
    cases: CaseSource | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # (role, action) -> a decision with allow/rule/reason: the policy engine's
    # decide_action. Without it, the built-in role sets below decide.
    authorize: Callable[[str, str], Any] | None = None


AUDIT_SERVICE = web.AppKey("chatwarden.audit.service", AuditService)
AUDIT_TRAIL = web.AppKey("chatwarden.audit.trail", AuditTrail)


def register(app: web.Application, service: AuditService) -> None:
    """Install the audit endpoints and the service object on ``app``."""
    app[AUDIT_SERVICE] = service
    app.router.add_get("/v1/audit", list_events)
    app.router.add_get("/v1/audit/checkpoint", latest_checkpoint)
    app.router.add_get("/v1/audit/proofs/{event_id}", event_proof)
    app.router.add_get("/v1/audit/consistency", consistency)
    app.router.add_get("/v1/subjects/{subject_id}/disclosures", disclosures)
    app.router.add_post("/v1/cases/{case_id}/exports", export_case)


_CODES: dict[int, str] = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    500: "internal",
    503: "unavailable",
}


def _json_error(cls: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    """The service's error shape, ``{"error": {"code", "message", ...}}``; a 503 carries
    ``kind: "audit"`` and ``Retry-After`` like the service's own fail-closed answers."""
    status = cls.status_code
    if status == 503:
        extra = {"kind": "audit", **extra}
    doc = {"error": {"code": _CODES.get(status, "error"), "message": message, **extra}}
    headers = {"Retry-After": "1"} if status == 503 else None
    return cls(text=_dumps(doc), content_type="application/json", headers=headers)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


AUDIT_ACTION = "audit.read"
EXPORT_ACTION = "cases.export"
# The policy's action for a subject's disclosure report (compliance officers answer the
# data subject; auditors and admins check the trail).
DISCLOSURE_ACTION = "subjects.disclosures"


async def _require(
    svc: AuditService,
    trail: AuditTrail,
    actor: Actor,
    kind: str,
    roles: frozenset[str],
    *,
    action: str = AUDIT_ACTION,
    case_id: str | None = None,
) -> Decision:
    """Decide whether ``actor`` may perform ``action`` (the policy's decision when the
    service has one, else the built-in ``roles``); a refusal is recorded, then 403."""
    if svc.authorize is not None:
        decision = Decision.of(svc.authorize(actor.role, action))
    elif actor.role in roles:
        decision = Decision(True, f"builtin.{kind}", f"role may {action}")
    else:
        decision = Decision(False, "default_deny", f"role may not {action}")
    if not decision.allow:
        await _record(
            trail,
            AuditEvent(
                kind=kind, actor=actor, decision=decision, time=svc.clock(), case_id=case_id
            ),
        )
        raise _json_error(web.HTTPForbidden, "this role may not use this endpoint")
    return decision


async def _record(trail: AuditTrail, event: AuditEvent) -> None:
    try:
        await trail.record(event)
    except AuditUnavailable as exc:
        raise _json_error(
            web.HTTPServiceUnavailable,
            "audit trail unavailable; nothing was returned",
            cause=exc.cause,
        ) from None


async def _read(coro: Awaitable[T]) -> T:
    """A read of the audit store; a failing store is a 503 like a failing write."""
    try:
        return await coro
    except Exception as exc:
        raise _json_error(
            web.HTTPServiceUnavailable,
            f"audit store cannot be read ({type(exc).__name__}); retry later",
        ) from None


def _view(row: LogRow) -> dict[str, Any]:
    event = decode_entry(row.body).event.to_dict()
    event["index"] = row.index
    event["leaf_hash"] = row.leaf_hash.hex()
    return event


def _param_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise _json_error(
            web.HTTPBadRequest, f"'{name}' must be an RFC 3339 time with offset"
        ) from None


def _param_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise _json_error(web.HTTPBadRequest, f"'{name}' must be an integer") from None
    if not lo <= v <= hi:
        raise _json_error(web.HTTPBadRequest, f"'{name}' must lie between {lo} and {hi}")
    return v


async def _checkpoints(trail: AuditTrail) -> list[SignedCheckpoint]:
    cps = await _read(trail.store.checkpoints())
    if not cps:
        raise _json_error(web.HTTPNotFound, "no checkpoint signed yet; retry later")
    return cps


async def latest_checkpoint(request: web.Request) -> web.Response:
    """The latest signed checkpoint, for verifiers to pin (auditor, admin)."""
    svc, trail = request.app[AUDIT_SERVICE], request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    decision = await _require(svc, trail, actor, "audit.query", AUDIT_READERS)
    cps = await _checkpoints(trail)
    await _record(
        trail, AuditEvent(kind="audit.query", actor=actor, decision=decision, time=svc.clock())
    )
    return web.json_response({"number": len(cps), "checkpoint": cps[-1].to_json()})


async def event_proof(request: web.Request) -> web.Response:
    """An inclusion proof of one event against the latest checkpoint, the same document
    `chatwarden audit prove` prints; check it with `audit verify-proof`."""
    svc, trail = request.app[AUDIT_SERVICE], request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    decision = await _require(svc, trail, actor, "audit.query", AUDIT_READERS)
    row = await _read(trail.store.find(request.match_info["event_id"]))
    if row is None:
        raise _json_error(web.HTTPNotFound, "no audit event has this id")
    latest = (await _checkpoints(trail))[-1]
    if latest.checkpoint.size <= row.index:
        raise _json_error(
            web.HTTPNotFound, "no checkpoint covers this event yet; retry after the next one"
        )
    leaves = await _read(trail.store.leaf_hashes(latest.checkpoint.size))
    doc = build_inclusion(row, leaves, latest)
    await _record(
        trail,
        AuditEvent(kind="audit.query", actor=actor, decision=decision, time=svc.clock(), count=1),
    )
    return web.json_response(doc)


async def consistency(request: web.Request) -> web.Response:
    """A consistency proof between checkpoints ``from`` and ``to`` (numbers, 1-based;
    ``to`` defaults to the latest): a pin holder learns that the log only grew."""
    svc, trail = request.app[AUDIT_SERVICE], request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    decision = await _require(svc, trail, actor, "audit.query", AUDIT_READERS)
    cps = await _checkpoints(trail)
    old = _param_int(request, "from", 1, 1, len(cps))
    new = _param_int(request, "to", len(cps), old, len(cps))
    leaves = await _read(trail.store.leaf_hashes(cps[new - 1].checkpoint.size))
    doc = build_consistency(cps[old - 1], cps[new - 1], leaves)
    await _record(
        trail, AuditEvent(kind="audit.query", actor=actor, decision=decision, time=svc.clock())
    )
    return web.json_response(doc)


async def list_events(request: web.Request) -> web.Response:
    svc = request.app[AUDIT_SERVICE]
    trail = request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    decision = await _require(svc, trail, actor, "audit.query", AUDIT_READERS)
    q = AuditQuery(
        actor_token_id=request.query.get("actor"),
        actor_role=request.query.get("role"),
        purpose=request.query.get("purpose"),
        case_id=request.query.get("case_id"),
        kind=request.query.get("kind"),
        since=_param_time(request, "since"),
        until=_param_time(request, "until"),
        after_index=_param_int(request, "after", -1, -1, 2**62),
        limit=_param_int(request, "limit", 100, 1, MAX_PAGE),
    )
    rows = await _read(trail.store.query(q))
    await _record(
        trail,
        AuditEvent(
            kind="audit.query",
            actor=actor,
            decision=decision,
            time=svc.clock(),
            count=len(rows),
            case_id=q.case_id,
            purpose=q.purpose,
        ),
    )
    body = {
        "events": [_view(r) for r in rows],
        "next_after": rows[-1].index if len(rows) == q.limit else None,
    }
    return web.json_response(body)


async def disclosures(request: web.Request) -> web.Response:
    svc = request.app[AUDIT_SERVICE]
    trail = request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    decision = await _require(
        svc, trail, actor, "subject.disclosures", DISCLOSURE_READERS, action=DISCLOSURE_ACTION
    )
    ref = svc.hash_subject(request.match_info["subject_id"])
    found: list[dict[str, Any]] = []
    after = -1
    while True:
        rows = await _read(
            trail.store.query(AuditQuery(subject=ref, after_index=after, limit=MAX_PAGE))
        )
        for row in rows:
            ev = decode_entry(row.body).event
            if ev.kind in DISCLOSING_KINDS and ev.decision.allow:
                found.append(
                    {
                        "event_id": ev.event_id,
                        "index": row.index,
                        "kind": ev.kind,
                        "time": ev.to_dict()["time"],
                        "actor": {"token_id": ev.actor.token_id, "role": ev.actor.role},
                        "purpose": ev.purpose,
                        "case_id": ev.case_id,
                        "justification": ev.justification,
                        "messages": ev.count,
                    }
                )
        if len(rows) < MAX_PAGE:
            break
        after = rows[-1].index
    await _record(
        trail,
        AuditEvent(
            kind="subject.disclosures",
            actor=actor,
            decision=decision,
            time=svc.clock(),
            subjects=(ref,),
            count=len(found),
        ),
    )
    return web.json_response({"subject_ref": ref, "disclosures": found})


async def export_case(request: web.Request) -> web.Response:
    svc = request.app[AUDIT_SERVICE]
    trail = request.app[AUDIT_TRAIL]
    actor = await svc.authenticate(request)
    case_id = request.match_info["case_id"]
    ref = case_id if len(case_id) <= 200 else None
    # The role first, before the case is looked up: a role that may not export learns
    # nothing (403 for every id), whether the case exists or not.
    await _require(svc, trail, actor, "case.export", EXPORTERS, action=EXPORT_ACTION, case_id=ref)
    if svc.cases is None:
        raise _json_error(web.HTTPServiceUnavailable, "case store is not configured")
    case = await svc.cases.get_case(case_id)
    refusal = _export_refusal(case)
    if refusal is not None:
        await _record(
            trail,
            AuditEvent(
                kind="case.export",
                actor=actor,
                decision=Decision(False, "case.export", refusal),
                time=svc.clock(),
                case_id=ref,
            ),
        )
        status = web.HTTPNotFound if case is None else web.HTTPForbidden
        raise _json_error(status, refusal)
    assert case is not None
    items = await svc.cases.export_messages(case_id, actor)
    messages = [m.message for m in items]
    now = svc.clock()
    try:
        export_event = AuditEvent(
            kind="case.export",
            actor=actor,
            decision=Decision(True, "case.export", "approved regulatory case, four eyes"),
            time=now,
            purpose=case.purpose,
            case_id=case_id,
            message_ids=tuple(str(m.get("message_id")) for m in messages),
            conversation_ids=tuple(
                sorted({str(m["conversation_id"]) for m in messages if "conversation_id" in m})
            ),
            count=len(messages),
            subjects=subject_refs(svc.hash_subject, (s for m in items for s in m.subject_ids)),
        )
    except InvalidEvent as exc:
        raise _json_error(
            web.HTTPInternalServerError, f"cannot build the export record: {exc}"
        ) from None
    await _record(trail, export_event)
    try:
        checkpoint = await trail.checkpoint(force=True)
        if checkpoint is None:
            checkpoint = (await _read(trail.store.checkpoints()))[-1]
        rows: list[LogRow] = []
        after = -1
        while True:
            page = await _read(
                trail.store.query(AuditQuery(case_id=case_id, after_index=after, limit=MAX_PAGE))
            )
            rows += [r for r in page if r.index < checkpoint.checkpoint.size]
            if len(page) < MAX_PAGE:
                break
            after = page[-1].index
        leaves = await _read(trail.store.leaf_hashes(checkpoint.checkpoint.size))
    except AuditUnavailable as exc:
        raise _json_error(
            web.HTTPServiceUnavailable,
            "audit trail unavailable; nothing was returned",
            cause=exc.cause,
        ) from None
    bundle = build_bundle(
        case_id=case_id,
        messages=messages,
        events=rows,
        leaves=leaves,
        checkpoint=checkpoint,
        signer=svc.signer,
        exported_by=actor,
        now=now,
    )
    return web.json_response(
        bundle,
        status=201,
        headers={
            "Content-Disposition": f'attachment; filename="case-{export_event.event_id}.json"'
        },
    )


def _export_refusal(case: ExportCase | None) -> str | None:
    """Why this export (by a role that may export) is refused, or None. A refusal is
    recorded like any decision."""
    if case is None:
        return "no such case"
    if case.purpose != "regulatory_request":
        return "only regulatory cases can be exported"
    if case.state != "approved":
        return f"case is {case.state}, not approved"
    if case.approved_by is None or case.approved_by == case.requested_by:
        return "case lacks an approval by someone other than its requester (four eyes)"
    return None


def response_for(exc: AuditUnavailable) -> web.Response:
    """The answer to a read whose audit record could not be written: 503, Retry-After,
    no data. For the service's error middleware, which maps every error in one place."""
    doc = {
        "error": {
            "code": "unavailable",
            "message": "the audit trail is unavailable; nothing was returned, retry later",
            "kind": "audit",
            "cause": exc.cause,
        }
    }
    return web.json_response(doc, status=503, headers={"Retry-After": "1"})

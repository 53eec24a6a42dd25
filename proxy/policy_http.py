"""Purpose-bound reads, cases and erasures over HTTP.

``register(app, service)`` installs::

    GET  /v1/messages?purpose=P[&conversation_id=][&sender_id=][&since=][&until=]
                      [&case_id=][&cursor=][&limit=]          any role; policy decides
    POST /v1/cases                       file a case          (cases.create)
    GET  /v1/cases/{case_id}             read a case          (cases.create/approve/close)
    POST /v1/cases/{case_id}/approve     four eyes            (cases.approve, not the filer)
    POST /v1/cases/{case_id}/close       release its holds    (cases.close)
    POST /v1/erasures                    erase a data subject (erasures.create)

Approve and close check the role's action (``cases.approve``/``cases.close``) before the
case is read: a role that may not act gets 403 whatever the id, and only a role that may
learns (404) that a case does not exist.

Every request needs a bearer token (``service.authenticate``); a read also needs
``purpose`` and an ``X-Justification`` header. Each decision -- allow or deny -- is
recorded in the audit trail *before* the answer is sent; when the trail cannot take it the
answer is 503 and nothing is returned. A denial is an answer (403) with the reason and the
rule, never an exception escaping. Messages are rendered for the purpose from the sealed
original (:func:`policies.views.render`): placeholders, last four, keyed hashes or
plaintext as the policy's view says. Pages are in ingest order (``seq``), at most
``MAX_PAGE`` messages, with an opaque ``next_cursor``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol

from aiohttp import web

from policies.loader import Policy
from policies.model import NO_CASE, Action, Decision
from policies.views import render
from proxy.audit.errors import AuditUnavailable
from proxy.audit.events import Actor, AuditEvent, read_event
from proxy.audit.events import Decision as AuditDecision
from proxy.cases import Case, CaseStatus, CaseStore
from proxy.errors import DecryptionError
from proxy.retention import AuditSink, erase_subject
from proxy.scrubbing import Scrubber
from proxy.sealing import SealContext, Sealer
from proxy.storage.base import Storage, StoredMessage
from proxy.storage.errors import InvalidCursor, StorageUnavailable

__all__ = [
    "MAX_PAGE",
    "POLICY_SERVICE",
    "PolicyService",
    "register",
    "register_routes",
    "render_message",
]

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_JUSTIFICATION = 1000
MAX_SUBJECTS = 1000
_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}\Z")


class Caller(Protocol):
    token_id: str
    role: str


@dataclass(slots=True)
class PolicyService:
    """What the policy endpoints need; built once by the app factory."""

    policy: Policy
    storage: Storage
    cases: CaseStore | None  # None: this storage backend has no case store yet
    sealer: Sealer
    audit: AuditSink
    authenticate: Callable[[web.Request], Awaitable[Caller]]
    view_hasher: Callable[[str, str], str]  # (entity type, value) -> keyed hash hex
    subject_hasher: Callable[[str], str]  # subject id -> audit subject ref
    tenant: str = "default"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Redacts a case's free-text fields (authority, legal basis) before they are stored;
    # the service passes the full redactor (proxy.scrubbing). None stores them as given.
    scrub: Scrubber | None = None


POLICY_SERVICE = web.AppKey("chatwarden.policy_service", PolicyService)


def register(app: web.Application, service: PolicyService) -> None:
    """Install the endpoints with a ready service (tests, embedding)."""
    app[POLICY_SERVICE] = service
    register_routes(app)


def register_routes(app: web.Application) -> None:
    """Install the endpoints; ``app[POLICY_SERVICE]`` is set before the app serves."""
    app.router.add_get("/v1/messages", get_messages)
    app.router.add_post("/v1/cases", post_case)
    app.router.add_get("/v1/cases/{case_id}", get_case)
    app.router.add_post("/v1/cases/{case_id}/approve", approve_case)
    app.router.add_post("/v1/cases/{case_id}/close", close_case)
    app.router.add_post("/v1/erasures", post_erasure)


# ------------------------------------------------------------------------------ helpers


def _fail(cls: type[web.HTTPException], message: str, **extra: Any) -> NoReturn:
    raise cls(text=json.dumps({"error": message, **extra}), content_type="application/json")


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _record(svc: PolicyService, event: AuditEvent) -> None:
    try:
        await svc.audit.record(event)
    except AuditUnavailable:
        _fail(web.HTTPServiceUnavailable, "audit trail unavailable; nothing was done or returned")


async def _deny(svc: PolicyService, event: AuditEvent, d: Decision) -> NoReturn:
    await _record(svc, event)
    _fail(web.HTTPForbidden, "denied", reason=d.reason, rule=d.rule)


def _actor(c: Caller) -> Actor:
    return Actor(token_id=c.token_id, role=c.role)


def _time(v: str | None, name: str) -> datetime | None:
    if v is None or v == "":
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        _fail(web.HTTPBadRequest, f"{name} must be an ISO 8601 time with a UTC offset", field=name)
    if t.tzinfo is None:
        _fail(
            web.HTTPBadRequest, f"{name} needs a UTC offset (e.g. 2026-01-01T00:00:00Z)", field=name
        )
    try:
        return t.astimezone(UTC)
    except OverflowError:
        _fail(web.HTTPBadRequest, f"{name} is outside the representable time range", field=name)


def _ident(v: Any, name: str, *, required: bool = False) -> str | None:
    if v is None or v == "":
        if required:
            _fail(web.HTTPBadRequest, f"{name} is required", field=name)
        return None
    if not isinstance(v, str) or not _ID.match(v):
        _fail(
            web.HTTPBadRequest,
            f"{name} must be an id of letters, digits and _.:@- (at most 200)",
            field=name,
        )
    return v


def _case_store(svc: PolicyService) -> CaseStore:
    if svc.cases is None:
        _fail(web.HTTPServiceUnavailable, "cases are not available on this storage backend")
    return svc.cases


async def _storage(coro: Awaitable[Any]) -> Any:
    try:
        return await coro
    except StorageUnavailable:
        _fail(web.HTTPServiceUnavailable, "storage unavailable; retry later")


# ------------------------------------------------------------------------------ reads


async def get_messages(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    q = request.query
    purpose = q.get("purpose", "")
    if not purpose:
        _fail(web.HTTPBadRequest, "purpose is required: say what the read is for", field="purpose")
    justification = request.headers.get("X-Justification", "").strip()
    if not justification:
        _fail(web.HTTPBadRequest, "an X-Justification header is required", field="X-Justification")
    if len(justification) > MAX_JUSTIFICATION:
        _fail(web.HTTPBadRequest, f"X-Justification is longer than {MAX_JUSTIFICATION} characters")
    conversation_id = _ident(q.get("conversation_id"), "conversation_id")
    sender_id = _ident(q.get("sender_id"), "sender_id")
    case_id = _ident(q.get("case_id"), "case_id")
    since, until = _time(q.get("since"), "since"), _time(q.get("until"), "until")
    try:
        limit = int(q.get("limit", DEFAULT_PAGE))
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_PAGE:
        _fail(
            web.HTTPBadRequest, f"limit must be a whole number from 1 to {MAX_PAGE}", field="limit"
        )
    now = svc.clock()
    case: Case | None = None
    ctx = NO_CASE
    if case_id is not None:
        case = await _storage(_case_store(svc).get_case(svc.tenant, case_id))
        if case is not None:
            ctx = case.context(caller.token_id, now)

    def event(decision: Decision, messages: list[StoredMessage]) -> AuditEvent:
        # One builder for allowed and denied reads, so the disclosure report of a subject
        # (both parties of every returned message) is complete by construction.
        return read_event(
            actor=_actor(caller),
            decision=decision,
            purpose=purpose if len(purpose) <= 200 else None,
            messages=messages,
            hash_subject=svc.subject_hasher,
            case_id=case_id,
            justification=justification,
            time=now,
        )

    if case_id is not None and case is None:
        d = Decision(False, "no such case", "cases.unknown")
        await _deny(svc, event(d, []), d)
    d = svc.policy.table.decide_read(caller.role, purpose, ctx)
    if not d.allow:
        await _deny(svc, event(d, []), d)
    if case is not None:
        since = case.since if since is None else max(since, case.since)
        until = case.until if until is None else min(until, case.until)
    try:
        page = await _storage(
            svc.storage.query_messages(
                svc.tenant,
                purpose=purpose,
                conversation_id=conversation_id,
                sender_id=sender_id,
                since=since,
                until=until,
                after=q.get("cursor") or None,
                limit=limit,
            )
        )
    except InvalidCursor:
        _fail(
            web.HTTPBadRequest,
            "the cursor is malformed; pass next_cursor from the last page",
            field="cursor",
        )
    items: list[StoredMessage] = list(page.items)
    if case is not None:
        items = [
            m
            for m in items
            if case.in_scope(m.sender_id, m.recipient_id, m.conversation_id, m.sent_at)
        ]
    # Recorded durably before anything is rendered or sent; a trail that cannot take it
    # turns the read into a 503 with no data.
    await _record(svc, event(d, items))
    view = svc.policy.view(purpose)
    out = []
    for m in items:
        out.append(await render_message(svc, m, view))
    return _json(
        {
            "purpose": purpose,
            "case_id": case_id,
            "decision": {"rule": d.rule, "reason": d.reason},
            "messages": out,
            "next_cursor": page.next_cursor,
        }
    )


async def render_message(svc: PolicyService, m: StoredMessage, view: Any) -> dict[str, Any]:
    """One stored message for the answer, its text rendered in ``view`` from the sealed original."""
    doc: dict[str, Any] = {
        "message_id": m.message_id,
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "sender_id": m.sender_id,
        "sender_role": m.sender_role,
        "recipient_id": m.recipient_id,
        "sent_at": m.sent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "order_id": m.order_id,
        "dispute_id": m.dispute_id,
        "purposes": sorted(m.purposes),
    }
    ctx = SealContext(m.tenant, m.conversation_id, m.message_id, m.region, m.schema_version)
    try:
        original = (await svc.sealer.open(ctx, m.sealed)).decode("utf-8")
    except DecryptionError:
        # Shredded (retention, erasure) or tampered: the original is gone for everyone.
        doc["text"] = None
        doc["unavailable"] = "the original can no longer be opened"
        return doc
    doc["text"] = render(original, m.redacted, m.entities, view, svc.view_hasher)
    return doc


# ------------------------------------------------------------------------------ cases


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.content.read(64 * 1024 + 1)
        if len(raw) > 64 * 1024:
            _fail(web.HTTPRequestEntityTooLarge, "the body is larger than 64 KiB")
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        _fail(web.HTTPBadRequest, "the body must be one JSON object")
    if not isinstance(doc, dict):
        _fail(web.HTTPBadRequest, "the body must be one JSON object")
    return doc


def _ids(doc: dict[str, Any], name: str) -> tuple[str, ...]:
    v = doc.get(name, [])
    if not isinstance(v, list) or len(v) > MAX_SUBJECTS:
        _fail(
            web.HTTPBadRequest, f"{name} must be a list of at most {MAX_SUBJECTS} ids", field=name
        )
    return tuple(sorted({_ident(x, name, required=True) or "" for x in v}))


def _text(doc: dict[str, Any], name: str) -> str:
    v = doc.get(name)
    if not isinstance(v, str) or not v.strip() or len(v) > 500:
        _fail(
            web.HTTPBadRequest, f"{name} is required (text of at most 500 characters)", field=name
        )
    return v.strip()


async def _scrubbed(svc: PolicyService, text: str) -> str:
    """``text`` with every detected value (names too) replaced by ``<TYPE>``; 503 when the
    redactor fails (nothing is stored unredacted)."""
    if svc.scrub is None:
        return text
    try:
        return await svc.scrub(text)
    except Exception:
        _fail(
            web.HTTPServiceUnavailable,
            "free text could not be redacted; nothing was stored, retry later",
        )


async def _allowed(
    svc: PolicyService, caller: Caller, action: Action, kind: str, **ev: Any
) -> Decision:
    d = svc.policy.table.decide_action(caller.role, action)
    if not d.allow:
        await _deny(
            svc,
            AuditEvent(
                kind=kind,
                actor=_actor(caller),
                decision=AuditDecision.of(d),
                time=svc.clock(),
                **ev,
            ),
            d,
        )
    return d


async def post_case(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    await _allowed(svc, caller, Action.CASE_CREATE, "case.request")
    doc = await _body(request)
    purpose = doc.get("purpose")
    if not isinstance(purpose, str) or purpose not in svc.policy.purposes:
        _fail(
            web.HTTPBadRequest,
            f"purpose must be one of: {', '.join(sorted(svc.policy.purposes))}",
            field="purpose",
        )
    subjects, conversations = _ids(doc, "subjects"), _ids(doc, "conversation_ids")
    if not subjects and not conversations:
        _fail(
            web.HTTPBadRequest,
            "a case needs subjects or conversation_ids in its scope",
            field="subjects",
        )
    since, until = _time(doc.get("since"), "since"), _time(doc.get("until"), "until")
    expires = _time(doc.get("expires_at"), "expires_at")
    now = svc.clock()
    if since is None or until is None or since >= until:
        _fail(web.HTTPBadRequest, "since and until are required, since before until", field="since")
    if expires is None or expires <= now:
        _fail(
            web.HTTPBadRequest,
            "expires_at is required and must be in the future",
            field="expires_at",
        )
    authority, legal_basis = _text(doc, "authority"), _text(doc, "legal_basis")
    assignees = _ids(doc, "assignees")
    # Free text typed by the officer: redacted (names, accounts, e-mail...) before storing.
    authority, legal_basis = await _scrubbed(svc, authority), await _scrubbed(svc, legal_basis)
    case = Case(
        case_id="case_" + uuid.uuid4().hex[:20],
        tenant=svc.tenant,
        purpose=purpose,
        subjects=subjects,
        conversation_ids=conversations,
        since=since,
        until=until,
        authority=authority,
        legal_basis=legal_basis,
        expires_at=expires,
        requested_by=caller.token_id,
        created_at=now,
        assignees=assignees,
    )
    d = Decision(True, "case filed; it needs a second officer's approval", "cases.create")
    await _record(
        svc,
        AuditEvent(
            kind="case.request",
            actor=_actor(caller),
            decision=AuditDecision.of(d),
            time=now,
            purpose=purpose,
            case_id=case.case_id,
            subjects=tuple(sorted({svc.subject_hasher(s) for s in subjects})),
            conversation_ids=conversations,
        ),
    )
    await _storage(_case_store(svc).create_case(case))
    return _json(case.to_json(), status=201)


async def _load_case(svc: PolicyService, request: web.Request) -> Case:
    case_id = _ident(request.match_info["case_id"], "case_id", required=True) or ""
    case: Case | None = await _storage(_case_store(svc).get_case(svc.tenant, case_id))
    if case is None:
        _fail(web.HTTPNotFound, "no such case")
    return case


async def get_case(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    role = svc.policy.roles.get(caller.role)
    managing = {Action.CASE_CREATE, Action.CASE_APPROVE, Action.CASE_CLOSE}
    if role is None or not managing & role.actions:
        d = Decision(False, "this role does not manage cases", "default-deny")
        ev = AuditEvent(
            kind="read", actor=_actor(caller), decision=AuditDecision.of(d), time=svc.clock()
        )
        await _deny(svc, ev, d)
    case = await _load_case(svc, request)
    # An allowed look-up reveals the case's subjects and legal basis: audited first.
    allowed = Decision(True, "this role manages cases", "cases.manage")
    await _record(
        svc,
        AuditEvent(
            kind="read",
            actor=_actor(caller),
            decision=AuditDecision.of(allowed),
            case_id=case.case_id,
            time=svc.clock(),
        ),
    )
    return _json({**case.to_json(), "state": case.state(svc.clock()).value})


def _case_ref(request: web.Request) -> str | None:
    """The path's case id for an audit record, when it is a well-formed id (else None)."""
    raw = request.match_info["case_id"]
    return raw if _ID.match(raw) else None


async def approve_case(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    # The role first, before the case is read: a role that may not approve gets the same
    # 403 whether or not the case exists.
    await _allowed(svc, caller, Action.CASE_APPROVE, "case.refuse", case_id=_case_ref(request))
    case = await _load_case(svc, request)
    now = svc.clock()
    ev: dict[str, Any] = {
        "actor": _actor(caller),
        "time": now,
        "purpose": case.purpose,
        "case_id": case.case_id,
    }
    d = svc.policy.table.decide_approval(caller.role, caller.token_id, case.requested_by)
    if d.allow and case.status is not CaseStatus.PENDING:
        d = Decision(False, f"the case is {case.status.value}, not pending", "cases.state")
    if d.allow and now >= case.expires_at:
        d = Decision(False, "the case expired before approval", "cases.expiry")
    if not d.allow:
        await _deny(svc, AuditEvent(kind="case.refuse", decision=AuditDecision.of(d), **ev), d)
    conversations = await _storage(_case_store(svc).conversations_in_scope(case))
    await _record(
        svc,
        AuditEvent(
            kind="case.approve",
            decision=AuditDecision.of(d),
            conversation_ids=tuple(conversations)[:1000],
            count=len(conversations),
            **ev,
        ),
    )
    # Status, holds and (for a regulatory case) the purpose tags commit together or not at
    # all: an approved case without its holds must never exist, even after a crash.
    if not await _storage(
        _case_store(svc).approve(
            case,
            approved_by=caller.token_id,
            conversation_ids=conversations,
            purposes=("regulatory_request",) if case.purpose == "regulatory_request" else (),
        )
    ):
        _fail(web.HTTPConflict, "another officer changed the case first; reload it")
    approved = await _storage(_case_store(svc).get_case(svc.tenant, case.case_id))
    return _json({**approved.to_json(), "held_conversations": len(conversations)})


async def close_case(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    # The role first, before the case is read (403 whether or not the case exists).
    d = await _allowed(svc, caller, Action.CASE_CLOSE, "case.close", case_id=_case_ref(request))
    case = await _load_case(svc, request)
    now = svc.clock()
    ev: dict[str, Any] = {
        "actor": _actor(caller),
        "time": now,
        "purpose": case.purpose,
        "case_id": case.case_id,
    }
    if case.status not in (CaseStatus.PENDING, CaseStatus.APPROVED):
        _fail(web.HTTPConflict, f"the case is already {case.status.value}")
    await _record(svc, AuditEvent(kind="case.close", decision=AuditDecision.of(d), **ev))
    # The status and the release of the holds commit together (a closed case never keeps
    # holds that nothing would release).
    released = await _storage(_case_store(svc).close_case(case, expected=case.status))
    if released is None:
        _fail(web.HTTPConflict, "another officer changed the case first; reload it")
    return _json({"case_id": case.case_id, "status": "closed", "released_conversations": released})


# ------------------------------------------------------------------------------ erasure


async def post_erasure(request: web.Request) -> web.Response:
    svc = request.app[POLICY_SERVICE]
    caller = await svc.authenticate(request)
    d = await _allowed(svc, caller, Action.ERASURE_CREATE, "erasure")
    doc = await _body(request)
    subject = _ident(doc.get("subject_id"), "subject_id", required=True) or ""
    try:
        report = await erase_subject(
            _case_store(svc),
            svc.sealer,
            svc.audit,
            svc.tenant,
            subject,
            _actor(caller),
            d,
            svc.subject_hasher,
            svc.clock(),
        )
    except AuditUnavailable:
        _fail(web.HTTPServiceUnavailable, "audit trail unavailable; nothing was erased")
    except StorageUnavailable:
        _fail(web.HTTPServiceUnavailable, "storage unavailable; retry the erasure")
    return _json(report.to_json())
